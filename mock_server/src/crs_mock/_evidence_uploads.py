"""`EvidenceUploads`: the tus uploads of one platform, from creation to evidence (or failure).

The rules and rows are `crs_mock._evidence`'s; the bytes are the `BlobStore`'s; this class puts
them in order, so that an acknowledged offset is always durable:

1. `begin_append` checks a ``PATCH`` against the committed state and cuts the partial file back to
   the committed offset (bytes written by a process that died before committing are dropped);
2. the handler streams the body into the file;
3. `commit_append` fsyncs the file, *then* commits the new offset;
4. at the last byte `complete` takes the file's SHA-256 (kept up to date as the chunks arrived;
   after a restart, hashed from disk once), stores the file under it (durably, before the commit)
   and, in one transaction, creates the Evidence, bumps the report and appends the event; an
   upload that a reset or an expiry removed since step 3 is a ``404``/``410`` instead. A chunk
   that brought the upload to its length completes it however its body ended, and an upload left
   full but open (its completion failed) is completed by the next ``HEAD`` or ``PATCH``
   (`complete_full`).

`recover` (run when the platform starts) applies the same repairs to every open upload, and
completes uploads whose last chunk was committed but not yet turned into evidence.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crs_mock._blobs import BlobStore, PartialFile
from crs_mock._evidence import (
    UPLOAD_TTL_MS,
    EvidenceMetadata,
    Upload,
    check_metadata,
    check_room,
    duplicate,
    existing_evidence,
    insert_evidence,
    record_failure,
    require_accepting,
)
from crs_mock._lifecycle import StoredReport, load_report, new_id
from crs_mock._problems import ProblemError, Reply
from crs_mock._tus import http_date, parse_metadata, parse_upload_length
from crs_mock._upload_locks import UploadLocks

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.requests import Request

    from crs_mock._clock import ReviewClock
    from crs_mock._store import Store, Transaction

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_UPLOAD_SIZE",
    "MAX_UPLOAD_SIZE_LIMIT",
    "AgencyFiles",
    "EvidenceUploads",
]

logger = logging.getLogger("crs_mock")

DEFAULT_MAX_UPLOAD_SIZE = 2 * 1024**3
#: The largest ``max_size`` there is: sizes and offsets are SQLite integers (64-bit, signed).
MAX_UPLOAD_SIZE_LIMIT = 2**63 - 1
#: Real seconds a ``PATCH`` body may go without a byte before the server stops waiting for it.
DEFAULT_IDLE_TIMEOUT = 30.0


@dataclass(frozen=True)
class AgencyFiles:
    """An agency's files: its uploads (partial files) and the hashes of its evidence."""

    upload_ids: list[str]
    hashes: list[str]


def _gone(upload_id: str) -> ProblemError:
    return ProblemError(
        "upload_expired", f"The upload {upload_id} expired; start a new one.", status=410
    )


def _removed(upload_id: str) -> ProblemError:
    return ProblemError("not_found", f"The upload {upload_id} was removed meanwhile")


def _require_open(tx: Transaction, upload_id: str) -> None:
    """`404` if a reset deleted the upload, `410` if it expired (under the upload's lock, no
    other state can replace ``open``)."""
    row = tx.one("SELECT state FROM uploads WHERE id = ?", (upload_id,))
    if row is None:
        raise _removed(upload_id)
    if row["state"] != "open":
        raise _gone(upload_id)


class EvidenceUploads:
    """Open, finished and failed uploads, their bytes, and the evidence they become."""

    def __init__(
        self,
        store: Store,
        clock: ReviewClock,
        *,
        blob_dir: str | Path | None,
        max_size: int,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if not 1 <= max_size <= MAX_UPLOAD_SIZE_LIMIT:
            raise ValueError(f"max_size must be 1 to {MAX_UPLOAD_SIZE_LIMIT} bytes, not {max_size}")
        if not idle_timeout > 0:  # also refuses nan; math.inf waits for ever
            raise ValueError(f"idle_timeout must be more than 0 seconds, not {idle_timeout}")
        self.store = store
        self.clock = clock
        self.max_size = max_size
        #: Real seconds a ``PATCH`` body may go without a byte.
        self.idle_timeout = idle_timeout
        self.blobs = BlobStore(blob_dir)
        #: Hashes chunk checksums beside the writes (threads start on the first use).
        self.checksum_threads = ThreadPoolExecutor(4, thread_name_prefix="crs-mock-checksum")
        #: Write received blocks while the next ones arrive (`BlockWriter`).
        self.writer_threads = ThreadPoolExecutor(4, thread_name_prefix="crs-mock-writer")
        #: One request at a time per upload.
        self.locks = UploadLocks()
        self.recover()

    # -- creation ---------------------------------------------------------------------------------

    def create(self, tx: Transaction, agency_id: str, report_id: str, request: Request) -> Reply:
        """The tus creation operation (run by the idempotent write pipeline)."""
        length = parse_upload_length(request, self.max_size)
        header = request.headers.get("upload-metadata")
        metadata = check_metadata(parse_metadata(header))
        report = load_report(tx, report_id, agency_id)
        require_accepting(report)
        now = self.clock.now_ms()
        check_room(tx, report.id, now)
        if (existing := existing_evidence(tx, report.id, metadata.sha256)) is not None:
            raise duplicate(report.id, existing)
        upload_id = new_id("upl")
        expires = now + UPLOAD_TTL_MS
        tx.execute(
            "INSERT INTO uploads (id, agency_id, report_id, length, received, metadata_header, "
            "metadata, state, created_ms, updated_ms, expires_ms) "
            "VALUES (?, ?, ?, ?, 0, ?, ?, 'open', ?, ?, ?)",
            (
                *(upload_id, agency_id, report.id, length, header),
                *(json.dumps(metadata.to_json()), now, now, expires),
            ),
        )
        headers = {"location": f"/v1/uploads/{upload_id}", "upload-expires": http_date(expires)}
        return Reply(201, b"", headers)

    def expiry_header(self, location: str) -> dict[str, str]:
        """``Upload-Expires`` of the upload at `location`, if it is still open (for replays)."""
        upload_id = location.rsplit("/", 1)[-1]
        with self.store.transaction() as tx:
            row = tx.one("SELECT state, expires_ms FROM uploads WHERE id = ?", (upload_id,))
        if row is None or row["state"] != "open":
            return {}
        return {"upload-expires": http_date(row["expires_ms"])}

    # -- reading ----------------------------------------------------------------------------------

    def live(self, agency_id: str, upload_id: str) -> Upload:
        """The agency's upload (`404` otherwise); `410` once expired (marking it so if due)."""
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            row = tx.one("SELECT * FROM uploads WHERE id = ?", (upload_id,))
            if row is None or row["agency_id"] != agency_id:
                raise ProblemError("not_found", f"No upload {upload_id}")
            upload = Upload.from_row(row)
            if upload.state == "open" and upload.expires_ms <= now:
                self._mark_expired(tx, [upload.id], now)
                upload.state = "expired"
        if upload.state == "expired":
            raise _gone(upload_id)
        return upload

    def describe(self, agency_id: str, upload_id: str) -> dict[str, str]:
        """The ``HEAD`` headers; a failed upload is a `410` with ``Upload-Error: <code>``."""
        upload = self.live(agency_id, upload_id)
        if upload.state == "failed":
            problem = upload.failure_problem()
            raise ProblemError(
                "upload_expired",
                problem.detail,
                status=410,
                headers={"Upload-Error": problem.code},
            )
        headers = {
            "Upload-Offset": str(upload.received),
            "Upload-Length": str(upload.length),
            "Upload-Metadata": upload.metadata_header,
        }
        if upload.evidence_id is not None:
            headers["Evidence-Id"] = upload.evidence_id
        else:
            headers["Upload-Expires"] = http_date(upload.expires_ms)
        return headers

    # -- appending --------------------------------------------------------------------------------

    def check_append(
        self, agency_id: str, upload_id: str, offset: int, content_length: int | None
    ) -> Upload:
        """The checks of a ``PATCH`` against the committed state, also made before the request
        takes the upload's lock: a ``PATCH`` refused for its offset, size or the report's status
        must not stop another request receiving a chunk (whose checksummed bytes would go)."""
        upload = self.live(agency_id, upload_id)
        if upload.state == "failed":
            raise upload.failure_problem()
        if upload.state == "finished":
            raise ProblemError(
                "upload_offset_mismatch",
                f"The upload is finished (all {upload.length} bytes; evidence "
                f"{upload.evidence_id}); there is nothing to append.",
            )
        with self.store.transaction() as tx:
            require_accepting(load_report(tx, upload.report_id, None))
        if offset != upload.received:
            raise _offset_mismatch(offset, upload.received)
        if content_length is not None and offset + content_length > upload.length:
            raise ProblemError(
                "payload_too_large",
                f"A chunk of {content_length} bytes at offset {offset} goes beyond "
                f"Upload-Length {upload.length}.",
            )
        return upload

    def begin_append(
        self, agency_id: str, upload_id: str, offset: int, content_length: int | None
    ) -> tuple[Upload, PartialFile]:
        """Check a ``PATCH`` (`check_append`) and open the partial file at the committed offset."""
        upload = self.check_append(agency_id, upload_id, offset, content_length)
        held = self.blobs.reconcile(upload.id, upload.received)
        if held < upload.received:
            self._lost_bytes(upload, held)
            raise _offset_mismatch(offset, held)
        return upload, self.blobs.open_partial(upload.id, upload.received)

    def commit_append(self, upload: Upload, part: PartialFile) -> Upload:
        """Make the chunk durable (fsync), then commit the new offset and expiry; an upload that
        a reset or an expiry removed meanwhile is a ``404``/``410`` (`_require_open`)."""
        part.sync()
        now = self.clock.now_ms()
        try:
            with self.store.transaction() as tx:
                cursor = tx.execute(
                    "UPDATE uploads SET received = received + ?, expires_ms = ?, updated_ms = ? "
                    "WHERE id = ? AND state = 'open' AND received = ?",
                    (part.written, now + UPLOAD_TTL_MS, now, upload.id, part.start),
                )
                if cursor.rowcount != 1:
                    _require_open(tx, upload.id)
                    raise _removed(upload.id)  # open at another offset: not under the lock
        except ProblemError:  # a reset or expiry, which may have deleted its file before this chunk
            self.blobs.discard(upload.id)
            raise
        self.blobs.advance(upload.id, part)
        upload.received = part.start + part.written
        upload.expires_ms = now + UPLOAD_TTL_MS
        return upload

    def complete(self, upload: Upload) -> str:
        """Turn the full upload into evidence and return its id; the failure problem otherwise.

        An upload removed since its last chunk was committed (by a reset: ``404``; expired:
        ``410``) is that problem: its row is checked in the transaction that would turn it into
        evidence, and its file, which goes only once the row went, may be gone before that.
        """
        try:
            actual = self.blobs.hash_partial(upload.id, upload.length)
        except FileNotFoundError:
            with self.store.transaction() as tx:
                _require_open(tx, upload.id)
            raise  # the row is open but its file is gone: not something this server does
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            _require_open(tx, upload.id)  # before `store` (transactions take turns with resets)
            report = load_report(tx, upload.report_id, None)
            failure = _verdict(tx, upload.metadata, report, actual)
            if failure is None:
                self.blobs.store(upload.id, actual)
                evidence_id = insert_evidence(tx, upload, report, now)
            else:
                record_failure(tx, upload, failure, now)
            tx.after_commit(functools.partial(self.blobs.discard, upload.id))
        if failure is not None:
            raise failure
        return evidence_id

    def complete_full(self, agency_id: str, upload_id: str) -> None:
        """Complete the upload if it holds every byte and is still open (its completion failed
        after the last chunk was committed); a failed completion is recorded (`describe` tells
        it). Run under the upload's lock."""
        upload = self.live(agency_id, upload_id)
        if upload.state != "open" or upload.received != upload.length:
            return
        with contextlib.suppress(ProblemError):
            self.complete(upload)

    # -- termination, expiry, recovery ------------------------------------------------------------

    def terminate(self, agency_id: str, upload_id: str) -> None:
        """tus termination: forget an unfinished (or failed) upload and its bytes."""
        upload = self.live(agency_id, upload_id)
        with self.store.transaction() as tx:
            if upload.state == "finished":
                report = load_report(tx, upload.report_id, None)
                raise ProblemError(
                    "invalid_transition",
                    f"The upload is finished: it is evidence {upload.evidence_id} of report "
                    f"{report.id}, which cannot be deleted",
                    current_status=report.status,
                )
            tx.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))
            tx.after_commit(functools.partial(self.blobs.discard, upload.id))

    def sweep(self) -> None:
        """Expire open uploads past their ``Upload-Expires``; drop day-old tombstones."""
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            due = tx.all("SELECT id FROM uploads WHERE state = 'open' AND expires_ms <= ?", (now,))
            self._mark_expired(tx, [row["id"] for row in due], now)
            tx.execute(
                "DELETE FROM uploads WHERE state IN ('expired', 'failed') AND updated_ms <= ?",
                (now - UPLOAD_TTL_MS,),
            )

    def recover(self) -> None:
        """Repair what a crash can leave (see the module docstring); delete stray files."""
        self.sweep()
        with self.store.transaction() as tx:
            rows = tx.all("SELECT * FROM uploads WHERE state = 'open'")
        for upload in map(Upload.from_row, rows):
            held = self.blobs.reconcile(upload.id, upload.received)
            if held < upload.received:
                self._lost_bytes(upload, held)
            elif upload.received == upload.length:
                try:
                    self.complete(upload)
                except ProblemError:
                    logger.info("Upload %s failed on recovery", upload.id)
        self.collect_garbage()

    def collect_garbage(self) -> None:
        """Delete files that no open upload or evidence refers to (at start-up, after a full reset).

        The directory is listed first and the database read after, in the transaction that also
        deletes: a file that appears after the listing is not looked at, and since transactions
        take turns, no upload can finish (and store or refer to a file) in between.
        """
        listed = self.blobs.listing()
        with self.store.transaction() as tx:
            open_ids = [row["id"] for row in tx.all("SELECT id FROM uploads WHERE state = 'open'")]
            hashes = [row["sha256"] for row in tx.all("SELECT DISTINCT sha256 FROM evidence")]
            self.blobs.collect_garbage(listed, open_ids, hashes)

    def agency_files(self, tx: Transaction, agency_id: str) -> AgencyFiles:
        """What the agency's uploads and evidence hold on disk; read before deleting their rows."""
        uploads = tx.all("SELECT id FROM uploads WHERE agency_id = ?", (agency_id,))
        hashes = tx.all("SELECT DISTINCT sha256 FROM evidence WHERE agency_id = ?", (agency_id,))
        return AgencyFiles([row["id"] for row in uploads], [row["sha256"] for row in hashes])

    def forget(self, files: AgencyFiles) -> None:
        """Delete the files of deleted rows (`agency_files`): the uploads' partial files, and each
        stored file that no evidence refers to any more, checked in the transaction that deletes
        it (transactions take turns: no upload can finish with the same bytes meanwhile). Other
        files are not looked at, so another agency's uploads are never touched.
        """
        for upload_id in files.upload_ids:
            self.blobs.discard(upload_id)
        with self.store.transaction() as tx:
            for sha256 in files.hashes:
                if tx.one("SELECT 1 FROM evidence WHERE sha256 = ? LIMIT 1", (sha256,)) is None:
                    self.blobs.delete_blob(sha256)

    def close(self) -> None:
        self.writer_threads.shutdown(wait=True)
        self.checksum_threads.shutdown(wait=True)
        self.blobs.close()

    def _mark_expired(self, tx: Transaction, upload_ids: list[str], now: int) -> None:
        for upload_id in upload_ids:
            tx.execute(
                "UPDATE uploads SET state = 'expired', updated_ms = ? WHERE id = ?",
                (now, upload_id),
            )
            tx.after_commit(functools.partial(self.blobs.discard, upload_id))

    def _lost_bytes(self, upload: Upload, held: int) -> None:
        logger.warning(
            "Upload %s: the database says %d bytes but the file holds %d; resuming from %d",
            upload.id,
            upload.received,
            held,
            held,
        )
        with self.store.transaction() as tx:
            tx.execute("UPDATE uploads SET received = ? WHERE id = ?", (held, upload.id))
        upload.received = held


def _offset_mismatch(offset: int, received: int) -> ProblemError:
    return ProblemError(
        "upload_offset_mismatch",
        f"Upload-Offset is {offset} but the upload holds {received} bytes; resume from {received}.",
        header="Upload-Offset",
    )


def _verdict(
    tx: Transaction, metadata: EvidenceMetadata, report: StoredReport, actual: str
) -> ProblemError | None:
    """Why a full upload cannot become evidence of `report`, or None if it can."""
    if actual != metadata.sha256:
        return ProblemError(
            "integrity_mismatch",
            f"The uploaded file's SHA-256 is {actual}, not the declared {metadata.sha256}; the "
            "upload was discarded and nothing was attached.",
            received_sha256=actual,
        )
    try:
        require_accepting(report)
    except ProblemError as problem:
        return problem
    existing = existing_evidence(tx, report.id, actual)
    return None if existing is None else duplicate(report.id, existing)
