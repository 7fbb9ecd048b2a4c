"""``client.evidence``: resumable evidence uploads (tus 1.0.0) and the evidence list.

``upload`` checks its arguments before the file is read, makes the first pass over the file
(`crs_sdk._upload_source`), and hands the job to the tus driver (`crs_sdk._resources._uploader`:
recovery after a failed chunk, resuming across calls and processes); the protocol steps are built
and parsed in `crs_sdk._tus`, and the job's state is `crs_sdk._upload`'s. The async client makes
the first pass in a worker thread, so a large file never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading
import time
from typing import TYPE_CHECKING

from crs_sdk._arguments import (
    check_idempotency_key,
    derived_idempotency_key,
    new_idempotency_key,
)
from crs_sdk._config import DEFAULT_CHUNK_SIZE, NOT_GIVEN, NotGiven
from crs_sdk._enums import EvidenceRelevance
from crs_sdk._evidence_metadata import (
    check_content_type,
    check_source,
    describe_filename,
    media_type_for,
)
from crs_sdk._file_claims import in_own_thread
from crs_sdk._models import Evidence, Page
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._resources._uploader import AsyncUploader, Uploader
from crs_sdk._responses import decode_json
from crs_sdk._resume import FileResumeStore, ResumePoint, ResumeStore, resume_key
from crs_sdk._tus import UploadPlan, check_relevance, evidence_page_spec, evidence_path
from crs_sdk._upload import UploadJob
from crs_sdk._upload_source import LocalFile, UploadSource, check_chunk_size, open_source

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    import httpx

    from crs_sdk._config import ClientConfig
    from crs_sdk._requests import RequestSpec
    from crs_sdk._resources._uploader import RetryFactory
    from crs_sdk._retry_call import RetryCall
    from crs_sdk._upload import EvidenceFile

__all__ = ["AsyncReportEvidence", "ReportEvidence"]


#: Evidence per page when looking up the evidence an upload made.
_LISTING_PAGE = 100


def _resume_store(resume_store: ResumeStore | NotGiven | None) -> ResumeStore | None:
    return FileResumeStore() if isinstance(resume_store, NotGiven) else resume_store


def _evidence_page(response: httpx.Response) -> Page[Evidence]:
    return decode_json(response, Page[Evidence])


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
    key = resume_key(config.base_url, report_id, plan.sha256, plan.size, metadata=plan.metadata())
    creation_key = options.idempotency_key or new_idempotency_key()
    if options.key_per_content:
        creation_key = _creation_key(creation_key, plan)
    return UploadJob(
        plan=plan,
        local=local,
        chunk_size=options.chunk_size,
        idempotency_key=creation_key,
        resume=ResumePoint(store, key),
        progress=options.progress,
    )


def _creation_key(step_key: str, plan: UploadPlan) -> str:
    """The creation key of a file of ``create_and_submit``: the step's key and a digest of what
    the upload records (its content's SHA-256 and size, its metadata), never of where it goes
    (another spelling of the platform's address must replay the same creation). Calling again
    with the same file and metadata replays its creation; a file corrected after a refusal (its
    media type, its bytes) is a new creation, where the step's key alone was refused as reused
    for 24 hours."""
    recorded = f"{plan.sha256} {plan.size} {plan.metadata()}"
    digest = hashlib.sha256(recorded.encode("utf-8")).hexdigest()[:32]
    return derived_idempotency_key(step_key, digest)


class _Opening:
    """The first pass of an async upload, in a worker thread that its caller may stop waiting
    for (cancelled): a thread cannot be stopped, so it is told to stop reading."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._local: LocalFile | None = None

    def run(self, source: UploadSource, chunk_size: int) -> LocalFile:
        """`open_source`, in the worker thread; what it opened is closed if the caller is gone."""
        local = open_source(source, chunk_size, stop=self._stop)
        with self._lock:
            handed = not self._stop.is_set()
            if handed:
                self._local = local
        if not handed:
            local.close()
        return local

    def abandon(self) -> None:
        """The caller was cancelled: the pass stops after the block it reads (then closes what
        it opened, or puts the caller's file object back); or, if it had ended, that is done now."""
        with self._lock:
            self._stop.set()
            local, self._local = self._local, None
        if local is not None:
            local.close()  # never waits (see LocalFile.close)


async def _open_in_thread(source: UploadSource, chunk_size: int) -> LocalFile:
    """`open_source` in a thread of its own (`in_own_thread`: it may wait for a file object another
    upload reads), stopped (not left reading) if the caller is cancelled.

    Nothing here depends on the event loop running on: the thread closes what it opened itself.
    """
    opening = _Opening()
    try:
        return await in_own_thread(opening.run, source, chunk_size)
    except asyncio.CancelledError:
        opening.abandon()
        raise


def _check_progress(progress: object) -> None:
    """A ``progress`` callback is called, never awaited: refuse what would never run."""
    if progress is None:
        return
    if not callable(progress):
        raise TypeError(f"progress must be callable, not {type(progress).__name__}")
    if inspect.iscoroutinefunction(progress):
        raise TypeError(
            "progress must be a plain function: it is called, not awaited, so an async one "
            "would never run"
        )


class _Options:
    """The keyword arguments of ``upload``, checked before the file is read."""

    def __init__(
        self,
        report_id: str,
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
        key_per_content: bool = False,
    ) -> None:
        evidence_path(report_id)
        check_idempotency_key(idempotency_key)
        check_chunk_size(chunk_size)
        _check_progress(progress)
        check_source(source, captured_at)
        check_content_type(content_type)
        check_relevance(relevance)
        media_type_for(describe_filename(source, filename), content_type)
        self.filename = filename
        self.content_type = content_type
        self.relevance = EvidenceRelevance(relevance)
        self.captured_at = captured_at
        self.chunk_size = chunk_size
        self.progress = progress
        self.resume_store = resume_store
        self.idempotency_key = idempotency_key
        #: The creation's key is derived from ``idempotency_key`` and the upload's content and
        #: metadata (`_creation_key`), not ``idempotency_key`` itself.
        self.key_per_content = key_per_content

    @classmethod
    def for_step(
        cls,
        report_id: str,
        file: EvidenceFile,
        *,
        step_key: str,
        resume_store: ResumeStore | NotGiven | None,
    ) -> _Options:
        """The options of one file of ``reports.create_and_submit`` (`EvidenceFile`)."""
        return cls(
            report_id,
            file.source,
            filename=file.filename,
            content_type=file.content_type,
            relevance=file.relevance,
            captured_at=file.captured_at,
            chunk_size=DEFAULT_CHUNK_SIZE,
            progress=None,
            resume_store=resume_store,
            idempotency_key=step_key,
            key_per_content=True,
        )


class ReportEvidence:
    """Evidence of the agency's reports (``client.evidence`` of a `CRSClient`)."""

    def __init__(
        self,
        request: Callable[[RequestSpec], httpx.Response],
        send_once: Callable[[RequestSpec, RetryCall], httpx.Response],
        retry_call: RetryFactory,
        config: ClientConfig,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._request = request
        self._config = config
        self._uploader = Uploader(
            request,
            send_once,
            retry_call,
            config,
            listing=lambda report_id: self.list(report_id, page_size=_LISTING_PAGE),
            sleep=sleep,
        )

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
        An interrupted upload resumes where the server stopped, also from a new process (see
        :doc:`/how-to/upload-large-files`).

        Args:
            report_id: The report.
            source: A path, the bytes, or a binary file object opened for reading (read from its
                current position; it is not closed). A seekable file object is put back at that
                position when the call returns or raises, so that calling again with it resumes
                the same bytes. A non-seekable stream is copied to a temporary file first. A file
                object is read by one upload at a time, process-wide: a call with an object that
                another upload is reading waits until it is put back (a call from that upload's
                own ``progress`` callback raises `ValueError` instead: it would wait for ever).
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
                acknowledged (and once at the start of a resumed upload). A plain function,
                called in the uploading thread (on the event loop for `AsyncCRSClient`): keep
                it quick. An ``async def`` function is refused (`TypeError`): it would never
                run.
            resume_store: Where resume points are kept; a `FileResumeStore` in the user's cache
                directory by default; ``None`` turns resuming across calls off.
            idempotency_key: The key of the creation request; a fresh one by default.

        Raises:
            ValueError: ``report_id`` is empty or cannot be sent in a URL, ``idempotency_key`` is
                empty, longer than 255 characters or not printable ASCII, the source is empty (the
                API refuses empty files), no file name or one the platform refuses,
                ``content_type`` is not a media type or is missing where the name implies none
                (all but the empty source before anything is read), or the file object is being
                uploaded by the call whose ``progress`` callback makes this one.
            IntegrityError: the server's SHA-256 of the evidence differs from the file's
                (:class:`~crs_sdk.IntegrityMismatchError`, also a ``ValidationError``, when the
                server refused the finished upload for it: e.g. the file changed meanwhile), or
                the file got shorter while it was being sent. Either way the resume point is
                forgotten: calling again starts a new upload of the file as it is then.
            DuplicateEvidenceError: the report already has this file (``local_sha256`` is the
                file's SHA-256; ``existing_evidence_id`` names the evidence when the server did).
            ValidationError: ``422``.
            ConflictError: ``409 upload_offset_mismatch`` on every attempt at a chunk: another
                request (e.g. a stalled connection of a crashed process) still holds the
                upload; calling again resumes it.
            RetryError: a chunk could not be sent within the retry policy's deadline or budget
                (when its attempts run out, the last attempt's error is raised, e.g.
                :class:`~crs_sdk.ServiceUnavailableError`); calling again resumes.
        """
        options = _Options(
            report_id,
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
        return self._upload(report_id, source, options)

    def _attach(
        self,
        report_id: str,
        file: EvidenceFile,
        *,
        step_key: str,
        resume_store: ResumeStore | NotGiven | None,
    ) -> Evidence:
        """One file of ``reports.create_and_submit``, under a key derived from ``step_key``."""
        options = _Options.for_step(report_id, file, step_key=step_key, resume_store=resume_store)
        return self._upload(report_id, file.source, options)

    def _upload(self, report_id: str, source: UploadSource, options: _Options) -> Evidence:
        local = open_source(source, options.chunk_size)
        try:
            job = _new_job(self._config, report_id, source, local, options)
            with local.held():
                return self._uploader.run(job)
        finally:
            local.close()


class AsyncReportEvidence:
    """Evidence of the agency's reports (``client.evidence`` of an `AsyncCRSClient`)."""

    def __init__(
        self,
        request: Callable[[RequestSpec], Awaitable[httpx.Response]],
        send_once: Callable[[RequestSpec, RetryCall], Awaitable[httpx.Response]],
        retry_call: RetryFactory,
        config: ClientConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._request = request
        self._config = config
        self._uploader = AsyncUploader(
            request,
            send_once,
            retry_call,
            config,
            listing=lambda report_id: self.list(report_id, page_size=_LISTING_PAGE),
            sleep=sleep,
        )

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

        File reads run in a worker thread; ``progress`` is called on the event loop. A cancelled
        call returns at once, but a worker thread may be in the middle of a read (a thread cannot
        be stopped): it stops after that read (at most 1 MiB) and reads nothing more, then closes
        the file, or puts the caller's file object back at its position. Until then the object's
        position is undefined, and another upload of it waits, in a thread of its own (never on
        the event loop, nor in its default executor). Calling again with the same object after a
        cancel therefore reads the same bytes (see :doc:`/how-to/upload-large-files`).
        """
        options = _Options(
            report_id,
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
        return await self._upload(report_id, source, options)

    async def _attach(
        self,
        report_id: str,
        file: EvidenceFile,
        *,
        step_key: str,
        resume_store: ResumeStore | NotGiven | None,
    ) -> Evidence:
        """One file of ``reports.create_and_submit`` (see `ReportEvidence._attach`)."""
        options = _Options.for_step(report_id, file, step_key=step_key, resume_store=resume_store)
        return await self._upload(report_id, file.source, options)

    async def _upload(self, report_id: str, source: UploadSource, options: _Options) -> Evidence:
        local = await _open_in_thread(source, options.chunk_size)
        try:
            job = _new_job(self._config, report_id, source, local, options)
            with local.held():
                return await self._uploader.run(job)
        finally:
            local.close()  # never waits: a read in progress in a worker thread finishes it
