"""The tus driver behind ``client.evidence.upload``: it sends the steps `crs_sdk._tus` builds.

Recovery. A chunk that fails with a transport error, a retryable status (408, 429, 5xx) or
``460`` is never resent blindly: the uploader asks the server for its offset (``HEAD``) and
continues from there, under the client's `RetryPolicy` (``max_attempts``, backoff, ``deadline``
and the retry budget apply to each chunk, counted from the chunk's first attempt; the
``on_retry`` hook and the log line name ``PATCH /v1/uploads/...``). A ``409``
``upload_offset_mismatch`` is resolved the same way: at once if the ``HEAD`` shows that the
server's offset moved; if it did not (another request, such as the stalled connection of a client
that crashed mid-chunk, still holds the upload), it is a failed attempt like a ``503``, retried
after a pause under the same policy (and raised as `ConflictError`, the resume point kept, once
the attempts run out). Any other ``409`` is final.

Resuming. The upload's URL is kept in a `ResumeStore` under (base URL, report, SHA-256, size, and
the SHA-256 of ``Upload-Metadata``) until the upload finishes or fails for good, so that calling
``upload`` again with the same file and metadata (in the same process or a new one) continues
where the server stopped; other metadata is another upload. An expired or unknown upload
(``404``, or ``410`` without ``Upload-Error`` or with ``upload_expired``), found when resuming or
in the middle of the upload, is forgotten and a new one started from byte 0 (once per call;
``progress`` then goes back to 0). An upload that failed on its last byte (``410`` with another
``Upload-Error: <code>``, e.g. after the answer to the last chunk was lost) is forgotten and its
problem raised (`raise_upload_failure`): a new upload under the same SHA-256 would fail the same
way. Without a stored URL, the same ``idempotency_key`` also leads back to the same upload: the
creation request is replayed.

`Uploader` and `AsyncUploader` are the same steps, doing blocking and async I/O; the async one
reads the file and the resume store in worker threads, one chunk per call.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol

from crs_sdk._exceptions import APIError, DecodeError, TransportError
from crs_sdk._tus import (
    UploadStatus,
    creation_spec,
    head_spec,
    parse_creation,
    parse_status,
    upload_path,
    was_replayed,
)
from crs_sdk._upload import (
    ChunkAttempt,
    UploadJob,
    check_integrity,
    chunk_retry_policy,
    find_evidence,
    is_dead_upload,
    is_final_conflict,
    is_offset_mismatch,
    raise_upload_failure,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from crs_sdk._config import ClientConfig
    from crs_sdk._models import Evidence
    from crs_sdk._requests import RequestSpec
    from crs_sdk._resources._pagination import AsyncPager, SyncPager
    from crs_sdk._retry import RetryPolicy
    from crs_sdk._retry_call import RetryCall

__all__ = ["AsyncUploader", "RetryFactory", "Uploader"]


class RetryFactory(Protocol):
    """``ClientCore._retry_call``: retry state for an operation that drives its own attempts."""

    def __call__(
        self, method: str, path: str, *, policy: RetryPolicy, safe_to_resend: bool
    ) -> RetryCall: ...


class Uploader:
    """Runs an `UploadJob` to its evidence with a `CRSClient`'s requests."""

    def __init__(
        self,
        request: Callable[[RequestSpec], httpx.Response],
        send_once: Callable[[RequestSpec, RetryCall], httpx.Response],
        retry_call: RetryFactory,
        config: ClientConfig,
        *,
        listing: Callable[[str], SyncPager[Evidence]],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._request = request
        self._send_once = send_once
        self._retry_call = retry_call
        self._config = config
        self._listing = listing
        self._sleep = sleep

    def run(self, job: UploadJob) -> Evidence:
        try:
            status = self._locate(job)
            if status.offset:
                job.report(status)
            while job.wants_chunk(status):
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
        try:
            response = self._request(head_spec(job.path))
        except APIError as exc:
            raise_upload_failure(exc)
        return parse_status(response, job.plan.size)

    def _send_chunk(self, job: UploadJob, offset: int) -> UploadStatus:
        policy = chunk_retry_policy(self._config.retry)
        retry = self._retry_call("PATCH", job.path, policy=policy, safe_to_resend=True)

        def sleep(seconds: float) -> None:
            self._sleep(retry.sleep_seconds(seconds))

        attempt = ChunkAttempt(offset=offset, size=job.plan.size)
        outcome: UploadStatus | APIError = retry.retrying(sleep)(
            self._attempt_chunk, job, attempt, retry
        )
        if isinstance(outcome, APIError):
            raise outcome
        return outcome

    def _attempt_chunk(
        self, job: UploadJob, attempt: ChunkAttempt, retry: RetryCall
    ) -> UploadStatus | APIError:
        """One attempt; a final ``409`` is returned, kept from the chunk policy's retries."""
        if attempt.stale:
            status = self._head(job)
            if attempt.moved(status):
                return status
            attempt.stale = False
        try:
            response = self._send_once(job.chunk_spec(attempt), retry)
        except APIError as exc:
            attempt.failed(exc)
            if is_final_conflict(exc):
                return exc
            if is_offset_mismatch(exc):
                status = self._head(job)
                if attempt.moved(status):
                    return status
            raise  # an unchanged offset after a 409: the upload is busy, retried after a pause
        except TransportError as exc:
            attempt.failed(exc)
            raise
        return attempt.acknowledged(parse_status(response, job.plan.size))

    def _finished(self, job: UploadJob, status: UploadStatus) -> Evidence:
        for page in self._listing(job.plan.report_id).pages():
            found = find_evidence(page.data, status.evidence_id, job.plan.sha256)
            if found is not None:
                return found
        raise DecodeError(
            f"the upload finished as {status.evidence_id or 'evidence'}, "
            f"but report {job.plan.report_id} does not list it"
        )


class AsyncUploader:
    """Runs an `UploadJob` to its evidence with an `AsyncCRSClient`'s requests."""

    def __init__(
        self,
        request: Callable[[RequestSpec], Awaitable[httpx.Response]],
        send_once: Callable[[RequestSpec, RetryCall], Awaitable[httpx.Response]],
        retry_call: RetryFactory,
        config: ClientConfig,
        *,
        listing: Callable[[str], AsyncPager[Evidence]],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._request = request
        self._send_once = send_once
        self._retry_call = retry_call
        self._config = config
        self._listing = listing
        self._sleep = sleep

    async def run(self, job: UploadJob) -> Evidence:
        # The resume store is file I/O (with a lock): kept off the event loop like the reads.
        try:
            status = await self._locate(job)
            if status.offset:
                job.report(status)
            while job.wants_chunk(status):
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
        """A new upload from byte 0 (see `Uploader._start_again`)."""
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
        try:
            response = await self._request(head_spec(job.path))
        except APIError as exc:
            raise_upload_failure(exc)
        return parse_status(response, job.plan.size)

    async def _send_chunk(self, job: UploadJob, offset: int) -> UploadStatus:
        policy = chunk_retry_policy(self._config.retry)
        retry = self._retry_call("PATCH", job.path, policy=policy, safe_to_resend=True)

        async def sleep(seconds: float) -> None:
            await self._sleep(retry.sleep_seconds(seconds))

        attempt = ChunkAttempt(offset=offset, size=job.plan.size)
        outcome: UploadStatus | APIError = await retry.async_retrying(sleep)(
            self._attempt_chunk, job, attempt, retry
        )
        if isinstance(outcome, APIError):
            raise outcome
        return outcome

    async def _attempt_chunk(
        self, job: UploadJob, attempt: ChunkAttempt, retry: RetryCall
    ) -> UploadStatus | APIError:
        """One attempt (see `Uploader._attempt_chunk`)."""
        if attempt.stale:
            status = await self._head(job)
            if attempt.moved(status):
                return status
            attempt.stale = False
        spec = await asyncio.to_thread(job.chunk_spec, attempt)
        try:
            response = await self._send_once(spec, retry)
        except APIError as exc:
            attempt.failed(exc)
            if is_final_conflict(exc):
                return exc
            if is_offset_mismatch(exc):
                status = await self._head(job)
                if attempt.moved(status):
                    return status
            raise
        except TransportError as exc:
            attempt.failed(exc)
            raise
        return attempt.acknowledged(parse_status(response, job.plan.size))

    async def _finished(self, job: UploadJob, status: UploadStatus) -> Evidence:
        async for page in self._listing(job.plan.report_id).pages():
            found = find_evidence(page.data, status.evidence_id, job.plan.sha256)
            if found is not None:
                return found
        raise DecodeError(
            f"the upload finished as {status.evidence_id or 'evidence'}, "
            f"but report {job.plan.report_id} does not list it"
        )
