"""``reports.wait``: what "done" means, and a poll schedule that cannot outlive its deadline.

Pure: the clients do the ``GET`` and the sleeping. The poll interval grows geometrically from
``poll_interval`` to ``max_poll_interval`` (factor ``DEFAULT_POLL_BACKOFF_FACTOR``); each pause is
drawn uniformly between half and all of the current interval (jitter, so that the polls of many
waits started together spread out instead of arriving in step), the last one is clipped to the
deadline, and once the deadline has passed `PollSchedule.pause` raises `WaitTimeout`.

Each poll is one call under the client's retry policy with its deadline cut to what is left of the
wait (`PollSchedule.poll_policy`). A poll that still fails with a transient error is a missed poll
(`is_missed_poll`): the wait goes on, but not sooner than the ``Retry-After`` of the missed poll's
answer (the poll's own retries give up on one above ``max_retry_after`` or past their deadline);
one that ends after the wait's deadline raises `WaitTimeout` at once, since no poll the platform
accepts could be made in time, and sleeping to the deadline would only delay the news.

In testing mode (``crs_sdk.testing``) pauses take no time but still count against the deadline,
and so do the waits its polls' retries skipped.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final

import attrs

from crs_sdk._config import DEFAULT_POLL_BACKOFF_FACTOR
from crs_sdk._enums import DECIDED_STATUSES, TERMINAL_STATUSES, ReportStatus
from crs_sdk._exceptions import APIError, CRSError, RetryError, WaitTimeout
from crs_sdk._retry import LONGEST_PAUSE, is_testing, should_retry, skip_wait, skipped_waits
from crs_sdk._retry_call import _JITTER, retry_after_of

if TYPE_CHECKING:
    import random

    from crs_sdk._models import Report
    from crs_sdk._retry import RetryPolicy

__all__ = [
    "DEFAULT_WAIT_STATUSES",
    "PollSchedule",
    "WaitCondition",
    "asyncio_sleep",
    "is_missed_poll",
    "wait_condition",
]

#: What ``reports.wait`` waits for by default: a decision, a question from the platform, or a status
#: the report will not leave by itself (withdrawn, expired).
DEFAULT_WAIT_STATUSES: frozenset[ReportStatus] = (
    DECIDED_STATUSES | TERMINAL_STATUSES | {ReportStatus.INFO_REQUESTED}
)

#: What ``reports.wait(until=...)`` takes: a status, several (any of them), or a predicate.
WaitCondition = (
    ReportStatus | str | Collection[ReportStatus | str] | Callable[["Report"], bool] | None
)

#: The shortest pause, as a share of the current poll interval.
_MIN_PAUSE_SHARE: Final = 0.5


def wait_condition(until: WaitCondition) -> Callable[[Report], bool]:
    """A predicate on reports from the ``until`` argument of ``reports.wait``.

    With statuses, the predicate raises `WaitTimeout` at once for a report in a terminal status
    that is not wanted (see `_reached`); a predicate of the caller's is used as it is.

    Raises:
        ValueError: ``until`` names no status, or a status this SDK does not know (a typo would
            wait until the timeout). A status newer than the SDK takes a predicate:
            ``until=lambda report: report.status == "new_status"``.
    """
    if until is None:
        return lambda report: report.status in DEFAULT_WAIT_STATUSES
    if callable(until):
        return until
    statuses: Collection[str] = (until,) if isinstance(until, str) else until
    wanted = frozenset(ReportStatus(status) for status in statuses)
    if not wanted:
        raise ValueError("until= names no status")
    unknown = sorted(status.value for status in wanted if not status.is_known)
    if unknown:
        known = ", ".join(status.value for status in ReportStatus)
        raise ValueError(
            f"until= names a status this SDK does not know: {', '.join(map(repr, unknown))} "
            f"(it knows {known}); to wait for a status newer than the SDK, pass a predicate: "
            f"until=lambda report: report.status == {unknown[0]!r}"
        )
    return functools.partial(_reached, wanted)


def _reached(wanted: frozenset[ReportStatus], report: Report) -> bool:
    """Whether ``report`` is in one of the ``wanted`` statuses.

    Raises:
        WaitTimeout: at once, when the report is in a terminal status that is not wanted (a
            decision, ``withdrawn``, ``expired``): it will not move again unless the agency acts,
            so polling on would only wait out the timeout.
    """
    if report.status in wanted:
        return True
    if report.status in TERMINAL_STATUSES:
        waited_for = ", ".join(sorted(status.value for status in wanted))
        leaves = (
            "a decision it leaves only if the agency appeals"
            if report.status in DECIDED_STATUSES
            else "a status it never leaves"
        )
        raise WaitTimeout(
            f"report {report.id} reached {report.status}, {leaves}, not the awaited "
            f"{waited_for}: the wait stopped instead of polling until its timeout",
            report_id=report.id,
            last_status=report.status,
        )
    return False


def is_missed_poll(error: CRSError, policy: RetryPolicy) -> bool:
    """Whether a poll that failed with ``error``, after its retries under ``policy``, only missed.

    A transient failure (what ``policy`` retries, or a `RetryError`: retries stopped by their
    deadline or budget) does not end the wait. Anything else does: no later poll would fare
    better (``404``, ``401`` after a token refresh, an undecodable answer, ...).
    """
    if isinstance(error, RetryError):
        return True
    return should_retry(
        method="GET",
        status_code=error.status_code if isinstance(error, APIError) else None,
        exception=error,
        has_idempotency_key=False,
        retry_statuses=policy.retry_statuses,
    )


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PollSchedule:
    """The pauses between polls of one ``wait`` call, and each poll's share of its deadline.

    Args:
        clock: A monotonic clock in seconds; injectable for tests.
        rng: Draws the jitter; by default the generator the retries use.
        wall_clock: The time now, for a ``Retry-After`` given as an HTTP date.
    """

    def __init__(
        self,
        *,
        timeout: float,
        poll_interval: float,
        max_poll_interval: float,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not timeout >= 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        if not 0 < poll_interval <= max_poll_interval:
            raise ValueError("need 0 < poll_interval <= max_poll_interval")
        if not math.isfinite(poll_interval):  # max_poll_interval may be: no cap on the interval
            # Its pauses would be nan: time.sleep refuses it, asyncio.sleep never returns.
            raise ValueError(
                f"poll_interval must be a finite number of seconds, got {poll_interval!r}"
            )
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._next = poll_interval
        self._max = max_poll_interval
        self._clock = clock
        self._rng = _JITTER if rng is None else rng
        self._wall_clock = wall_clock
        self._started = clock()
        self._skipped_before = skipped_waits()
        self._last_status: ReportStatus | None = None

    def _remaining(self) -> float:
        elapsed = self._clock() - self._started + skipped_waits() - self._skipped_before
        return self._timeout - elapsed

    def poll_policy(self, policy: RetryPolicy) -> RetryPolicy:
        """``policy`` for the next poll: its retries end when the wait's time is up.

        The poll gets at least ``poll_interval`` seconds, so that the last poll, made at the
        deadline, still has time for its request. A wait therefore ends at most about
        ``poll_interval`` seconds after its ``timeout``.
        """
        share = max(self._remaining(), self._poll_interval)
        if not math.isfinite(share):  # a wait without end: the policy's own deadline, if any
            return policy
        deadline = share if policy.deadline is None else min(policy.deadline, share)
        return attrs.evolve(policy, deadline=deadline)

    def pause(self, report_id: str, last: Report | CRSError) -> float:
        """Seconds to actually sleep before the next poll (``0`` in testing mode).

        ``last`` is what the last poll got: the report, or the error of a missed poll. The pause
        is uniform between half and all of the current interval, or the ``Retry-After`` of the
        missed poll's answer if that is longer, and never passes the deadline.

        Raises:
            WaitTimeout: the deadline has passed, or the ``Retry-After`` of the missed poll's
                answer ends after it (raised at once: no poll the platform accepts could be made
                in time); carries the last status seen, and the error of the last poll as
                ``__cause__`` if that poll missed.
        """
        if isinstance(last, CRSError):
            error = last
        else:
            error = None
            self._last_status = last.status
        remaining = self._remaining()
        if remaining <= 0:
            raise self._timed_out(report_id, error) from error
        asked = retry_after_of(
            error.last_exception if isinstance(error, RetryError) else error, self._wall_clock()
        )
        if asked is not None and asked > remaining:
            raise self._timed_out(report_id, error, asked=asked) from error
        jittered = self._rng.uniform(self._next * _MIN_PAUSE_SHARE, self._next)
        pause = min(max(jittered, asked or 0.0), remaining, LONGEST_PAUSE)
        self._next = min(self._next * DEFAULT_POLL_BACKOFF_FACTOR, self._max)
        if is_testing():
            skip_wait(pause)
            return 0.0
        return pause

    def _timed_out(
        self, report_id: str, error: CRSError | None, *, asked: float | None = None
    ) -> WaitTimeout:
        status = self._last_status
        if status is not None:
            subject, when = f"report {report_id} is still {status}", "after"
        else:
            subject, when = f"report {report_id} could not be read", "in"
        if asked is None:
            message = f"{subject} {when} {self._timeout:g}s"
        else:
            message = (
                f"{subject}, and the platform asks for no poll in the next {asked:g}s "
                f"(Retry-After), past the wait's timeout of {self._timeout:g}s"
            )
        if error is not None:
            message += f"; the last poll failed: {error}"
        return WaitTimeout(message, report_id=report_id, last_status=status)


async def asyncio_sleep(seconds: float) -> None:
    """`asyncio.sleep`, with asyncio imported at the first pause.

    Importing asyncio takes about 10 ms, which users of the sync client alone should not pay.
    """
    import asyncio

    await asyncio.sleep(seconds)
