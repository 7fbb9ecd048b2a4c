"""The pure half of ``reports.wait``, by table: missed polls, each poll's deadline, the timeout."""

from __future__ import annotations

import math
import random
import threading
import typing
from collections.abc import Collection
from datetime import datetime, timezone

import httpx
import pytest

import crs_sdk.testing
from crs_sdk import (
    ConnectError,
    CRSError,
    DeadlineExceeded,
    DecodeError,
    ReportStatus,
    RequestTimeout,
    RetryBudgetExhausted,
    RetryPolicy,
    WaitTimeout,
)
from crs_sdk._api_errors import api_error_from_response
from crs_sdk._resources._reports import AsyncReports, Reports
from crs_sdk._retry import skip_wait
from crs_sdk._wait import PollSchedule, WaitCondition, is_missed_poll, wait_condition


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _status(code: int, retry_after: str | None = None) -> CRSError:
    headers = (
        httpx.Headers() if retry_after is None else httpx.Headers({"Retry-After": retry_after})
    )
    return api_error_from_response(code, None, request_id=None, headers=headers)


@pytest.mark.parametrize(
    ("error", "missed"),
    [
        (ConnectError("refused"), True),
        (RequestTimeout("read"), True),
        (_status(503), True),
        (_status(429), True),  # also with a Retry-After beyond max_retry_after
        (_status(500), True),
        (DeadlineExceeded("late", attempts=3), True),
        (RetryBudgetExhausted("spent", attempts=2), True),
        (_status(404), False),
        (_status(401), False),  # the client already refreshed its token once
        (_status(403), False),
        (_status(422), False),
        (DecodeError("not JSON"), False),
    ],
    ids=repr,
)
def test_is_missed_poll(error: CRSError, missed: bool) -> None:
    assert is_missed_poll(error, RetryPolicy()) is missed


def test_a_status_the_policy_does_not_retry_ends_the_wait() -> None:
    assert not is_missed_poll(_status(503), RetryPolicy(retry_statuses={502}))


# --- until --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "until",
    [
        "actioned",
        ReportStatus.ACTIONED,
        ["actioned"],
        {"actioned", ReportStatus.NO_ACTION},
        (ReportStatus.ACTIONED,),
        lambda report: report.status == "actioned",
    ],
    ids=["str", "member", "list", "set", "tuple", "predicate"],
)
def test_until_takes_statuses_by_member_or_by_value(until: WaitCondition) -> None:
    done = wait_condition(until)
    assert done(crs_sdk.testing.make_report(status=ReportStatus.ACTIONED))
    assert not done(crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW))


@pytest.mark.parametrize(
    ("until", "named"),
    [
        ("actoned", "'actoned'"),
        ({"actoned"}, "'actoned'"),
        (["actioned", "in_reveiw", "escalated"], "'escalated', 'in_reveiw'"),
        ([ReportStatus("escalated")], "'escalated'"),  # a pseudo-member is no better
    ],
)
def test_until_refuses_a_status_the_sdk_does_not_know(until: WaitCondition, named: str) -> None:
    with pytest.raises(ValueError, match="does not know") as info:
        wait_condition(until)
    message = str(info.value)
    assert f"does not know: {named} (it knows draft, submitted," in message
    assert "pass a predicate: until=lambda report: report.status == " in message


def test_until_is_typed_for_statuses_as_strings() -> None:
    """mypy --strict accepted only ``ReportStatus`` members, though strings always worked."""
    for wait in (Reports.wait, AsyncReports.wait):
        accepted = typing.get_args(typing.get_type_hints(wait)["until"])
        assert str in accepted
        assert Collection[ReportStatus | str] in accepted


@pytest.mark.parametrize(
    ("deadline", "elapsed", "expected"),
    [
        (60.0, 0.0, 60.0),  # the client's deadline is shorter than the wait
        (60.0, 90.0, 10.0),  # what is left of the wait
        (None, 90.0, 10.0),
        (60.0, 99.5, 1.0),  # at least poll_interval, for the last poll at the deadline
        (60.0, 130.0, 1.0),
        (0.5, 99.5, 0.5),
    ],
)
def test_each_poll_retries_within_what_is_left(
    deadline: float | None, elapsed: float, expected: float
) -> None:
    clock = FakeClock()
    schedule = PollSchedule(timeout=100.0, poll_interval=1.0, max_poll_interval=10.0, clock=clock)
    clock.now += elapsed
    policy = RetryPolicy(deadline=deadline, max_attempts=7)
    poll = schedule.poll_policy(policy)
    assert poll.deadline == expected
    assert poll.max_attempts == 7  # the rest of the policy is the client's


@pytest.mark.parametrize("deadline", [None, 60.0])
def test_a_wait_without_end_keeps_the_clients_deadline(deadline: float | None) -> None:
    """``timeout=math.inf``: no infinite deadline (httpx would get infinite timeouts)."""
    schedule = PollSchedule(
        timeout=math.inf, poll_interval=1.0, max_poll_interval=10.0, clock=FakeClock()
    )
    policy = RetryPolicy(deadline=deadline)
    assert schedule.poll_policy(policy).deadline == deadline


def test_waits_skipped_by_the_polls_count_against_the_timeout() -> None:
    schedule = PollSchedule(
        timeout=10.0, poll_interval=1.0, max_poll_interval=1.0, clock=FakeClock()
    )
    report = crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW)
    with crs_sdk.testing.no_retry_waits():
        skip_wait(9.5)  # as a poll's retries would
        assert schedule.pause(report.id, report) == 0.0  # 0.5 s, clipped to the deadline
        with pytest.raises(WaitTimeout):
            schedule.pause(report.id, report)


def test_timeout_carries_the_last_status_and_the_last_error() -> None:
    clock = FakeClock()
    schedule = PollSchedule(timeout=5.0, poll_interval=1.0, max_poll_interval=1.0, clock=clock)
    report = crs_sdk.testing.make_report(status=ReportStatus.ACKNOWLEDGED)
    schedule.pause(report.id, report)
    clock.now += 6.0
    error = ConnectError("refused")
    with pytest.raises(
        WaitTimeout, match="still acknowledged after 5s; the last poll failed"
    ) as info:
        schedule.pause(report.id, error)
    assert info.value.last_status is ReportStatus.ACKNOWLEDGED
    assert info.value.__cause__ is error


def test_timeout_without_any_report_has_no_status() -> None:
    clock = FakeClock()
    schedule = PollSchedule(timeout=0.0, poll_interval=1.0, max_poll_interval=1.0, clock=clock)
    with pytest.raises(WaitTimeout, match="rpt_9 could not be read in 0s") as info:
        schedule.pause("rpt_9", RequestTimeout("read"))
    assert info.value.last_status is None
    assert info.value.report_id == "rpt_9"


# --- jitter -------------------------------------------------------------------------------------


class EdgeRandom(random.Random):
    """Draws always the low (or high) end of the range."""

    def __init__(self, *, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


NOMINAL = [1.0, 1.5, 2.25, 3.375, 4.0, 4.0]  # from poll_interval, by 1.5, up to max_poll_interval


@pytest.mark.parametrize(
    ("high", "expected"),
    [(False, [n / 2 for n in NOMINAL]), (True, NOMINAL)],
    ids=["shortest", "longest"],
)
def test_each_pause_is_between_half_and_all_of_the_interval(
    high: bool, expected: list[float]
) -> None:
    schedule = PollSchedule(
        timeout=1000.0,
        poll_interval=1.0,
        max_poll_interval=4.0,
        clock=FakeClock(),
        rng=EdgeRandom(high=high),
    )
    report = crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW)
    assert [schedule.pause(report.id, report) for _ in NOMINAL] == expected


def test_pauses_are_jittered() -> None:
    schedule = PollSchedule(
        timeout=math.inf,
        poll_interval=2.0,
        max_poll_interval=2.0,
        clock=FakeClock(),
        rng=random.Random(7),
    )
    report = crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW)
    pauses = [schedule.pause(report.id, report) for _ in range(200)]
    assert all(1.0 <= pause <= 2.0 for pause in pauses)
    assert len(set(pauses)) == len(pauses)  # no two waits in step
    assert min(pauses) < 1.1
    assert max(pauses) > 1.9


def test_a_jittered_pause_never_passes_the_deadline() -> None:
    clock = FakeClock()
    schedule = PollSchedule(
        timeout=10.0,
        poll_interval=1.0,
        max_poll_interval=1.0,
        clock=clock,
        rng=EdgeRandom(high=True),
    )
    report = crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW)
    clock.now += 9.8
    assert schedule.pause(report.id, report) == pytest.approx(0.2)
    clock.now += 0.2
    with pytest.raises(WaitTimeout):
        schedule.pause(report.id, report)


# --- Retry-After --------------------------------------------------------------------------------


def _schedule(clock: FakeClock, timeout: float = 100.0) -> PollSchedule:
    """Pauses at the top of their range: 1, 1.5, 2.25, ... up to 4."""
    return PollSchedule(
        timeout=timeout,
        poll_interval=1.0,
        max_poll_interval=4.0,
        clock=clock,
        rng=EdgeRandom(high=True),
        wall_clock=lambda: datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc),
    )


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (_status(429, "7"), 7.0),  # beyond max_retry_after: the poll's retries did not wait
        (_status(503, "0.5"), 1.0),  # shorter than the interval: the interval
        (_status(503, "Mon, 23 Nov 2026 12:00:30 GMT"), 30.0),
        (_status(503, "soon"), 1.0),  # unusable: the interval
        (_status(503), 1.0),
        (ConnectError("refused"), 1.0),
        (DeadlineExceeded("late", attempts=1, last_exception=_status(429, "20")), 20.0),
        (RetryBudgetExhausted("spent", attempts=2, last_exception=_status(503, "9")), 9.0),
        (DeadlineExceeded("late", attempts=1, last_exception=RequestTimeout("read")), 1.0),
        (_status(429, "100"), 100.0),  # ends right at the deadline: the last poll is made there
    ],
    ids=repr,
)
def test_a_missed_polls_retry_after_is_honoured(last: CRSError, expected: float) -> None:
    schedule = _schedule(FakeClock())
    assert schedule.pause("rpt_1", last) == expected
    report = crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW)
    assert schedule.pause(report.id, report) == 1.5  # the interval grows on as before


@pytest.mark.parametrize(
    "last",
    [_status(429, "120"), DeadlineExceeded("late", attempts=1, last_exception=_status(503, "61"))],
    ids=repr,
)
def test_a_retry_after_past_the_deadline_ends_the_wait_at_once(last: CRSError) -> None:
    """No poll the platform would accept fits in the wait: it is not slept out in vain."""
    clock = FakeClock()
    schedule = _schedule(clock)
    report = crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW)
    schedule.pause(report.id, report)
    clock.now += 40.0
    with pytest.raises(WaitTimeout) as info:
        schedule.pause(report.id, last)
    assert str(info.value).startswith(
        f"report {report.id} is still in_review, and the platform asks for no poll in the next "
    )
    assert "(Retry-After), past the wait's timeout of 100s; the last poll failed" in str(info.value)
    assert info.value.last_status is ReportStatus.IN_REVIEW
    assert info.value.__cause__ is last
    assert clock.now == 1040.0  # raised at once


@pytest.mark.parametrize("timeout", [math.inf, 1e300])
def test_a_huge_retry_after_in_a_wait_without_end_is_a_pause_a_sleep_takes(
    timeout: float,
) -> None:
    """`time.sleep` raises for a pause whose end it cannot represent (here 3e11 s)."""
    schedule = _schedule(FakeClock(), timeout=timeout)
    pause = schedule.pause("rpt_1", _status(429, "Fri, 31 Dec 9999 23:59:59 GMT"))
    assert 1e9 < pause < threading.TIMEOUT_MAX / 1.5


def test_a_retry_after_pause_counts_against_the_timeout_in_testing_mode() -> None:
    schedule = _schedule(FakeClock(), timeout=100.0)
    with crs_sdk.testing.no_retry_waits():
        assert schedule.pause("rpt_1", _status(429, "70")) == 0.0
        with pytest.raises(WaitTimeout, match="next 70s"):  # 30 s left
            schedule.pause("rpt_1", _status(429, "70"))
