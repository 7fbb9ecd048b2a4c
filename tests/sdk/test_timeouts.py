"""Each attempt's timeout: clipped to the retry deadline, never past what a socket takes."""

from __future__ import annotations

import math
import threading
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_sdk import (
    AsyncCRSClient,
    CRSClient,
    NotFoundError,
    Report,
    RequestTimeout,
    RetryPolicy,
)
from crs_sdk._config import DEFAULT_TIMEOUT, NOT_GIVEN
from crs_sdk._requests import attempt_timeout

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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


def live(server: ServerProcess) -> dict[str, Any]:
    """The arguments that point a client at the live server."""
    return {
        "base_url": server.base_url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
    }


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("deadline", [math.inf, 1e12])
async def test_no_timeout_and_an_endless_deadline_over_a_socket(
    live_server: ServerProcess, flavour: str, deadline: float
) -> None:
    """``timeout=None`` with a deadline beyond any socket's reach: the request is sent and
    answered (it failed with ``OverflowError`` when each part became the deadline)."""
    cls = CRSClient if flavour == "sync" else AsyncCRSClient
    client = cls(**live(live_server), timeout=None, retry=RetryPolicy(deadline=deadline))
    with pytest.raises(NotFoundError):  # an answer from the server
        await get_and_close(client, "rpt_missing")


async def get_and_close(client: CRSClient | AsyncCRSClient, report_id: str) -> Report:
    """``reports.get`` with either client, closed afterwards."""
    if isinstance(client, AsyncCRSClient):
        async with client:
            return await client.reports.get(report_id)
    with client:
        return client.reports.get(report_id)


# --- the caller's http_client ---------------------------------------------------------------------


def _answer(
    seen: list[dict[str, float | None]], report: dict[str, Any]
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer"})
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=report)

    return handler


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("http_client_timeout", "timeout", "sent"),
    [
        (httpx.Timeout(0.5), NOT_GIVEN, httpx.Timeout(0.5)),  # the caller's choice
        (httpx.Timeout(None), NOT_GIVEN, httpx.Timeout(None)),
        (httpx.Timeout(0.5), 2.0, httpx.Timeout(2.0)),  # timeout= wins
        (httpx.Timeout(5.0), NOT_GIVEN, DEFAULT_TIMEOUT),  # httpx's default: nobody chose it
    ],
)
async def test_the_http_clients_timeout_is_sent_unless_timeout_is_given(
    flavour: str,
    http_client_timeout: httpx.Timeout,
    timeout: Any,
    sent: httpx.Timeout,
    make_report: Any,
) -> None:
    seen: list[dict[str, float | None]] = []
    transport = httpx.MockTransport(_answer(seen, make_report()))
    options: dict[str, Any] = {"client_id": "a", "client_secret": "s", "retry": no_deadline()}
    if timeout is not NOT_GIVEN:
        options["timeout"] = timeout
    client: CRSClient | AsyncCRSClient
    if flavour == "sync":
        http = httpx.Client(timeout=http_client_timeout, transport=transport)
        client = CRSClient("https://crs.test", http_client=http, **options)
    else:
        ahttp = httpx.AsyncClient(timeout=http_client_timeout, transport=transport)
        client = AsyncCRSClient("https://crs.test", http_client=ahttp, **options)
    assert client.config.timeout == sent
    await get_and_close(client, "rpt_1")
    assert seen == [sent.as_dict()]


def no_deadline() -> RetryPolicy:
    return RetryPolicy(deadline=None)


@pytest.fixture
def slow_report(live_server: ServerProcess) -> Iterator[str]:
    """The id of a report the live server answers for only after 5 s."""
    report_id = f"rpt_{uuid.uuid4().hex}"
    fault = {
        "method": "GET",
        "path": f"/v1/reports/{report_id}",
        "action": "latency",
        "latency_ms": 5000,
    }
    rule = httpx.post(live_server.base_url + "/_mock/faults", json=fault)
    rule.raise_for_status()
    yield report_id
    httpx.delete(live_server.base_url + "/_mock/faults/" + rule.json()["id"]).raise_for_status()


def test_the_http_clients_timeout_bounds_a_slow_answer(
    live_server: ServerProcess, slow_report: str
) -> None:
    """Over a socket: the http_client's 0.2 s applies, not the SDK's default of 30 s."""
    with (
        httpx.Client(timeout=0.2) as http,
        CRSClient(**live(live_server), retry=RetryPolicy.disabled(), http_client=http) as client,
        pytest.raises(RequestTimeout),
    ):
        client.reports.get(slow_report)


@pytest.mark.anyio
async def test_the_async_http_clients_timeout_bounds_a_slow_answer(
    live_server: ServerProcess, slow_report: str
) -> None:
    async with (
        httpx.AsyncClient(timeout=0.2) as http,
        AsyncCRSClient(
            **live(live_server), retry=RetryPolicy.disabled(), http_client=http
        ) as client,
    ):
        with pytest.raises(RequestTimeout):
            await client.reports.get(slow_report)
