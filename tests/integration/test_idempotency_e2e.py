"""Lost answers and crowds of callers, against the in-process mock server.

A transport between the SDK and the app drops the answer of a request *after* the app has committed
it: the case idempotency keys exist for. Another one counts the token requests of 50 callers.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from crs_mock import SyncASGITransport, create_app
from crs_sdk import (
    AsyncCRSClient,
    CRSClient,
    NotFoundError,
    ReportStatus,
    WebhookEndpointCreate,
)
from crs_sdk.testing import no_retry_waits
from integration.test_reports_e2e import draft

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.applications import Starlette

BASE_URL = "http://crs.test"
CREDENTIALS = {"client_id": "demo-agency", "client_secret": "demo-secret"}


class Lossy:
    """Forward every request; for the first ``drops`` writes to ``path``, lose the answer."""

    def __init__(self, path: str, drops: int = 1, method: str = "POST") -> None:
        self.path = path
        self.drops = drops
        self.method = method
        self.keys: list[str | None] = []
        self.token_requests = 0
        self._lock = threading.Lock()

    def after(self, request: httpx.Request) -> None:
        """Called once the app has answered ``request``; raises to lose that answer."""
        with self._lock:
            if request.url.path == "/oauth/token":
                self.token_requests += 1
            if request.method != self.method or request.url.path != self.path:
                return
            self.keys.append(request.headers.get("idempotency-key"))
            if self.drops <= 0:
                return
            self.drops -= 1
        msg = "connection lost before the answer arrived"
        raise httpx.ReadError(msg, request=request)


class LossySync(httpx.BaseTransport):
    def __init__(self, app: Starlette, lossy: Lossy) -> None:
        self.inner = SyncASGITransport(app)
        self.lossy = lossy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.lossy.after(request)
        return response

    def close(self) -> None:
        self.inner.close()


class LossyAsync(httpx.AsyncBaseTransport):
    def __init__(self, app: Starlette, lossy: Lossy) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.lossy = lossy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.lossy.after(request)
        return response


@pytest.fixture
def app() -> Iterator[Starlette]:
    application = create_app()
    yield application
    application.state.mock.close()


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with no_retry_waits():
        yield


def test_a_lost_create_answer_is_retried_into_exactly_one_report_sync(app: Starlette) -> None:
    lossy = Lossy("/v1/reports", drops=2)
    transport = LossySync(app, lossy)
    with CRSClient(BASE_URL, transport=transport, **CREDENTIALS) as client:
        report = client.reports.create(draft())
        submitted = client.reports.submit(report.id)
        reports = list(client.reports.list())
    transport.close()
    assert [r.id for r in reports] == [report.id]
    assert submitted.status == ReportStatus.SUBMITTED
    assert len(lossy.keys) == 3
    assert len(set(lossy.keys)) == 1
    assert lossy.keys[0]


@pytest.mark.anyio
async def test_a_lost_submit_answer_is_retried_into_exactly_one_submission_async(
    app: Starlette,
) -> None:
    async with AsyncCRSClient(
        BASE_URL, transport=httpx.ASGITransport(app=app), **CREDENTIALS
    ) as client:
        report = await client.reports.create(draft())
    lossy = Lossy(f"/v1/reports/{report.id}/submit")
    async with AsyncCRSClient(BASE_URL, transport=LossyAsync(app, lossy), **CREDENTIALS) as client:
        submitted = await client.reports.submit(report.id)
        events = [event async for event in client.events.list()]
    assert submitted.status == ReportStatus.SUBMITTED
    assert [event.type for event in events].count("report.submitted") == 1
    assert len(lossy.keys) == 2
    assert lossy.keys[0] == lossy.keys[1]


def test_a_lost_delete_answer_is_retried_into_the_first_204(app: Starlette) -> None:
    with CRSClient(BASE_URL, transport=SyncASGITransport(app), **CREDENTIALS) as client:
        endpoint = client.webhook_endpoints.create(
            WebhookEndpointCreate(url="https://receiver.test/crs", event_types=("report.created",))
        )
    lossy = Lossy(f"/v1/webhook-endpoints/{endpoint.id}", method="DELETE")
    transport = LossySync(app, lossy)
    with CRSClient(BASE_URL, transport=transport, **CREDENTIALS) as client:
        client.webhook_endpoints.delete(endpoint.id)  # the retry is replayed: no NotFoundError
        with pytest.raises(NotFoundError):
            client.webhook_endpoints.get(endpoint.id)
    transport.close()
    assert len(lossy.keys) == 2
    assert lossy.keys[0] == lossy.keys[1]
    assert lossy.keys[0]


def test_fifty_threads_share_one_token(app: Starlette) -> None:
    lossy = Lossy("/nothing", drops=0)
    transport = LossySync(app, lossy)
    with CRSClient(BASE_URL, transport=transport, **CREDENTIALS) as client:
        created = client.reports.create(draft())
    transport.close()
    lossy.token_requests = 0
    transport = LossySync(app, lossy)
    with (
        CRSClient(BASE_URL, transport=transport, **CREDENTIALS) as client,
        ThreadPoolExecutor(max_workers=50) as pool,
    ):
        reports = list(pool.map(lambda _: client.reports.get(created.id), range(50)))
    transport.close()
    assert {r.id for r in reports} == {created.id}
    assert lossy.token_requests == 1


@pytest.mark.anyio
async def test_fifty_tasks_share_one_token(app: Starlette) -> None:
    lossy = Lossy("/nothing", drops=0)
    async with AsyncCRSClient(BASE_URL, transport=LossyAsync(app, lossy), **CREDENTIALS) as client:
        created = await client.reports.create(draft())
    lossy.token_requests = 0
    async with AsyncCRSClient(BASE_URL, transport=LossyAsync(app, lossy), **CREDENTIALS) as client:
        results = []

        async def fetch() -> None:
            results.append(await client.reports.get(created.id))

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(fetch)
    assert len(results) == 50
    assert lossy.token_requests == 1
