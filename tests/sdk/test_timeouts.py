"""Each attempt's timeout: clipped to the retry deadline, never past what a socket takes."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_sdk import AsyncCRSClient, CRSClient, NotFoundError, Report, RetryPolicy
from crs_sdk._requests import attempt_timeout

if TYPE_CHECKING:
    from crs_mock import ServerProcess

NO_LIMIT = httpx.Timeout(None)
HUGE = threading.TIMEOUT_MAX * 2


@pytest.mark.parametrize(
    ("configured", "remaining", "expected"),
    [
        (httpx.Timeout(30.0), None, httpx.Timeout(30.0)),
        (httpx.Timeout(30.0), 5.0, httpx.Timeout(5.0)),
        (httpx.Timeout(30.0, connect=2.0), 5.0, httpx.Timeout(5.0, connect=2.0)),
        (httpx.Timeout(30.0), -1.0, httpx.Timeout(0.0)),
        (NO_LIMIT, 5.0, httpx.Timeout(5.0)),  # a deadline bounds a part without a limit
        (NO_LIMIT, threading.TIMEOUT_MAX, httpx.Timeout(threading.TIMEOUT_MAX)),
        # a deadline no socket can wait for leaves the parts as they are
        (NO_LIMIT, math.inf, NO_LIMIT),
        (NO_LIMIT, HUGE, NO_LIMIT),
        (httpx.Timeout(30.0, read=None), math.inf, httpx.Timeout(30.0, read=None)),
        (httpx.Timeout(30.0), HUGE, httpx.Timeout(30.0)),
    ],
)
def test_attempt_timeout(
    configured: httpx.Timeout, remaining: float | None, expected: httpx.Timeout
) -> None:
    assert attempt_timeout(configured, remaining) == expected


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("deadline", [math.inf, 1e12])
async def test_no_timeout_and_an_endless_deadline_over_a_socket(
    live_server: ServerProcess, flavour: str, deadline: float
) -> None:
    """``timeout=None`` with a deadline beyond any socket's reach: the request is sent and
    answered (it failed with ``OverflowError`` when each part became the deadline)."""
    cls = CRSClient if flavour == "sync" else AsyncCRSClient
    client = cls(
        live_server.base_url,
        client_id=live_server.client_id,
        client_secret=live_server.client_secret,
        timeout=None,
        retry=RetryPolicy(deadline=deadline),
    )
    with pytest.raises(NotFoundError):  # an answer from the server
        await get_and_close(client, "rpt_missing")


async def get_and_close(client: CRSClient | AsyncCRSClient, report_id: str) -> Report:
    """``reports.get`` with either client, closed afterwards."""
    if isinstance(client, AsyncCRSClient):
        async with client:
            return await client.reports.get(report_id)
    with client:
        return client.reports.get(report_id)
