"""The SDK against the mock server: every client (sync, async) over every path (in-process, socket).

Each test gets a fresh agency of its own, so tests sharing the session's real server cannot see each
other's reports or events. ``crs`` wraps a client so one test body drives both clients:
``await crs("reports.create", draft)`` awaits the async client or runs the sync one in a thread.
"""

from __future__ import annotations

import inspect
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import attrs
import httpx
import pytest

from crs_mock import SyncASGITransport, create_app
from crs_sdk import AsyncCRSClient, CRSClient, RetryPolicy
from crs_sdk.testing import no_retry_waits

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from starlette.applications import Starlette

    from crs_mock import ServerProcess

IN_PROCESS_URL = "http://crs.test"


@attrs.define
class Crs:
    """One SDK client under test, with the mock's control API next to it."""

    client: CRSClient | AsyncCRSClient
    control: httpx.AsyncClient
    agency: str
    secret: str = attrs.field(repr=False)

    @property
    def is_async(self) -> bool:
        return isinstance(self.client, AsyncCRSClient)

    async def __call__(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``operation`` (``"reports.create"``) on the client; pagers come back as lists."""
        target: Any = self.client
        for name in operation.split("."):
            target = getattr(target, name)
        if self.is_async:
            result = target(*args, **kwargs)
            if inspect.isawaitable(result):
                return await result
            return [item async for item in result]
        result = await anyio.to_thread.run_sync(partial(target, *args, **kwargs))
        if hasattr(result, "__next__") or type(result).__name__.endswith("Pager"):
            return await anyio.to_thread.run_sync(list, result)
        return result

    async def advance(self, seconds: float) -> None:
        """Move the mock's virtual clock forward."""
        response = await self.control.post("/_mock/clock/advance", json={"seconds": seconds})
        response.raise_for_status()

    async def decide(self, report_id: str, outcome: str, **body: Any) -> None:
        """Force the platform's decision on a report."""
        response = await self.control.post(
            f"/_mock/reports/{report_id}/decide", json={"outcome": outcome, **body}
        )
        response.raise_for_status()

    async def request_info(self, report_id: str, question: str) -> None:
        """Force the platform to ask for more information."""
        response = await self.control.post(
            f"/_mock/reports/{report_id}/request-info", json={"question": question}
        )
        response.raise_for_status()


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with no_retry_waits():
        yield


@pytest.fixture
def in_process_app() -> Iterator[Starlette]:
    app = create_app()
    yield app
    app.state.mock.close()


async def _new_agency(control: httpx.AsyncClient) -> tuple[str, str]:
    agency = f"agency-{uuid.uuid4().hex[:10]}"
    secret = uuid.uuid4().hex
    response = await control.post(
        "/_mock/agencies", json={"client_id": agency, "client_secret": secret}
    )
    assert response.status_code in {200, 201}, response.text
    return agency, secret


def _client(
    flavour: str, base_url: str, agency: str, secret: str, **http: Any
) -> CRSClient | AsyncCRSClient:
    retry = RetryPolicy(deadline=30.0)
    if flavour == "async":
        return AsyncCRSClient(base_url, client_id=agency, client_secret=secret, retry=retry, **http)
    return CRSClient(base_url, client_id=agency, client_secret=secret, retry=retry, **http)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["in-process", "socket"])
async def crs(
    request: pytest.FixtureRequest, flavour: str, in_process_app: Starlette
) -> AsyncIterator[Crs]:
    """An SDK client bound to a fresh agency, in-process or over a real socket."""
    own_transport: SyncASGITransport | None = None
    if request.param == "in-process":
        control = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=in_process_app), base_url=IN_PROCESS_URL
        )
        agency, secret = await _new_agency(control)
        if flavour == "async":
            http: Any = {"transport": httpx.ASGITransport(app=in_process_app)}
        else:
            own_transport = SyncASGITransport(in_process_app)
            http = {"transport": own_transport}
        client = _client(flavour, IN_PROCESS_URL, agency, secret, **http)
    else:
        server: ServerProcess = request.getfixturevalue("live_server")
        control = httpx.AsyncClient(base_url=server.base_url)
        agency, secret = await _new_agency(control)
        client = _client(flavour, server.base_url, agency, secret)
    try:
        yield Crs(client, control, agency, secret)
    finally:
        if isinstance(client, AsyncCRSClient):
            await client.aclose()
        else:
            client.close()
        if own_transport is not None:
            own_transport.close()
        await control.aclose()
