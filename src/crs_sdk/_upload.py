"""The I/O-free half of the evidence uploader (tus 1.0.0: creation, checksum, expiration).

Both clients drive the same steps; everything here is pure except `open_source`, which reads the
local file (in a worker thread for the async client):

1. `open_source` reads the source once, chunk by chunk, for its SHA-256 and size (the hash must be
   in the creation request). Paths and seekable binary files are read again for the upload;
   a non-seekable stream is copied to a temporary file on disk during that first pass. Memory never
   grows with the file: one chunk buffer at a time.
2. The resume point (`ResumePoint`, keyed by base URL, report, SHA-256 and size) names the upload
   to continue, if any; otherwise `creation_spec` starts one.
3. `patch_spec` sends one chunk at the server's offset with ``Upload-Checksum: sha256 <base64>``.
   After a failure the uploader reads the offset again (`head_spec`) and continues from there, so a
   chunk is never blindly resent; `chunk_retry_policy` makes ``460`` retryable as well.
4. The answer that completes the upload names the evidence (``Evidence-Id``); its server-computed
   SHA-256 is checked against the local one (`check_integrity`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, TypeAlias

import attrs

from crs_sdk._base import RequestSpec, path_segment
from crs_sdk._config import API_PREFIX, ClientConfig
from crs_sdk._converter import format_datetime
from crs_sdk._enums import EvidenceRelevance, ProblemCode
from crs_sdk._exceptions import APIError, DecodeError, IntegrityError
from crs_sdk._models._fields import aware

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Iterator
    from datetime import datetime

    import httpx

    from crs_sdk._models import Evidence
    from crs_sdk._resume import ResumeStore
    from crs_sdk._retry import RetryPolicy

__all__ = [
    "TUS_VERSION",
    "ChunkAttempt",
    "ChunkBody",
    "EvidenceFile",
    "LocalFile",
    "ResumePoint",
    "UploadJob",
    "UploadPlan",
    "UploadSource",
    "UploadStatus",
    "check_chunk_size",
    "check_integrity",
    "check_source",
    "checksum_header",
    "chunk_checksum",
    "chunk_retry_policy",
    "creation_spec",
    "describe_filename",
    "encode_metadata",
    "ends_upload",
    "evidence_page_spec",
    "find_evidence",
    "fresh_key",
    "head_spec",
    "is_dead_upload",
    "open_source",
    "parse_creation",
    "parse_status",
    "patch_spec",
    "resume_key",
    "upload_path",
    "was_replayed",
]

logger = logging.getLogger("crs_sdk")

TUS_VERSION: Final = "1.0.0"
_OFFSET_STREAM: Final = "application/offset+octet-stream"
_FALLBACK_CONTENT_TYPE: Final = "application/octet-stream"
_CHECKSUM_MISMATCH: Final = 460
_DEAD_UPLOAD: Final = frozenset({404, 410})
_FINAL_STATUSES: Final = frozenset({404, 410, 413, 415})
_FINAL_CODES: Final = frozenset({ProblemCode.INTEGRITY_MISMATCH, ProblemCode.DUPLICATE_EVIDENCE})
_MAX_PAGE_SIZE: Final = 100

#: What ``evidence.upload`` accepts: a path, the bytes themselves, or a binary file object.
UploadSource: TypeAlias = "str | os.PathLike[str] | bytes | IO[bytes]"


def _source_repr(source: object) -> str:
    # Evidence may be illegal material: never let its bytes reach a log through a repr.
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return repr(source)


@attrs.frozen(kw_only=True)
class EvidenceFile:
    """A file to attach, with its metadata, for ``reports.create_and_submit``.

    Attributes:
        source: A path, the bytes, or a binary file object (see ``evidence.upload``).
        filename: The name to record; by default the path's (required for bytes).
        content_type: The media type; by default guessed from the file name.
        relevance: Primary (the default) or supporting.
        captured_at: When the evidence was captured (timezone-aware), if known.

    .. versionadded:: 0.1.0
    """

    source: UploadSource = attrs.field(repr=_source_repr)
    filename: str | None = None
    content_type: str | None = None
    relevance: EvidenceRelevance = EvidenceRelevance.PRIMARY
    captured_at: datetime | None = attrs.field(default=None, validator=aware)


# --- the local side -----------------------------------------------------------------------------


def check_chunk_size(chunk_size: object) -> None:
    """Refuse a chunk size that is not a positive integer."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}")


def _is_bytes(source: object) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


def default_filename(source: UploadSource) -> str | None:
    """The file name a source brings with it: a path's, or a named file object's."""
    if isinstance(source, (str, os.PathLike)):
        return Path(os.fspath(source)).name or None
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else None


def _seekable(file: IO[bytes]) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


#: Bytes read from the source at a time.
_BLOCK: Final = 1024 * 1024


class LocalFile:
    """The source after the first pass: its size, its SHA-256 and each chunk's, and its bytes.

    Reads are sequential; use it from one thread at a time.
    """

    def __init__(
        self, *, file: IO[bytes] | None, data: memoryview | None, start: int, owned: bool
    ) -> None:
        self._file = file
        self._data = data
        self._start = start
        self._owned = owned
        self.size = 0
        self.sha256 = ""
        self._chunk_size = 0
        self._chunk_digests: list[bytes] = []

    def _read(self, offset: int, length: int) -> bytes | memoryview:
        """Up to ``length`` bytes at ``offset``; fewer only at the end of the source."""
        if self._data is not None:
            return self._data[offset : offset + length]
        assert self._file is not None  # noqa: S101 - a file or data, never neither
        self._file.seek(self._start + offset)
        return self._file.read(length)

    def measure(self, chunk_size: int) -> None:
        """Read everything once for ``size`` and ``sha256``, and the SHA-256 of every chunk.

        The chunks are those of an upload from offset 0 in steps of ``chunk_size``; their digests
        (32 bytes each) go in the ``Upload-Checksum`` of each ``PATCH``, so that sending reads the
        file without hashing it again. The two hashes run side by side, the chunks' in a second
        thread (hashlib lets go of the GIL): the server is idle during this pass.
        """
        from concurrent.futures import ThreadPoolExecutor  # only uploads need it

        whole = hashlib.sha256()
        chunk = hashlib.sha256()
        in_chunk = size = 0
        digests: list[bytes] = []
        with ThreadPoolExecutor(1, thread_name_prefix="crs-sdk-sha256") as pool:
            while block := self._read(size, min(_BLOCK, chunk_size - in_chunk)):
                whole_done = pool.submit(whole.update, block)
                chunk.update(block)
                in_chunk += len(block)
                size += len(block)
                if in_chunk == chunk_size:
                    digests.append(chunk.digest())
                    chunk, in_chunk = hashlib.sha256(), 0
                whole_done.result()
        if in_chunk:
            digests.append(chunk.digest())
        self.size, self.sha256 = size, whole.hexdigest()
        self._chunk_size, self._chunk_digests = chunk_size, digests

    def blocks(self, offset: int, length: int) -> Iterator[bytes | memoryview]:
        """The ``length`` bytes at ``offset`` (fewer at the end), a block at a time.

        Raises:
            ValueError: the source got shorter since it was measured.
        """
        end = min(offset + length, self.size)
        while offset < end:
            block = self.read_block(offset, end)
            offset += len(block)
            yield block

    def read_block(self, offset: int, end: int) -> bytes | memoryview:
        """The next block of ``[offset, end)``: at most `_BLOCK` bytes, never none.

        Raises:
            ValueError: the source got shorter since it was measured.
        """
        block = self._read(offset, min(_BLOCK, end - offset))
        if not block:
            raise ValueError(f"the source changed while uploading: it ends before byte {end}")
        return block

    def chunk_digest(self, offset: int, length: int, *, reread: bool = False) -> bytes:
        """The SHA-256 of ``length`` bytes at ``offset``: from the first pass where the chunk is
        one of its chunks, else (or with ``reread``) read and hashed now."""
        index, rest = divmod(offset, self._chunk_size or 1)
        expected = min(self._chunk_size, self.size - offset)
        if not reread and not rest and length == expected and index < len(self._chunk_digests):
            return self._chunk_digests[index]
        digest = hashlib.sha256()
        for block in self.blocks(offset, length):
            digest.update(block)
        return digest.digest()

    def close(self) -> None:
        """Close the file if this object opened it (a path, or the spool of a stream)."""
        if self._owned and self._file is not None:
            self._file.close()


class ChunkBody:
    """The body of one ``PATCH``: ``length`` bytes of the source from ``offset``, read as sent.

    Memory holds one block at a time, whatever the chunk size. The async client reads each
    block in a worker thread. Each iteration reads the bytes anew (a resent request).
    """

    def __init__(self, local: LocalFile, offset: int, length: int) -> None:
        self._local = local
        self._offset = offset
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes | memoryview]:
        return self._local.blocks(self._offset, self._length)

    async def __aiter__(self) -> AsyncIterator[bytes | memoryview]:
        import asyncio  # the sync client never needs it

        offset, end = self._offset, self._offset + self._length
        while offset < end:
            block = await asyncio.to_thread(self._local.read_block, offset, end)
            offset += len(block)
            yield block


def _spool(stream: IO[bytes], chunk_size: int) -> IO[bytes]:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - returned, closed by LocalFile.close
    try:
        while chunk := stream.read(chunk_size):
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    return spool


def open_source(source: UploadSource, chunk_size: int) -> LocalFile:
    """Open ``source`` and make the first pass over it (blocking file I/O).

    A non-seekable stream is copied to an anonymous temporary file first, since it must be read
    twice (once for the hash that goes in the creation request, once to send it).

    Raises:
        TypeError: ``source`` is none of a path, bytes or a binary file object.
        OSError: the file cannot be read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        local = LocalFile(file=None, data=memoryview(source).cast("B"), start=0, owned=False)
    elif isinstance(source, (str, os.PathLike)):
        local = LocalFile(file=open(source, "rb"), data=None, start=0, owned=True)  # noqa: SIM115, PTH123
    elif callable(getattr(source, "read", None)):
        if _seekable(source):
            local = LocalFile(file=source, data=None, start=source.tell(), owned=False)
        else:
            local = LocalFile(file=_spool(source, chunk_size), data=None, start=0, owned=True)
    else:
        raise TypeError(
            f"source must be a path, bytes or a binary file object, not {type(source).__name__}"
        )
    try:
        local.measure(chunk_size)
    except BaseException:
        local.close()
        raise
    return local


# --- what is sent -------------------------------------------------------------------------------


def encode_metadata(pairs: Iterable[tuple[str, str]]) -> str:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (tus creation)."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}" for key, value in pairs
    )


def checksum_header(digest: bytes) -> str:
    """``Upload-Checksum`` for a chunk's SHA-256: ``sha256 <base64 digest>`` (tus checksum)."""
    return "sha256 " + base64.b64encode(digest).decode("ascii")


def chunk_checksum(chunk: bytes) -> str:
    """``Upload-Checksum`` for a chunk's bytes."""
    return checksum_header(hashlib.sha256(chunk).digest())


@attrs.frozen(kw_only=True)
class UploadPlan:
    """What is being uploaded, where, and under which metadata."""

    report_id: str
    filename: str
    content_type: str
    relevance: EvidenceRelevance
    captured_at: datetime | None
    sha256: str
    size: int

    @classmethod
    def build(
        cls,
        report_id: str,
        source: UploadSource,
        local: LocalFile,
        *,
        filename: str | None,
        content_type: str | None,
        relevance: EvidenceRelevance | str,
        captured_at: datetime | None,
    ) -> UploadPlan:
        """Check the arguments and settle the defaults (file name, guessed media type).

        Raises:
            ValueError: no file name can be found, or the source is empty (the contract requires
                ``Upload-Length`` of at least 1).
        """
        name = describe_filename(source, filename)
        if local.size == 0:
            raise ValueError(f"{name!r} is empty: the CRS API does not accept empty evidence")
        if content_type is None:
            content_type = mimetypes.guess_type(name)[0] or _FALLBACK_CONTENT_TYPE
        return cls(
            report_id=report_id,
            filename=name,
            content_type=content_type,
            relevance=EvidenceRelevance(relevance),
            captured_at=captured_at,
            sha256=local.sha256,
            size=local.size,
        )

    def metadata(self) -> str:
        """The ``Upload-Metadata`` header."""
        pairs = [
            ("filename", self.filename),
            ("content_type", self.content_type),
            ("sha256", self.sha256),
            ("relevance", str(self.relevance.value)),
        ]
        if self.captured_at is not None:
            pairs.append(("captured_at", format_datetime(self.captured_at)))
        return encode_metadata(pairs)


def describe_filename(source: UploadSource, filename: str | None) -> str:
    """The file name to record: ``filename``, else the source's own.

    Raises:
        ValueError: neither is available (bytes, or an anonymous stream), or it is empty.
    """
    name = filename if filename is not None else default_filename(source)
    if name is None:
        raise ValueError("filename= is required when the source is bytes or an unnamed stream")
    if not name.strip():
        raise ValueError("filename must not be empty")
    return name


def check_source(source: object, captured_at: datetime | None) -> None:
    """Cheap argument checks made before any file is read."""
    if captured_at is not None and captured_at.utcoffset() is None:
        raise ValueError("captured_at must be timezone-aware (e.g. tzinfo=timezone.utc)")
    if not (_is_bytes(source) or isinstance(source, (str, os.PathLike))) and not callable(
        getattr(source, "read", None)
    ):
        raise TypeError(
            f"source must be a path, bytes or a binary file object, not {type(source).__name__}"
        )


def _tus_headers(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Tus-Resumable", TUS_VERSION), *extra)


def creation_spec(plan: UploadPlan, idempotency_key: str) -> RequestSpec:
    """``createEvidenceUpload``: ``POST /reports/{id}/evidence`` with no body."""
    headers = _tus_headers(("Upload-Length", str(plan.size)), ("Upload-Metadata", plan.metadata()))
    return RequestSpec(
        "POST",
        f"/reports/{path_segment(plan.report_id)}/evidence",
        headers=headers,
        idempotency_key=idempotency_key,
    )


def head_spec(path: str) -> RequestSpec:
    """``getUploadOffset``: ``HEAD`` the upload."""
    return RequestSpec("HEAD", path, headers=_tus_headers())


def patch_spec(
    path: str, offset: int, chunk: bytes | ChunkBody, digest: bytes | None = None
) -> RequestSpec:
    """``appendUpload``: one chunk at ``offset``, with its SHA-256 in ``Upload-Checksum``.

    ``chunk`` is the bytes, or a `ChunkBody` read from the file as it is sent, with ``digest``
    its SHA-256 (`LocalFile.chunk_digest`).
    """
    if digest is None:
        if not isinstance(chunk, bytes):
            raise TypeError("a ChunkBody needs its digest")
        digest = hashlib.sha256(chunk).digest()
    headers = _tus_headers(
        ("Content-Type", _OFFSET_STREAM),
        ("Upload-Offset", str(offset)),
        ("Upload-Checksum", checksum_header(digest)),
    )
    return RequestSpec("PATCH", path, headers=headers, content=chunk)


def evidence_page_spec(report_id: str, cursor: str | None, page_size: int | None) -> RequestSpec:
    """``listEvidence``: one page of a report's finished evidence."""
    params: list[tuple[str, str | int]] = []
    if page_size is not None:
        if not 1 <= page_size <= _MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {_MAX_PAGE_SIZE}, got {page_size!r}")
        params.append(("limit", page_size))
    if cursor is not None:
        params.append(("cursor", cursor))
    return RequestSpec("GET", f"/reports/{path_segment(report_id)}/evidence", params=tuple(params))


def chunk_retry_policy(policy: RetryPolicy) -> RetryPolicy:
    """The client's policy for the attempts of one chunk: a ``460`` is worth another attempt."""
    return attrs.evolve(policy, retry_statuses=policy.retry_statuses | {_CHECKSUM_MISMATCH})


# --- what comes back ----------------------------------------------------------------------------


@attrs.frozen
class UploadStatus:
    """The server's view of an upload: bytes held, and the evidence once it is finished."""

    offset: int
    evidence_id: str | None = None


def upload_path(config: ClientConfig, request_path: str, location: str) -> str:
    """The API path (relative to ``/v1``) of an upload URL, resolved against the request URL.

    Raises:
        DecodeError: the URL is not under the client's base URL. The bearer token is only ever
            sent to the configured server, so a ``Location`` elsewhere is refused.
    """
    absolute = urllib.parse.urljoin(config.api_url(request_path), location.strip())
    prefix = config.base_url + API_PREFIX + "/"
    if not absolute.startswith(prefix) or "#" in absolute:
        raise DecodeError(f"the upload URL {absolute!r} is not under {prefix!r}")
    return absolute[len(prefix) - 1 :]


def parse_creation(config: ClientConfig, plan: UploadPlan, response: httpx.Response) -> str:
    """The API path of the upload a creation answer names in ``Location``."""
    location = response.headers.get("location")
    if not location:
        raise DecodeError("the upload creation answer has no Location header")
    return upload_path(config, f"/reports/{path_segment(plan.report_id)}/evidence", location)


def was_replayed(response: httpx.Response) -> bool:
    """Whether the answer is a replay of an earlier request with the same idempotency key."""
    value: str = response.headers.get("idempotent-replayed", "")
    return value.strip().lower() == "true"


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit():
        raise DecodeError(f"the {name} header is not a non-negative integer: {value!r}")
    return int(text)


def parse_status(response: httpx.Response, size: int) -> UploadStatus:
    """The upload's status from a ``HEAD`` or ``PATCH`` answer.

    Raises:
        DecodeError: ``Upload-Offset`` is missing or beyond the file, or ``Upload-Length``
            differs from the local size (the upload is of another file).
    """
    offset = _header_int(response, "upload-offset")
    if offset is None:
        raise DecodeError("the upload answer has no Upload-Offset header")
    length = _header_int(response, "upload-length")
    if (length is not None and length != size) or offset > size:
        raise DecodeError(f"the server's upload does not match the local file of {size} bytes")
    evidence_id = response.headers.get("evidence-id") or None
    return UploadStatus(offset=offset, evidence_id=evidence_id)


def is_dead_upload(exc: APIError) -> bool:
    """``404`` or ``410`` ``upload_expired``: the upload is gone; start a new one."""
    return exc.status_code in _DEAD_UPLOAD


def ends_upload(exc: BaseException) -> bool:
    """Whether an error makes the upload useless, so that its resume point should go.

    Transport errors, 5xx and exhausted retries keep it: a later call resumes.
    """
    if isinstance(exc, DecodeError):
        return True
    if not isinstance(exc, APIError):
        return False
    return exc.status_code in _FINAL_STATUSES or exc.code in _FINAL_CODES


def find_evidence(
    items: Iterable[Evidence], evidence_id: str | None, sha256: str
) -> Evidence | None:
    """The evidence with ``evidence_id``, or (without an id) the one with the file's SHA-256."""
    for item in items:
        matches = item.id == evidence_id if evidence_id is not None else item.sha256 == sha256
        if matches:
            return item
    return None


def check_integrity(evidence: Evidence, local_sha256: str) -> Evidence:
    """Return ``evidence`` if the server's SHA-256 equals the local one.

    Raises:
        IntegrityError: the hashes differ.
    """
    if evidence.sha256.lower() != local_sha256:
        raise IntegrityError(
            f"evidence {evidence.id}: the server's SHA-256 differs from the file's",
            local_sha256=local_sha256,
            server_sha256=evidence.sha256,
        )
    return evidence


# --- the state of one upload --------------------------------------------------------------------


@attrs.define
class ChunkAttempt:
    """The attempts at one chunk: where it starts, and whether that must be asked again."""

    offset: int
    size: int
    stale: bool = False
    #: A ``460`` came back: the file may have changed since the first pass, so the next attempt
    #: hashes the chunk again rather than use the first pass's digest.
    reread: bool = False

    def failed(self, exc: BaseException) -> None:
        """Note a failed attempt: the server's offset must be asked before the next."""
        self.stale = True
        if isinstance(exc, APIError) and exc.status_code == _CHECKSUM_MISMATCH:
            self.reread = True

    def moved(self, status: UploadStatus) -> bool:
        """Whether the server's offset is not where this chunk starts (continue from there)."""
        return status.offset != self.offset or status.evidence_id is not None

    def acknowledged(self, status: UploadStatus) -> UploadStatus:
        """The status after a ``PATCH`` was accepted.

        Raises:
            DecodeError: the server accepted the chunk but its offset did not advance.
        """
        if status.offset <= self.offset and self.offset < self.size:
            raise DecodeError(f"the server accepted a chunk at {self.offset} but did not advance")
        return status


@attrs.define
class UploadJob:
    """One call of ``evidence.upload``: the plan, the local file, and where the upload lives."""

    plan: UploadPlan
    local: LocalFile
    chunk_size: int
    idempotency_key: str
    resume: ResumePoint
    progress: Callable[[int, int], None] | None
    path: str = ""

    def chunk_spec(self, attempt: ChunkAttempt) -> RequestSpec:
        """The ``PATCH`` of the chunk at ``attempt.offset`` (reads the file if it must hash it)."""
        length = min(self.chunk_size, self.plan.size - attempt.offset)
        digest = self.local.chunk_digest(attempt.offset, length, reread=attempt.reread)
        body = ChunkBody(self.local, attempt.offset, length)
        return patch_spec(self.path, attempt.offset, body, digest)

    def report(self, status: UploadStatus) -> None:
        """Tell the progress callback how many bytes the server holds."""
        if self.progress is not None:
            self.progress(status.offset, self.plan.size)


def fresh_key(idempotency_key: str) -> str:
    """The key of a new upload when the one ``idempotency_key`` created is gone (404/410).

    Derived, not random: repeating the whole call derives the same key, so the server replays.
    """
    return f"{idempotency_key}:again"


# --- resume points ------------------------------------------------------------------------------


def resume_key(base_url: str, report_id: str, sha256: str, size: int) -> str:
    """The key of an upload in a resume store; the base URL keeps servers apart."""
    return f"{base_url} {report_id} sha256:{sha256} {size}"


@attrs.define
class ResumePoint:
    """One upload's entry in a resume store (or none); a failing store is logged, not raised."""

    store: ResumeStore | None
    key: str

    def get(self) -> str | None:
        """The stored upload URL, if any."""
        if self.store is None:
            return None
        try:
            return self.store.get(self.key)
        except OSError as exc:
            logger.warning("cannot read the upload resume store: %s", exc)
            return None

    def remember(self, url: str) -> None:
        """Store the upload URL."""
        if self.store is None:
            return
        try:
            self.store.set(self.key, url)
        except OSError as exc:
            logger.warning("cannot write the upload resume store: %s", exc)

    def forget(self) -> None:
        """Drop the entry."""
        if self.store is None:
            return
        try:
            self.store.delete(self.key)
        except OSError as exc:
            logger.warning("cannot write the upload resume store: %s", exc)
