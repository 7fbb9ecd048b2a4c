"""``reports.wait``: what "done" means, and a poll schedule that cannot outlive its deadline.

Pure: the clients do the ``GET`` and the sleeping. Pauses grow geometrically from
``poll_interval`` to ``max_poll_interval`` (factor ``DEFAULT_POLL_BACKOFF_FACTOR``), the last one is
clipped to the deadline, and once the deadline has passed `PollSchedule.pause` raises `WaitTimeout`.
In testing mode (``crs_sdk.testing``) pauses take no time but still count against the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from crs_sdk._config import DEFAULT_POLL_BACKOFF_FACTOR
from crs_sdk._enums import DECIDED_STATUSES, TERMINAL_STATUSES, ReportStatus
from crs_sdk._exceptions import WaitTimeout
from crs_sdk._retry import is_testing

if TYPE_CHECKING:
    from crs_sdk._models import Report

__all__ = [
    "DEFAULT_WAIT_STATUSES",
    "PollSchedule",
    "WaitCondition",
    "asyncio_sleep",
    "wait_condition",
]

#: What ``reports.wait`` waits for by default: a decision, a question from the platform, or a status
#: the report will not leave by itself (withdrawn, expired).
DEFAULT_WAIT_STATUSES: frozenset[ReportStatus] = (
    DECIDED_STATUSES | TERMINAL_STATUSES | {ReportStatus.INFO_REQUESTED}
)

WaitCondition = Collection[ReportStatus] | Callable[["Report"], bool] | None


def wait_condition(until: WaitCondition) -> Callable[[Report], bool]:
    """A predicate on reports from the ``until`` argument of ``reports.wait``."""
    if until is None:
        return lambda report: report.status in DEFAULT_WAIT_STATUSES
    if callable(until):
        return until
    statuses: Collection[str] = (until,) if isinstance(until, str) else until
    wanted = frozenset(ReportStatus(status) for status in statuses)
    if not wanted:
        raise ValueError("until= names no status")
    return lambda report: report.status in wanted


class PollSchedule:
    """The pauses between polls of one ``wait`` call, under its deadline."""

    def __init__(
        self,
        *,
        timeout: float,
        poll_interval: float,
        max_poll_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout >= 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        if not 0 < poll_interval <= max_poll_interval:
            raise ValueError("need 0 < poll_interval <= max_poll_interval")
        self._timeout = timeout
        self._next = poll_interval
        self._max = max_poll_interval
        self._clock = clock
        self._started = clock()
        self._skipped = 0.0

    def _remaining(self) -> float:
        return self._timeout - (self._clock() - self._started + self._skipped)

    def pause(self, last: Report) -> float:
        """Seconds to actually sleep before the next poll (``0`` in testing mode).

        Raises:
            WaitTimeout: the deadline has passed; carries ``last``'s status.
        """
        remaining = self._remaining()
        if remaining <= 0:
            raise WaitTimeout(
                f"report {last.id} is still {last.status} after {self._timeout:g}s",
                report_id=last.id,
                last_status=last.status,
            )
        pause = min(self._next, remaining)
        self._next = min(self._next * DEFAULT_POLL_BACKOFF_FACTOR, self._max)
        if is_testing():
            self._skipped += pause
            return 0.0
        return pause


async def asyncio_sleep(seconds: float) -> None:
    """`asyncio.sleep`, with asyncio imported at the first pause.

    Importing asyncio takes about 10 ms, which users of the sync client alone should not pay.
    """
    import asyncio

    await asyncio.sleep(seconds)
