"""The I/O-free half of the evidence uploader (tus 1.0.0: creation, checksum, expiration).

Both clients drive the same steps; the local file is `crs_sdk._upload_source`'s:

1. `open_source` reads the source once for its SHA-256, its size and each chunk's SHA-256 (the
   file's hash must be in the creation request).
2. The resume point (`ResumePoint`, keyed by base URL, report, SHA-256 and size) names the upload
   to continue, if any; otherwise `creation_spec` starts one.
3. `UploadJob.chunk_spec` sends one chunk at the server's offset with
   ``Upload-Checksum: sha256 <base64>``, read from the file as it is sent. After a failure the
   uploader reads the offset again (`head_spec`) and continues from there, so a chunk is never
   blindly resent; `chunk_retry_policy` makes ``460`` retryable as well.
4. The answer that completes the upload names the evidence (``Evidence-Id``); its server-computed
   SHA-256 is checked against the local one (`check_integrity`).
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from typing import TYPE_CHECKING, Final

import attrs

from crs_sdk._base import RequestSpec, derived_idempotency_key, path_segment
from crs_sdk._config import API_PREFIX, ClientConfig
from crs_sdk._converter import format_datetime
from crs_sdk._enums import EvidenceRelevance, ProblemCode
from crs_sdk._exceptions import APIError, DecodeError, IntegrityError
from crs_sdk._models._fields import NO_UTF8, SURROGATE, aware, refusing, single_line
from crs_sdk._upload_source import (
    ChunkBody,
    LocalFile,
    UploadSource,
    describe_filename,
    filename_problem,
    media_type_for,
    media_type_problem,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    import httpx

    from crs_sdk._models import Evidence
    from crs_sdk._resume import ResumeStore
    from crs_sdk._retry import RetryPolicy

__all__ = [
    "TUS_VERSION",
    "ChunkAttempt",
    "EvidenceFile",
    "ResumePoint",
    "UploadJob",
    "UploadPlan",
    "UploadStatus",
    "check_integrity",
    "checksum_header",
    "chunk_retry_policy",
    "creation_spec",
    "encode_metadata",
    "ends_upload",
    "evidence_page_spec",
    "evidence_path",
    "find_evidence",
    "fresh_key",
    "head_spec",
    "is_dead_upload",
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
_CHECKSUM_MISMATCH: Final = 460
_DEAD_UPLOAD: Final = frozenset({404, 410})
_FINAL_STATUSES: Final = frozenset({404, 410, 413, 415})
_FINAL_CODES: Final = frozenset({ProblemCode.INTEGRITY_MISMATCH, ProblemCode.DUPLICATE_EVIDENCE})
_MAX_PAGE_SIZE: Final = 100


def _source_repr(source: object) -> str:
    # Evidence may be illegal material: never let its bytes reach a log through a repr.
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return repr(source)


@attrs.frozen
class EvidenceFile:
    """A file to attach, with its metadata, for ``reports.create_and_submit``.

    ``EvidenceFile(path, relevance=EvidenceRelevance.SUPPORTING)``: the source may be given by
    position, everything else by keyword.

    Attributes:
        source: A path, the bytes, or a binary file object (see ``evidence.upload``).
        filename: The name to record; by default the path's (required for bytes). At most 255
            characters, without control characters or path separators.
        content_type: The media type; by default guessed from the file name.
        relevance: Primary (the default) or supporting.
        captured_at: When the evidence was captured (timezone-aware), if known.

    A ``filename`` or ``content_type`` the platform would refuse raises `InvalidFieldError` here.

    .. versionadded:: 0.1.0
    """

    source: UploadSource = attrs.field(repr=_source_repr)
    filename: str | None = attrs.field(
        default=None, kw_only=True, validator=refusing(filename_problem)
    )
    content_type: str | None = attrs.field(
        default=None, kw_only=True, validator=refusing(media_type_problem)
    )
    relevance: EvidenceRelevance = attrs.field(
        default=EvidenceRelevance.PRIMARY, kw_only=True, validator=single_line
    )
    captured_at: datetime | None = attrs.field(default=None, validator=aware, kw_only=True)


# --- what is sent -------------------------------------------------------------------------------


def encode_metadata(pairs: Iterable[tuple[str, str]]) -> str:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (tus creation)."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}" for key, value in pairs
    )


def checksum_header(digest: bytes) -> str:
    """``Upload-Checksum`` for a chunk's SHA-256: ``sha256 <base64 digest>`` (tus checksum)."""
    return "sha256 " + base64.b64encode(digest).decode("ascii")


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
            ValueError: no file name can be found, no media type (see `media_type_for`), the
                source is empty (the contract requires ``Upload-Length`` of at least 1), or
                ``relevance`` holds an unpaired surrogate (it could not be sent).
        """
        _check_relevance(relevance)
        name = describe_filename(source, filename)
        if local.size == 0:
            raise ValueError(f"{name!r} is empty: the CRS API does not accept empty evidence")
        content_type = media_type_for(name, content_type)
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


def _check_relevance(relevance: EvidenceRelevance | str) -> None:
    found = SURROGATE.search(relevance)  # a member, or a str the SDK does not know
    if found is not None:
        where = f"U+{ord(found.group()):04X} at index {found.start()}"
        raise ValueError(f"relevance {NO_UTF8}; found {where}")


def _tus_headers(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Tus-Resumable", TUS_VERSION), *extra)


def evidence_path(report_id: str) -> str:
    """``/reports/{report_id}/evidence``.

    Raises:
        TypeError: ``report_id`` is not a ``str``.
        ValueError: ``report_id`` is empty or cannot be sent in a URL (see `path_segment`).
    """
    return f"/reports/{path_segment(report_id, 'report_id')}/evidence"


def creation_spec(plan: UploadPlan, idempotency_key: str) -> RequestSpec:
    """``createEvidenceUpload``: ``POST /reports/{id}/evidence`` with no body."""
    headers = _tus_headers(("Upload-Length", str(plan.size)), ("Upload-Metadata", plan.metadata()))
    return RequestSpec(
        "POST",
        evidence_path(plan.report_id),
        headers=headers,
        idempotency_key=idempotency_key,
    )


def head_spec(path: str) -> RequestSpec:
    """``getUploadOffset``: ``HEAD`` the upload."""
    return RequestSpec("HEAD", path, headers=_tus_headers())


def patch_spec(path: str, offset: int, chunk: ChunkBody, digest: bytes) -> RequestSpec:
    """``appendUpload``: one chunk at ``offset``, read from the file as it is sent, with its
    SHA-256 (``digest``, `LocalFile.chunk_digest`) in ``Upload-Checksum``."""
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
    return RequestSpec("GET", evidence_path(report_id), params=tuple(params))


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
    return upload_path(config, evidence_path(plan.report_id), location)


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
    #: A new upload was started because the first one was gone (at most once per call).
    started_again: bool = False

    def may_start_again(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the upload is gone (``404``, ``410``) and none was started again
        yet in this call: then a new one starts from byte 0."""
        return isinstance(exc, APIError) and is_dead_upload(exc) and not self.started_again

    def start_again(self) -> None:
        """Switch to the key of a new upload (`fresh_key`); at most once per call."""
        self.started_again = True
        self.idempotency_key = fresh_key(self.idempotency_key)

    def chunk_spec(self, attempt: ChunkAttempt) -> RequestSpec:
        """The ``PATCH`` of the chunk at ``attempt.offset`` (reads the file if it must hash it)."""
        length = min(self.chunk_size, self.plan.size - attempt.offset)
        digest = self.local.chunk_digest(attempt.offset, length, reread=attempt.reread)
        body = ChunkBody(self.local, attempt.offset, length)
        return patch_spec(self.path, attempt.offset, body, digest)

    def failed(self, exc: BaseException) -> bool:
        """Add what the local side knows to ``exc`` (the file's SHA-256, on an
        `IntegrityError`); return whether the upload is useless now (`ends_upload`)."""
        if isinstance(exc, IntegrityError) and exc.local_sha256 is None:
            exc.local_sha256 = self.plan.sha256
        return ends_upload(exc)

    def report(self, status: UploadStatus) -> None:
        """Tell the progress callback how many bytes the server holds."""
        if self.progress is not None:
            self.progress(status.offset, self.plan.size)


def fresh_key(idempotency_key: str) -> str:
    """The key of a new upload when the one ``idempotency_key`` created is gone (404/410).

    Derived, not random: repeating the whole call derives the same key, so the server replays.
    Never longer than 255 characters (see `derived_idempotency_key`), even from a key of 255.
    """
    return derived_idempotency_key(idempotency_key, "again")


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
