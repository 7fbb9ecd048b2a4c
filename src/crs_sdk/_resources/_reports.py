"""``client.reports``: the report lifecycle, for both clients.

The requests are built and the answers decoded in `crs_sdk._resources._report_specs`;
`Reports` and `AsyncReports` only send them. Every write takes ``idempotency_key=``; without it the
SDK generates one, and either way the same key goes with every attempt of that call. ``wait``
sends each poll under a retry policy of its own (`crs_sdk._wait.PollSchedule.poll_policy`), through
the client's ``with_options``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from crs_sdk._config import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    NOT_GIVEN,
    NotGiven,
)
from crs_sdk._exceptions import CRSError
from crs_sdk._models import Page, Report, ReportCreate
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._resources._report_specs import (
    appeal_spec,
    create_spec,
    decode_page,
    decode_report,
    get_spec,
    list_page_spec,
    list_query,
    respond_spec,
    submit_spec,
    withdraw_spec,
)
from crs_sdk._wait import (
    PollSchedule,
    WaitCondition,
    asyncio_sleep,
    is_missed_poll,
    wait_condition,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from datetime import datetime

    import httpx

    from crs_sdk._requests import RequestSpec
    from crs_sdk._resources._evidence import AsyncReportEvidence, ReportEvidence
    from crs_sdk._resources._report_specs import StatusFilter
    from crs_sdk._resume import ResumeStore
    from crs_sdk._retry import RetryPolicy
    from crs_sdk._upload import EvidenceFile

__all__ = ["AsyncReports", "Reports"]


class Reports:
    """Reports of the caller's agency (``client.reports`` of a `CRSClient`)."""

    def __init__(
        self,
        request: Callable[[RequestSpec], httpx.Response],
        sleep: Callable[[float], None] = time.sleep,
        evidence: Callable[[], ReportEvidence] | None = None,
        *,
        retry: RetryPolicy,
        request_with: Callable[[RetryPolicy], Callable[[RequestSpec], httpx.Response]],
    ) -> None:
        self._request = request
        self._sleep = sleep
        self._evidence = evidence
        self._retry = retry
        self._request_with = request_with

    def create(self, report: ReportCreate, *, idempotency_key: str | None = None) -> Report:
        """Create a report in ``draft``.

        Raises:
            DuplicateReportError: the agency already has a report with this ``client_reference``.
            ValidationError: the server refused the content.
        """
        return decode_report(self._request(create_spec(report, idempotency_key)))

    def create_and_submit(
        self,
        report: ReportCreate,
        evidence: Sequence[EvidenceFile | str | os.PathLike[str]] = (),
        *,
        good_faith_declaration: bool | None = None,
        idempotency_key: str | None = None,
        resume_store: ResumeStore | NotGiven | None = NOT_GIVEN,
    ) -> Report:
        """Create a report, attach each file as evidence, and submit it: the common case.

        Not atomic: if a step after the creation fails, the report stays a ``draft`` with the
        evidence attached so far and `IncompleteReportError` (``.report_id``, ``__cause__``) is
        raised. Calling again with the same ``idempotency_key`` resumes: the steps already done
        are replayed by the server, not repeated.

        Args:
            report: The report to create.
            evidence: `EvidenceFile` objects, or paths (metadata from the file name).
            good_faith_declaration: Passed to `submit`.
            idempotency_key: The key the steps' keys are derived from; a fresh one by default.
            resume_store: Passed to ``evidence.upload``.

        Raises:
            IncompleteReportError: a step after the creation failed.
            ValueError: a file is empty or has no name, two files have the same content (the
                message names both: a report holds each file once, so the second one's metadata
                would be lost), or ``idempotency_key`` is empty, longer than 255 characters or not
                printable ASCII (before anything is created; only files of equal size are read
                to compare them, and a stream that cannot seek is not read in advance).
            OSError: a path cannot be read (before anything is created).
        """
        if self._evidence is None:  # pragma: no cover - the clients always bind it
            raise TypeError("this Reports object has no evidence resource")
        from crs_sdk._resources._filing import create_and_submit  # loads the uploader

        return create_and_submit(
            self,
            self._evidence(),
            report,
            evidence,
            good_faith_declaration=good_faith_declaration,
            idempotency_key=idempotency_key,
            store=resume_store,
        )

    def get(self, report_id: str) -> Report:
        """The report ``report_id``. Raises `NotFoundError` (also for another agency's report)."""
        return decode_report(self._request(get_spec(report_id)))

    def list(
        self,
        *,
        status: StatusFilter = None,
        updated_since: datetime | None = None,
        page_size: int | None = None,
    ) -> SyncPager[Report]:
        """Every report matching the filters, oldest first, fetched page by page as you iterate.

        ``status`` is one status or several (any of them matches; each is sent once);
        ``updated_since`` an aware `datetime` (inclusive). Both are checked here, before
        anything is sent.

        Raises:
            TypeError: a status is not a `ReportStatus` or a ``str``, ``updated_since`` is not a
                `datetime`, or ``page_size`` is not an ``int``.
            ValueError: ``status`` is an empty collection (it would filter nothing out: leave
                it out, or ``None``, to list every report), ``updated_since`` is naive, or
                ``page_size`` is not between 1 and 100.
        """
        query = list_query(status, updated_since, page_size)
        return SyncPager(lambda cursor: decode_page(self._request(list_page_spec(query, cursor))))

    def submit(
        self,
        report_id: str,
        *,
        good_faith_declaration: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Report:
        """Submit a draft; ``good_faith_declaration=True`` confirms the declaration on the way."""
        spec = submit_spec(report_id, good_faith_declaration, idempotency_key)
        return decode_report(self._request(spec))

    def withdraw(
        self, report_id: str, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> Report:
        """Withdraw a report that is not decided yet."""
        return decode_report(self._request(withdraw_spec(report_id, reason, idempotency_key)))

    def respond(
        self,
        report_id: str,
        message: str,
        *,
        evidence_ids: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> Report:
        """Answer the platform's request for information (report in ``info_requested``).

        ``evidence_ids`` are the ids of evidence uploaded since the request, in any iterable
        (a list, a tuple, a generator); a bare string is refused with `TypeError` (it would be
        one id per character), as in every model field that holds several values.
        """
        spec = respond_spec(report_id, message, evidence_ids, idempotency_key)
        return decode_report(self._request(spec))

    def appeal(self, report_id: str, reason: str, *, idempotency_key: str | None = None) -> Report:
        """Ask for a decided report to be reviewed again (once per report)."""
        return decode_report(self._request(appeal_spec(report_id, reason, idempotency_key)))

    def wait(
        self,
        report_id: str,
        *,
        until: WaitCondition = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    ) -> Report:
        """Poll the report until ``until`` holds, and return it.

        ``until`` is a status, several (any of them will do; `ReportStatus` members or their
        string values), or a predicate on the report; by default a decided status,
        ``info_requested``, ``withdrawn`` or ``expired``. When ``until`` names statuses and the
        report reaches a terminal one that is not among them (a decision other than the awaited
        one, ``withdrawn``, ``expired``: see `ReportStatus.is_terminal`), `WaitTimeout` is raised
        at once, since the report will not move again unless the agency acts; a predicate is
        asked at every poll, whatever the status. A status this SDK does not know raises
        `ValueError` before any request, since a misspelt one would wait until the timeout; wait
        for a status newer than the SDK with a predicate
        (``until=lambda report: report.status == "new_status"``). The poll interval grows from
        ``poll_interval`` to ``max_poll_interval`` (by half at each poll), and each pause is a
        random value between half and all of the current interval (jitter: waits started
        together do not poll in step).

        ``timeout`` bounds the whole wait, the retries of each poll included: a poll is retried
        as any call (see `RetryPolicy`), but never past the wait's deadline, and it always has at
        least ``poll_interval`` seconds, so the wait ends at most about ``poll_interval`` after
        ``timeout``. A poll that still fails with a transient error (a connection error, a
        timeout, a ``503``...) is a missed poll and the wait goes on, polling again no sooner
        than the ``Retry-After`` of that poll's answer, if it had one (even one above the retry
        policy's ``max_retry_after``); if that time is past ``timeout``, `WaitTimeout` is raised
        at once. Any other error (``404``, ``401`` after a token refresh, ``422``...) ends the
        wait at once.

        Raises:
            ValueError: ``until`` names no status or an unknown one, or ``timeout`` is negative,
                or the poll intervals are not ``0 < poll_interval <= max_poll_interval`` with a
                finite ``poll_interval`` (``max_poll_interval`` may be ``math.inf``: no cap).
            WaitTimeout: ``timeout`` seconds passed first, the platform's ``Retry-After``
                asks for no poll before then, or the report reached a terminal status that
                ``until`` does not name; ``last_status`` is the last status seen (``None`` if no
                poll succeeded), and ``__cause__`` the error of the last poll if that poll
                missed.
        """
        done = wait_condition(until)
        schedule = PollSchedule(
            timeout=timeout, poll_interval=poll_interval, max_poll_interval=max_poll_interval
        )
        spec = get_spec(report_id)
        while True:  # until done, or `done` or `schedule.pause` raises WaitTimeout
            outcome = self._poll(spec, schedule.poll_policy(self._retry))
            if isinstance(outcome, Report) and done(outcome):
                return outcome
            self._sleep(schedule.pause(report_id, outcome))

    def _poll(self, spec: RequestSpec, policy: RetryPolicy) -> Report | CRSError:
        """The report, or the error of a missed poll; raises the errors that end the wait."""
        try:
            return decode_report(self._request_with(policy)(spec))
        except CRSError as error:
            if is_missed_poll(error, policy):
                return error
            raise


class AsyncReports:
    """Reports of the caller's agency (``client.reports`` of an `AsyncCRSClient`)."""

    def __init__(
        self,
        request: Callable[[RequestSpec], Awaitable[httpx.Response]],
        sleep: Callable[[float], Awaitable[None]] = asyncio_sleep,
        evidence: Callable[[], AsyncReportEvidence] | None = None,
        *,
        retry: RetryPolicy,
        request_with: Callable[[RetryPolicy], Callable[[RequestSpec], Awaitable[httpx.Response]]],
    ) -> None:
        self._request = request
        self._sleep = sleep
        self._evidence = evidence
        self._retry = retry
        self._request_with = request_with

    async def create(self, report: ReportCreate, *, idempotency_key: str | None = None) -> Report:
        """Create a report in ``draft`` (see `Reports.create`)."""
        return decode_report(await self._request(create_spec(report, idempotency_key)))

    async def create_and_submit(
        self,
        report: ReportCreate,
        evidence: Sequence[EvidenceFile | str | os.PathLike[str]] = (),
        *,
        good_faith_declaration: bool | None = None,
        idempotency_key: str | None = None,
        resume_store: ResumeStore | NotGiven | None = NOT_GIVEN,
    ) -> Report:
        """Create a report, attach each file, and submit it (see `Reports.create_and_submit`)."""
        if self._evidence is None:  # pragma: no cover - the clients always bind it
            raise TypeError("this AsyncReports object has no evidence resource")
        from crs_sdk._resources._filing import acreate_and_submit  # loads the uploader

        return await acreate_and_submit(
            self,
            self._evidence(),
            report,
            evidence,
            good_faith_declaration=good_faith_declaration,
            idempotency_key=idempotency_key,
            store=resume_store,
        )

    async def get(self, report_id: str) -> Report:
        """The report ``report_id`` (see `Reports.get`)."""
        return decode_report(await self._request(get_spec(report_id)))

    def list(
        self,
        *,
        status: StatusFilter = None,
        updated_since: datetime | None = None,
        page_size: int | None = None,
    ) -> AsyncPager[Report]:
        """Every matching report, for ``async for`` (no ``await`` first); see `Reports.list`."""
        query = list_query(status, updated_since, page_size)

        async def fetch(cursor: str | None) -> Page[Report]:
            return decode_page(await self._request(list_page_spec(query, cursor)))

        return AsyncPager(fetch)

    async def submit(
        self,
        report_id: str,
        *,
        good_faith_declaration: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Report:
        """Submit a draft (see `Reports.submit`)."""
        spec = submit_spec(report_id, good_faith_declaration, idempotency_key)
        return decode_report(await self._request(spec))

    async def withdraw(
        self, report_id: str, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> Report:
        """Withdraw a report that is not decided yet."""
        spec = withdraw_spec(report_id, reason, idempotency_key)
        return decode_report(await self._request(spec))

    async def respond(
        self,
        report_id: str,
        message: str,
        *,
        evidence_ids: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> Report:
        """Answer the platform's request for information (see `Reports.respond`)."""
        spec = respond_spec(report_id, message, evidence_ids, idempotency_key)
        return decode_report(await self._request(spec))

    async def appeal(
        self, report_id: str, reason: str, *, idempotency_key: str | None = None
    ) -> Report:
        """Ask for a decided report to be reviewed again (see `Reports.appeal`)."""
        return decode_report(await self._request(appeal_spec(report_id, reason, idempotency_key)))

    async def wait(
        self,
        report_id: str,
        *,
        until: WaitCondition = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    ) -> Report:
        """Poll the report until ``until`` holds (see `Reports.wait`, also for errors)."""
        done = wait_condition(until)
        schedule = PollSchedule(
            timeout=timeout, poll_interval=poll_interval, max_poll_interval=max_poll_interval
        )
        spec = get_spec(report_id)
        while True:  # until done, or `done` or `schedule.pause` raises WaitTimeout
            outcome = await self._poll(spec, schedule.poll_policy(self._retry))
            if isinstance(outcome, Report) and done(outcome):
                return outcome
            await self._sleep(schedule.pause(report_id, outcome))

    async def _poll(self, spec: RequestSpec, policy: RetryPolicy) -> Report | CRSError:
        """The report, or the error of a missed poll; raises the errors that end the wait."""
        try:
            return decode_report(await self._request_with(policy)(spec))
        except CRSError as error:
            if is_missed_poll(error, policy):
                return error
            raise
