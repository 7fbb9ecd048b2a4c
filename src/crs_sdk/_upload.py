"""The I/O-free half of the evidence uploader: one upload's job, its attempts, and its errors.

Both clients drive the same steps; the local file is `crs_sdk._upload_source`'s, the tus 1.0.0
requests and answers (creation, checksum, expiration) `crs_sdk._tus`'s, and the resume points
`crs_sdk._resume`'s:

1. `open_source` reads the source once for its SHA-256, its size and each chunk's SHA-256 (the
   file's hash must be in the creation request).
2. The resume point (`ResumePoint`, keyed by base URL, report, SHA-256, size and metadata) names
   the upload to continue, if any; otherwise `creation_spec` starts one.
3. `UploadJob.chunk_spec` sends one chunk at the server's offset with
   ``Upload-Checksum: sha256 <base64>``, read from the file as it is sent. After a failure the
   uploader reads the offset again (`head_spec`) and continues from there, so a chunk is never
   blindly resent; `chunk_retry_policy` makes ``460`` retryable as well, and a ``409``
   ``upload_offset_mismatch`` that leaves the offset where it was.
4. The answer that completes the upload names the evidence (``Evidence-Id``); its server-computed
   SHA-256 is checked against the local one (`check_integrity`). A server that holds every byte
   but names no evidence gets one empty ``PATCH`` at the end, which asks it to complete
   (`UploadJob.wants_chunk`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, NoReturn

import attrs

from crs_sdk._api_errors import api_error_from_response
from crs_sdk._arguments import derived_idempotency_key
from crs_sdk._enums import EvidenceRelevance, ProblemCode
from crs_sdk._evidence_metadata import filename_problem, media_type_problem
from crs_sdk._exceptions import APIError, DecodeError, DuplicateEvidenceError, IntegrityError
from crs_sdk._models import Problem
from crs_sdk._models._fields import aware, refusing, single_line
from crs_sdk._tus import patch_spec
from crs_sdk._upload_source import ChunkBody, LocalFile, UploadSource

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from crs_sdk._models import Evidence
    from crs_sdk._requests import RequestSpec
    from crs_sdk._resume import ResumePoint
    from crs_sdk._retry import RetryPolicy
    from crs_sdk._tus import UploadPlan, UploadStatus

__all__ = [
    "ChunkAttempt",
    "EvidenceFile",
    "UploadJob",
    "check_integrity",
    "chunk_retry_policy",
    "ends_upload",
    "find_evidence",
    "fresh_key",
    "is_dead_upload",
    "is_final_conflict",
    "is_offset_mismatch",
    "raise_upload_failure",
    "upload_failure",
]

_CHECKSUM_MISMATCH: Final = 460
_CONFLICT: Final = 409
_GONE: Final = 410
_PROBLEM_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DEAD_UPLOAD: Final = frozenset({404, 410})
_FINAL_STATUSES: Final = frozenset({404, 410, 413, 415})
_FINAL_CODES: Final = frozenset({ProblemCode.INTEGRITY_MISMATCH, ProblemCode.DUPLICATE_EVIDENCE})


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


def chunk_retry_policy(policy: RetryPolicy) -> RetryPolicy:
    """The client's policy for the attempts of one chunk: a ``460`` is worth another attempt, and
    so is a ``409 upload_offset_mismatch`` whose ``HEAD`` shows the offset unchanged (another
    request still holds the upload). Other ``409`` never reach the policy (`is_final_conflict`)."""
    statuses = policy.retry_statuses | {_CHECKSUM_MISMATCH, _CONFLICT}
    return attrs.evolve(policy, retry_statuses=statuses)


def is_offset_mismatch(exc: APIError) -> bool:
    """``409 upload_offset_mismatch``: the server's offset is not the chunk's, or another request
    is still writing to the upload."""
    return exc.status_code == _CONFLICT and exc.code == ProblemCode.UPLOAD_OFFSET_MISMATCH


def is_final_conflict(exc: APIError) -> bool:
    """A ``409`` other than an offset mismatch (``duplicate_evidence``, ``invalid_transition``):
    no attempt at the chunk can succeed, although `chunk_retry_policy` retries ``409``."""
    return exc.status_code == _CONFLICT and not is_offset_mismatch(exc)


def _upload_error(exc: APIError) -> str | None:
    return next((v for k, v in exc.headers.items() if k.lower() == "upload-error"), None)


def _expired(code: str | None) -> bool:
    """No ``Upload-Error``, or ``Upload-Error: upload_expired``: the upload expired."""
    return code is None or code.strip() == ProblemCode.UPLOAD_EXPIRED


def is_dead_upload(exc: APIError) -> bool:
    """``404``, or ``410`` of an expired upload (no ``Upload-Error``, or ``upload_expired``, as
    the contract allows): the upload is gone; start a new one.

    A ``410`` with another ``Upload-Error`` is an upload that failed on its last byte
    (`upload_failure`): a new upload of the same file and metadata would fail the same way.
    """
    return exc.status_code in _DEAD_UPLOAD and _expired(_upload_error(exc))


def upload_failure(exc: APIError) -> APIError | None:
    """The error a ``HEAD`` answer of ``410`` with ``Upload-Error: <code>`` stands for, or ``None``.

    A ``HEAD`` answer has no body, so the header carries the problem code of the failed upload:
    ``integrity_mismatch`` becomes `IntegrityMismatchError`, ``duplicate_evidence``
    `DuplicateEvidenceError`, ``invalid_transition`` `InvalidTransitionError` (the tables of
    `crs_sdk._api_errors`); its status stays ``410`` (final: the resume point goes). A value that
    is no problem code leaves the ``410`` as it is, which is final too.
    """
    code = _upload_error(exc)
    if exc.status_code != _GONE or code is None or _expired(code):
        return None
    code = code.strip()
    if not _PROBLEM_CODE.fullmatch(code):
        return None
    problem = Problem(
        status=_GONE,
        code=ProblemCode(code),
        detail=f"the upload failed when it was completed (Upload-Error: {code})",
        request_id=exc.request_id,
    )
    return api_error_from_response(_GONE, problem, request_id=exc.request_id, headers=exc.headers)


def raise_upload_failure(exc: APIError) -> NoReturn:
    """Raise what an error of ``HEAD`` stands for: `upload_failure` (from ``exc``), else ``exc``."""
    failure = upload_failure(exc)
    if failure is None:
        raise exc
    raise failure from exc


def ends_upload(exc: BaseException) -> bool:
    """Whether an error makes the upload useless, so that its resume point should go.

    Transport errors, 5xx and exhausted retries keep it: a later call resumes. An
    `IntegrityError` (the file changed, or got shorter, since it was read) ends it.
    """
    if isinstance(exc, (DecodeError, IntegrityError)):
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
    #: An empty ``PATCH`` was sent at the end (`wants_chunk`; at most once per call).
    nudged: bool = False

    def wants_chunk(self, status: UploadStatus) -> bool:
        """Whether a ``PATCH`` is due at ``status.offset``: bytes are missing; or the server holds
        every byte but names no evidence (its completion failed, or the body of the last chunk
        was cut off after its last byte), and then one empty ``PATCH`` at the end asks it to
        complete the upload (once per call)."""
        if status.offset < self.plan.size:
            return True
        if status.evidence_id is None and not self.nudged:
            self.nudged = True
            return True
        return False

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
        `IntegrityError` or a `DuplicateEvidenceError`); return whether the upload is useless
        now (`ends_upload`)."""
        if isinstance(exc, (IntegrityError, DuplicateEvidenceError)) and exc.local_sha256 is None:
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
