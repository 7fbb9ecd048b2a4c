"""``client.evidence``: resumable evidence uploads (tus 1.0.0) and the evidence list.

The protocol steps are built and parsed in `crs_sdk._upload`; the classes here only send them.

Recovery. A chunk that fails with a transport error, a retryable status (408, 429, 5xx) or
``460`` is never resent blindly: the uploader asks the server for its offset (``HEAD``) and
continues from there, under the client's `RetryPolicy` (``max_attempts``, backoff, ``deadline``
and the retry budget apply to each chunk, counted from the chunk's first attempt; the
``on_retry`` hook and the log line name ``PATCH /v1/uploads/...``). A ``409``
``upload_offset_mismatch`` is resolved the same way, at once.

Resuming. The upload's URL is kept in a `ResumeStore` under (base URL, report, SHA-256, size) until
the upload finishes or fails for good, so that calling ``upload`` again with the same file (in the
same process or a new one) continues where the server stopped. An expired or unknown upload
(``410``/``404``), found when resuming or in the middle of the upload, is forgotten and a new one
started from byte 0 (once per call; ``progress`` then goes back to 0). Without a stored URL, the
same ``idempotency_key`` also leads back to the same upload: the creation request is replayed.

The async client reads the file in a worker thread (`asyncio.to_thread`), the first pass in one
go and then one chunk per call, so a large file never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol

from crs_sdk._base import RequestSpec, decode_json, new_idempotency_key
from crs_sdk._config import DEFAULT_CHUNK_SIZE, NOT_GIVEN, NotGiven
from crs_sdk._enums import EvidenceRelevance, ProblemCode
from crs_sdk._exceptions import APIError, ConflictError, DecodeError, TransportError
from crs_sdk._models import Evidence, Page
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._resume import FileResumeStore, ResumeStore
from crs_sdk._upload import (
    ChunkAttempt,
    ResumePoint,
    UploadJob,
    UploadPlan,
    UploadStatus,
    check_integrity,
    chunk_retry_policy,
    creation_spec,
    evidence_page_spec,
    find_evidence,
    head_spec,
    is_dead_upload,
    parse_creation,
    parse_status,
    resume_key,
    upload_path,
    was_replayed,
)
from crs_sdk._upload_source import (
    LocalFile,
    UploadSource,
    check_chunk_size,
    check_content_type,
    check_source,
    describe_filename,
    media_type_for,
    open_source,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    import httpx

    from crs_sdk._config import ClientConfig
    from crs_sdk._retry import RetryPolicy
    from crs_sdk._retry_call import RetryCall

__all__ = ["AsyncReportEvidence", "ReportEvidence", "RetryFactory"]


class RetryFactory(Protocol):
    """``ClientCore._retry_call``: retry state for an operation that drives its own attempts."""

    def __call__(
        self, method: str, path: str, *, policy: RetryPolicy, safe_to_resend: bool
    ) -> RetryCall: ...


def _resume_store(resume_store: ResumeStore | NotGiven | None) -> ResumeStore | None:
    return FileResumeStore() if isinstance(resume_store, NotGiven) else resume_store


def _evidence_page(response: httpx.Response) -> Page[Evidence]:
    return decode_json(response, Page[Evidence])


def _is_offset_mismatch(exc: APIError) -> bool:
    return isinstance(exc, ConflictError) and exc.code == ProblemCode.UPLOAD_OFFSET_MISMATCH


def _new_job(
    config: ClientConfig,
    report_id: str,
    source: UploadSource,
    local: LocalFile,
    options: _Options,
) -> UploadJob:
    plan = UploadPlan.build(
        report_id,
        source,
        local,
        filename=options.filename,
        content_type=options.content_type,
        relevance=options.relevance,
        captured_at=options.captured_at,
    )
    store = _resume_store(options.resume_store)
    key = resume_key(config.base_url, report_id, plan.sha256, plan.size)
    return UploadJob(
        plan=plan,
        local=local,
        chunk_size=options.chunk_size,
        idempotency_key=options.idempotency_key or new_idempotency_key(),
        resume=ResumePoint(store, key),
        progress=options.progress,
    )


class _Options:
    """The keyword arguments of ``upload``, checked before the file is read."""

    def __init__(
        self,
        source: UploadSource,
        *,
        filename: str | None,
        content_type: str | None,
        relevance: EvidenceRelevance | str,
        captured_at: datetime | None,
        chunk_size: int,
        progress: Callable[[int, int], None] | None,
        resume_store: ResumeStore | NotGiven | None,
        idempotency_key: str | None,
    ) -> None:
        check_chunk_size(chunk_size)
        check_source(source, captured_at)
        check_content_type(content_type)
        media_type_for(describe_filename(source, filename), content_type)
        self.filename = filename
        self.content_type = content_type
        self.relevance = EvidenceRelevance(relevance)
        self.captured_at = captured_at
        self.chunk_size = chunk_size
        self.progress = progress
        self.resume_store = resume_store
        self.idempotency_key = idempotency_key


class ReportEvidence:
    """Evidence of the agency's reports (``client.evidence`` of a `CRSClient`)."""

    def __init__(
        self,
        request: Callable[[RequestSpec], httpx.Response],
        send_once: Callable[[RequestSpec], httpx.Response],
        retry_call: RetryFactory,
        config: ClientConfig,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._request = request
        self._send_once = send_once
        self._retry_call = retry_call
        self._config = config
        self._sleep = sleep

    def list(self, report_id: str, *, page_size: int | None = None) -> SyncPager[Evidence]:
        """The report's finished evidence, oldest first, with the server-computed SHA-256."""
        evidence_page_spec(report_id, None, page_size)  # check the arguments now
        return SyncPager(
            lambda cursor: _evidence_page(
                self._request(evidence_page_spec(report_id, cursor, page_size))
            )
        )

    def upload(
        self,
        report_id: str,
        source: UploadSource,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        relevance: EvidenceRelevance | str = EvidenceRelevance.PRIMARY,
        captured_at: datetime | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Callable[[int, int], None] | None = None,
        resume_store: ResumeStore | NotGiven | None = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> Evidence:
        """Upload a file as evidence of a report (``draft`` or ``info_requested``) and return it.

        The file is streamed in chunks of ``chunk_size`` bytes (memory does not grow with the
        file), its SHA-256 computed on a first pass and checked against the server's at the end.
        An interrupted upload resumes where the server stopped, also from a new process: see the
        module documentation.

        Args:
            report_id: The report.
            source: A path, the bytes, or a binary file object opened for reading (read from its
                current position; it is not closed). A non-seekable stream is copied to a
                temporary file first.
            filename: The name to record; by default the path's or the file object's name
                (required for bytes and unnamed streams). At most 255 characters, without
                control characters or path separators (``/``, ``\\``).
            content_type: The media type (``type/subtype``, parameters allowed); by default
                the one the file name implies. Required when the name implies none (or only
                ``application/octet-stream``, which the platform does not take as evidence).
            relevance: Primary (the default) or supporting.
            captured_at: When the evidence was captured (timezone-aware).
            chunk_size: Bytes per request (8 MiB by default). Memory does not depend on it:
                a chunk is read from the source as it is sent, 1 MiB at a time.
            progress: Called as ``progress(sent, total)`` after each chunk the server
                acknowledged (and once at the start of a resumed upload).
            resume_store: Where resume points are kept; a `FileResumeStore` in the user's cache
                directory by default; ``None`` turns resuming across calls off.
            idempotency_key: The key of the creation request; a fresh one by default.

        Raises:
            ValueError: the source is empty (the API refuses empty files), no file name or one
                the platform refuses, ``content_type`` is not a media type or is missing where
                the name implies none (all but the first before anything is read).
            IntegrityError: the server's SHA-256 of the evidence differs from the file's
                (:class:`~crs_sdk.IntegrityMismatchError`, also a ``ValidationError``, when the
                server refused the finished upload for it: e.g. the file changed meanwhile).
            DuplicateEvidenceError: the report already has this file.
            ValidationError: ``422``.
            RetryError: a chunk could not be sent within the retry policy; calling again
                resumes.
        """
        options = _Options(
            source,
            filename=filename,
            content_type=content_type,
            relevance=relevance,
            captured_at=captured_at,
            chunk_size=chunk_size,
            progress=progress,
            resume_store=resume_store,
            idempotency_key=idempotency_key,
        )
        local = open_source(source, chunk_size)
        try:
            return self._run(_new_job(self._config, report_id, source, local, options))
        finally:
            local.close()

    # --- the protocol ----------------------------------------------------------------------------

    def _run(self, job: UploadJob) -> Evidence:
        try:
            status = self._locate(job)
            if status.offset:
                job.report(status)
            while status.offset < job.plan.size:
                try:
                    status = self._send_chunk(job, status.offset)
                except APIError as exc:
                    if not job.may_start_again(exc):
                        raise
                    status = self._start_again(job)  # expired or gone mid-way
                job.report(status)
            evidence = self._finished(job, status)
        except Exception as exc:
            if job.failed(exc):
                job.resume.forget()
            raise
        job.resume.forget()
        return check_integrity(evidence, job.plan.sha256)

    def _locate(self, job: UploadJob) -> UploadStatus:
        url = job.resume.get()
        if url is not None:
            status = self._resume(job, url)
            if status is not None:
                return status
            job.resume.forget()
        response = self._request(creation_spec(job.plan, job.idempotency_key))
        job.path = parse_creation(self._config, job.plan, response)
        status = UploadStatus(offset=0)
        if was_replayed(response):
            replayed = self._resume(job, self._config.api_url(job.path))
            if replayed is None:  # the upload this key made is gone
                return self._start_again(job)
            status = replayed
        job.resume.remember(self._config.api_url(job.path))
        return status

    def _start_again(self, job: UploadJob) -> UploadStatus:
        """A new upload from byte 0, under a key derived from the call's (once per call)."""
        job.start_again()
        response = self._request(creation_spec(job.plan, job.idempotency_key))
        job.path = parse_creation(self._config, job.plan, response)
        job.resume.remember(self._config.api_url(job.path))
        return UploadStatus(offset=0)

    def _resume(self, job: UploadJob, url: str) -> UploadStatus | None:
        try:
            job.path = upload_path(self._config, "/uploads", url)
            return self._head(job)
        except DecodeError:
            return None
        except APIError as exc:
            if is_dead_upload(exc):
                return None
            raise

    def _head(self, job: UploadJob) -> UploadStatus:
        return parse_status(self._request(head_spec(job.path)), job.plan.size)

    def _send_chunk(self, job: UploadJob, offset: int) -> UploadStatus:
        policy = chunk_retry_policy(self._config.retry)
        retry = self._retry_call("PATCH", job.path, policy=policy, safe_to_resend=True)

        def sleep(seconds: float) -> None:
            self._sleep(retry.sleep_seconds(seconds))

        attempt = ChunkAttempt(offset=offset, size=job.plan.size)
        result: UploadStatus = retry.retrying(sleep)(self._attempt_chunk, job, attempt)
        return result

    def _attempt_chunk(self, job: UploadJob, attempt: ChunkAttempt) -> UploadStatus:
        if attempt.stale:
            status = self._head(job)
            if attempt.moved(status):
                return status
            attempt.stale = False
        try:
            response = self._send_once(job.chunk_spec(attempt))
        except APIError as exc:
            attempt.failed(exc)
            if _is_offset_mismatch(exc):
                status = self._head(job)
                if attempt.moved(status):
                    return status
            raise
        except TransportError as exc:
            attempt.failed(exc)
            raise
        return attempt.acknowledged(parse_status(response, job.plan.size))

    def _finished(self, job: UploadJob, status: UploadStatus) -> Evidence:
        for page in self.list(job.plan.report_id, page_size=100).pages():
            found = find_evidence(page.data, status.evidence_id, job.plan.sha256)
            if found is not None:
                return found
        raise DecodeError(
            f"the upload finished as {status.evidence_id or 'evidence'}, "
            f"but report {job.plan.report_id} does not list it"
        )


class AsyncReportEvidence:
    """Evidence of the agency's reports (``client.evidence`` of an `AsyncCRSClient`)."""

    def __init__(
        self,
        request: Callable[[RequestSpec], Awaitable[httpx.Response]],
        send_once: Callable[[RequestSpec], Awaitable[httpx.Response]],
        retry_call: RetryFactory,
        config: ClientConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._request = request
        self._send_once = send_once
        self._retry_call = retry_call
        self._config = config
        self._sleep = sleep

    def list(self, report_id: str, *, page_size: int | None = None) -> AsyncPager[Evidence]:
        """The report's finished evidence, for ``async for`` (see `ReportEvidence.list`)."""
        evidence_page_spec(report_id, None, page_size)

        async def fetch(cursor: str | None) -> Page[Evidence]:
            return _evidence_page(
                await self._request(evidence_page_spec(report_id, cursor, page_size))
            )

        return AsyncPager(fetch)

    async def upload(
        self,
        report_id: str,
        source: UploadSource,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        relevance: EvidenceRelevance | str = EvidenceRelevance.PRIMARY,
        captured_at: datetime | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Callable[[int, int], None] | None = None,
        resume_store: ResumeStore | NotGiven | None = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> Evidence:
        """Upload a file as evidence of a report (see `ReportEvidence.upload`).

        File reads run in a worker thread; ``progress`` is called on the event loop.
        """
        options = _Options(
            source,
            filename=filename,
            content_type=content_type,
            relevance=relevance,
            captured_at=captured_at,
            chunk_size=chunk_size,
            progress=progress,
            resume_store=resume_store,
            idempotency_key=idempotency_key,
        )
        local = await asyncio.to_thread(open_source, source, chunk_size)
        try:
            return await self._run(_new_job(self._config, report_id, source, local, options))
        finally:
            await asyncio.to_thread(local.close)

    # --- the protocol ----------------------------------------------------------------------------

    async def _run(self, job: UploadJob) -> Evidence:
        # The resume store is file I/O (with a lock): kept off the event loop like the reads.
        try:
            status = await self._locate(job)
            if status.offset:
                job.report(status)
            while status.offset < job.plan.size:
                try:
                    status = await self._send_chunk(job, status.offset)
                except APIError as exc:
                    if not job.may_start_again(exc):
                        raise
                    status = await self._start_again(job)  # expired or gone mid-way
                job.report(status)
            evidence = await self._finished(job, status)
        except Exception as exc:
            if job.failed(exc):
                await asyncio.to_thread(job.resume.forget)
            raise
        await asyncio.to_thread(job.resume.forget)
        return check_integrity(evidence, job.plan.sha256)

    async def _locate(self, job: UploadJob) -> UploadStatus:
        url = await asyncio.to_thread(job.resume.get)
        if url is not None:
            status = await self._resume(job, url)
            if status is not None:
                return status
            await asyncio.to_thread(job.resume.forget)
        response = await self._request(creation_spec(job.plan, job.idempotency_key))
        job.path = parse_creation(self._config, job.plan, response)
        status = UploadStatus(offset=0)
        if was_replayed(response):
            replayed = await self._resume(job, self._config.api_url(job.path))
            if replayed is None:  # the upload this key made is gone
                return await self._start_again(job)
            status = replayed
        await asyncio.to_thread(job.resume.remember, self._config.api_url(job.path))
        return status

    async def _start_again(self, job: UploadJob) -> UploadStatus:
        """A new upload from byte 0 (see `ReportEvidence._start_again`)."""
        job.start_again()
        response = await self._request(creation_spec(job.plan, job.idempotency_key))
        job.path = parse_creation(self._config, job.plan, response)
        await asyncio.to_thread(job.resume.remember, self._config.api_url(job.path))
        return UploadStatus(offset=0)

    async def _resume(self, job: UploadJob, url: str) -> UploadStatus | None:
        try:
            job.path = upload_path(self._config, "/uploads", url)
            return await self._head(job)
        except DecodeError:
            return None
        except APIError as exc:
            if is_dead_upload(exc):
                return None
            raise

    async def _head(self, job: UploadJob) -> UploadStatus:
        return parse_status(await self._request(head_spec(job.path)), job.plan.size)

    async def _send_chunk(self, job: UploadJob, offset: int) -> UploadStatus:
        policy = chunk_retry_policy(self._config.retry)
        retry = self._retry_call("PATCH", job.path, policy=policy, safe_to_resend=True)

        async def sleep(seconds: float) -> None:
            await self._sleep(retry.sleep_seconds(seconds))

        attempt = ChunkAttempt(offset=offset, size=job.plan.size)
        result: UploadStatus = await retry.async_retrying(sleep)(self._attempt_chunk, job, attempt)
        return result

    async def _attempt_chunk(self, job: UploadJob, attempt: ChunkAttempt) -> UploadStatus:
        if attempt.stale:
            status = await self._head(job)
            if attempt.moved(status):
                return status
            attempt.stale = False
        spec = await asyncio.to_thread(job.chunk_spec, attempt)
        try:
            response = await self._send_once(spec)
        except APIError as exc:
            attempt.failed(exc)
            if _is_offset_mismatch(exc):
                status = await self._head(job)
                if attempt.moved(status):
                    return status
            raise
        except TransportError as exc:
            attempt.failed(exc)
            raise
        return attempt.acknowledged(parse_status(response, job.plan.size))

    async def _finished(self, job: UploadJob, status: UploadStatus) -> Evidence:
        async for page in self.list(job.plan.report_id, page_size=100).pages():
            found = find_evidence(page.data, status.evidence_id, job.plan.sha256)
            if found is not None:
                return found
        raise DecodeError(
            f"the upload finished as {status.evidence_id or 'evidence'}, "
            f"but report {job.plan.report_id} does not list it"
        )
