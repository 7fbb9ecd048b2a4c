"""Webhooks end to end over real sockets.

A real ``crs-mock serve`` subprocess delivers to a real receiver: the SDK's `WebhookASGIApp` under
uvicorn on an ephemeral loopback port, in a background thread. A report is taken through its
lifecycle and every transition must arrive once, verified; a failed delivery is retried when the
mock's (frozen) virtual clock is advanced, by the server's own background worker.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from crs_mock import ServerProcess
from crs_sdk.webhooks import MemoryReplayGuard, WebhookASGIApp, WebhookVerifier
from mock.mock_support import REPORT

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from crs_sdk import Event

WAIT = 15.0
LIFECYCLE = [
    "report.created",
    "report.submitted",
    "report.acknowledged",
    "report.in_review",
    "report.decided",
]


@dataclass
class Inbox:
    """Events handled by the receiver, and a condition to wait on."""

    events: list[Event] = field(default_factory=list)
    fail_next: set[str] = field(default_factory=set)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def handle(self, event: Event) -> None:
        """The receiver's handler (a plain function: runs in a worker thread)."""
        with self.changed:
            if str(event.type) in self.fail_next:
                self.fail_next.discard(str(event.type))
                raise RuntimeError("the receiver is briefly down")  # answered 500
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, count: int) -> list[Event]:
        with self.changed:
            arrived = self.changed.wait_for(lambda: len(self.events) >= count, timeout=WAIT)
            assert arrived, f"only {len(self.events)} of {count} webhooks arrived"
            return list(self.events)


class LateBoundApp:
    """An ASGI app whose receiver is set once the endpoint (and so its secret) exists."""

    def __init__(self) -> None:
        self.inner: WebhookASGIApp | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.inner is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.inner(scope, receive, send)


@pytest.fixture
def receiver() -> Iterator[tuple[str, LateBoundApp]]:
    """A uvicorn server on an ephemeral loopback port, in a thread; yields its URL and app."""
    app = LateBoundApp()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hooks/crs", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of our own: webhook tests freeze its clock and see all of the agency's events."""
    with ServerProcess(tmp_path / "crs-mock.sqlite3") as live:
        yield live


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        token = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(server.client_id, server.client_secret),
        )
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        assert client.post("/_mock/clock/freeze").status_code == 200
        yield client


def register(api: httpx.Client, url: str, app: LateBoundApp, inbox: Inbox) -> dict[str, Any]:
    response = api.post("/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    verifier = WebhookVerifier(endpoint["secret"], replay_guard=MemoryReplayGuard())
    app.inner = WebhookASGIApp(verifier, inbox.handle)
    return endpoint


def attempts(api: httpx.Client, endpoint_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_a_report_lifecycle_arrives_once_and_verified(
    api: httpx.Client, receiver: tuple[str, LateBoundApp]
) -> None:
    url, app = receiver
    inbox = Inbox()
    endpoint = register(api, url, app, inbox)
    report = api.post("/v1/reports", json=REPORT).json()
    assert api.post(f"/v1/reports/{report['id']}/submit").status_code == 200
    decided = api.post(f"/_mock/reports/{report['id']}/decide", json={"outcome": "actioned"})
    assert decided.status_code == 200, decided.text

    events = inbox.wait_for(len(LIFECYCLE))
    log = api.get("/v1/events").json()["data"]
    assert sorted(str(event.type) for event in events) == sorted(LIFECYCLE)
    assert sorted(event.id for event in events) == [event["id"] for event in log]
    assert all(event.data.report_id == report["id"] for event in events)  # type: ignore[union-attr]

    # Each attempt's outcome is recorded just after the receiver answered: wait for all of them.
    _wait_for_attempt(api, endpoint["id"], status="succeeded", count=len(LIFECYCLE))
    delivered = attempts(api, endpoint["id"])
    assert len(delivered) == len(LIFECYCLE)
    assert {a["status"] for a in delivered} == {"succeeded"}
    assert {a["status_code"] for a in delivered} == {204}
    assert len(inbox.events) == len(LIFECYCLE)  # nothing arrived twice


def test_a_failed_delivery_is_retried_when_the_clock_advances(
    api: httpx.Client, receiver: tuple[str, LateBoundApp]
) -> None:
    url, app = receiver
    inbox = Inbox(fail_next={"report.created"})
    endpoint = register(api, url, app, inbox)
    api.post("/v1/reports", json=REPORT)

    with inbox.changed:
        failed = inbox.changed.wait_for(lambda: not inbox.fail_next, timeout=WAIT)
    assert failed, "the first delivery never arrived"
    first = _wait_for_attempt(api, endpoint["id"], status="failed")
    assert first["status_code"] == 500
    assert inbox.events == []  # the clock is frozen: no retry yet

    assert api.post("/_mock/clock/advance", json={"seconds": 5}).status_code == 200
    (event,) = inbox.wait_for(1)
    assert str(event.type) == "report.created"
    retried = _wait_for_attempt(api, endpoint["id"], status="succeeded")
    assert retried["attempt"] == 2
    assert retried["webhook_id"] == first["webhook_id"]
    assert retried["attempted_at"] == first["next_attempt_at"]


def _wait_for_attempt(
    api: httpx.Client, endpoint_id: str, *, status: str, count: int = 1
) -> dict[str, Any]:
    """The first attempt with `status`, once `count` of them are recorded (each just after the
    receiver answered)."""
    done = threading.Event()
    for _ in range(100):
        found = [a for a in attempts(api, endpoint_id) if a["status"] == status]
        if len(found) >= count:
            return found[0]
        done.wait(0.05)  # the answer is in; its record follows within milliseconds
    pytest.fail(f"fewer than {count} {status} attempt(s) were recorded")
