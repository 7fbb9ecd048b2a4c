"""``reports.wait``: it stops at once at a terminal status that ``until`` does not name, and
refuses poll intervals it could not sleep."""

from __future__ import annotations

import inspect
import math
from typing import Any

import httpx
import pytest

import crs_sdk.testing
from crs_sdk import ReportStatus, WaitTimeout
from crs_sdk._wait import PollSchedule, wait_condition
from sdk.mock_clients import mock_client


@pytest.mark.parametrize(
    "status",
    [ReportStatus.REJECTED, ReportStatus.NO_ACTION, ReportStatus.WITHDRAWN, ReportStatus.EXPIRED],
)
def test_a_terminal_status_not_waited_for_ends_the_wait(status: ReportStatus) -> None:
    done = wait_condition(ReportStatus.ACTIONED)
    report = crs_sdk.testing.make_report(status=status)
    leaves = "a decision it leaves only if" if status.is_decided else "a status it never leaves"
    with pytest.raises(WaitTimeout, match=f"reached {status}, {leaves}") as info:
        done(report)
    assert info.value.last_status is status
    assert info.value.report_id == report.id
    assert "not the awaited actioned" in str(info.value)


def test_statuses_on_the_way_and_predicates_keep_the_wait_going() -> None:
    assert not wait_condition("actioned")(
        crs_sdk.testing.make_report(status=ReportStatus.INFO_REQUESTED)
    )
    rejected = crs_sdk.testing.make_report(status=ReportStatus.REJECTED)
    assert not wait_condition(lambda report: report.status == "actioned")(rejected)
    assert wait_condition(["actioned", "rejected"])(rejected)


async def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    result = function(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_both_clients_stop_at_the_terminal_status(flavour: str, make_report: Any) -> None:
    """Before the fix, the wait polled the rejected report until its 600 s timeout."""
    statuses = ["submitted", "in_review", "rejected"]
    polls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            body = {"access_token": "tok", "token_type": "bearer", "expires_in": 3600}
            return httpx.Response(200, json=body)
        status = statuses[min(len(polls), len(statuses) - 1)]
        polls.append(status)
        return httpx.Response(200, json=make_report(id="rpt_1", status=status))

    client = mock_client(flavour, handle)
    with crs_sdk.testing.no_retry_waits(), pytest.raises(WaitTimeout) as info:
        await _call(client.reports.wait, "rpt_1", until=ReportStatus.ACTIONED)
    await _call(client.close if flavour == "sync" else client.aclose)
    assert polls == statuses
    assert info.value.last_status is ReportStatus.REJECTED


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_an_infinite_poll_interval_is_refused_before_any_poll(flavour: str) -> None:
    """Before the fix its pauses were nan: the sync wait raised time.sleep's ValueError after a
    poll, and the async one never woke from asyncio.sleep(nan), past its timeout."""
    sent: list[httpx.Request] = []
    client = mock_client(flavour, lambda request: sent.append(request) or httpx.Response(500))
    with pytest.raises(ValueError, match="poll_interval must be a finite number of seconds"):
        await _call(
            client.reports.wait,
            "rpt_1",
            timeout=2,
            poll_interval=math.inf,
            max_poll_interval=math.inf,
        )
    await _call(client.close if flavour == "sync" else client.aclose)
    assert sent == []


def test_an_infinite_max_poll_interval_means_no_cap() -> None:
    schedule = PollSchedule(timeout=1e9, poll_interval=1.0, max_poll_interval=math.inf)
    report = crs_sdk.testing.make_report(status=ReportStatus.IN_REVIEW)
    with crs_sdk.testing.no_retry_waits():
        for _ in range(5):
            schedule.pause(report.id, report)
