"""WebhookASGIApp under a real uvicorn server on loopback, and in-process for the edge cases."""

from __future__ import annotations

import asyncio
import socket
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from crs_sdk.webhooks import WebhookASGIApp, WebhookVerifier

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping


class _Server(uvicorn.Server):
    """A uvicorn server that says when it listens (a startup hook instead of a fixed sleep)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextmanager
def serve(app: WebhookASGIApp) -> Iterator[str]:
    """Run ``app`` under uvicorn on an ephemeral loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="none", http="h11")
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.ready.wait(timeout=0.05):
            assert thread.is_alive(), "uvicorn stopped before it started"
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


class AsyncRecorder:
    def __init__(self, failures: int = 0) -> None:
        self.events: list[Any] = []
        self.failures = failures

    async def __call__(self, event: Any) -> None:
        await asyncio.sleep(0)
        self.events.append(event)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("handler failed")


def test_real_server_handles_each_delivery_once(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = AsyncRecorder()
    with serve(WebhookASGIApp(verifier, handler)) as url, httpx.Client(base_url=url) as client:
        first = client.post("/webhooks/crs", content=body, headers=headers)
        assert first.status_code == 204
        assert [event.id for event in handler.events] == ["evt_000000000001"]
        replay = client.post("/webhooks/crs", content=body, headers=headers)
        assert replay.status_code == 200
        assert replay.text.startswith("duplicate")
        assert len(handler.events) == 1


def test_real_server_refuses_forgery(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = AsyncRecorder()
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    with serve(WebhookASGIApp(verifier, handler)) as url, httpx.Client(base_url=url) as client:
        response = client.post("/", content=body, headers=forged)
        assert response.status_code == 400
        assert response.text.startswith("invalid_signature")
        altered = client.post(
            "/", content=body.replace(b"submitted", b"withdrawn"), headers=headers
        )
        assert altered.status_code == 400
    assert handler.events == []


def test_real_server_handler_error_then_retry(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = AsyncRecorder(failures=1)
    with serve(WebhookASGIApp(verifier, handler)) as url, httpx.Client(base_url=url) as client:
        assert client.post("/", content=body, headers=headers).status_code == 500
        assert client.post("/", content=body, headers=headers).status_code == 204
        assert client.post("/", content=body, headers=headers).status_code == 200
    assert len(handler.events) == 2


def test_real_server_sync_handler_runs_in_a_worker_thread(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    threads: list[threading.Thread] = []
    with (
        serve(
            WebhookASGIApp(verifier, lambda _event: threads.append(threading.current_thread()))
        ) as url,
        httpx.Client(base_url=url) as client,
    ):
        assert client.post("/", content=body, headers=headers).status_code == 204
        assert client.get("/").status_code == 405
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()


def test_real_server_bounds_the_body(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = AsyncRecorder()
    app = WebhookASGIApp(verifier, handler, max_body_size=64)

    def chunks() -> Iterator[bytes]:
        yield body[:40]
        yield body[40:]

    with serve(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/", content=body, headers=headers).status_code == 413
        assert client.post("/", content=chunks(), headers=headers).status_code == 413  # chunked
    assert handler.events == []


# --- in process, through httpx.ASGITransport ----------------------------------------------------


@pytest.fixture
def asgi_client(
    verifier: WebhookVerifier,
) -> Callable[[WebhookASGIApp], httpx.AsyncClient]:
    def make(app: WebhookASGIApp) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://hooks")

    return make


@pytest.mark.anyio
async def test_in_process_statuses(
    verifier: WebhookVerifier,
    body: bytes,
    headers: dict[str, str],
    asgi_client: Callable[[WebhookASGIApp], httpx.AsyncClient],
) -> None:
    handler = AsyncRecorder()
    async with asgi_client(WebhookASGIApp(verifier, handler)) as client:
        assert (await client.post("/", content=body, headers=headers)).status_code == 204
        assert (await client.post("/", content=body, headers=headers)).status_code == 200
        response = await client.put("/", content=body, headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
    assert len(handler.events) == 1


@pytest.mark.anyio
async def test_handler_returning_an_awaitable_is_awaited(
    verifier: WebhookVerifier,
    body: bytes,
    headers: dict[str, str],
    asgi_client: Callable[[WebhookASGIApp], httpx.AsyncClient],
) -> None:
    handler = AsyncRecorder()

    def returns_a_coroutine(event: Any) -> Any:  # a plain function, as partial() or a lambda
        return handler(event)

    app = WebhookASGIApp(verifier, returns_a_coroutine)
    async with asgi_client(app) as client:
        assert (await client.post("/", content=body, headers=headers)).status_code == 204
    assert len(handler.events) == 1
    assert "WebhookVerifier(secrets=1" in repr(app)


@pytest.mark.anyio
async def test_streamed_body_over_the_limit_without_length(
    verifier: WebhookVerifier,
    body: bytes,
    headers: dict[str, str],
    asgi_client: Callable[[WebhookASGIApp], httpx.AsyncClient],
) -> None:
    async def stream() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 30

    app = WebhookASGIApp(verifier, AsyncRecorder(), max_body_size=100)
    async with asgi_client(app) as client:
        response = await client.post("/", content=stream(), headers=headers)
    assert response.status_code == 413


async def _run(
    app: WebhookASGIApp, scope: dict[str, Any], inbox: list[dict[str, Any]]
) -> list[MutableMapping[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return inbox.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_lifespan_websocket_and_disconnect(verifier: WebhookVerifier) -> None:
    app = WebhookASGIApp(verifier, AsyncRecorder())
    lifespan = await _run(
        app, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )
    assert [m["type"] for m in lifespan] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    websocket = await _run(app, {"type": "websocket"}, [{"type": "websocket.connect"}])
    assert websocket == [{"type": "websocket.close", "code": 1008}]
    huge = {"type": "http", "method": "POST", "headers": [(b"content-length", b"9" * 5000)]}
    too_large = await _run(app, huge, [{"type": "http.request", "body": b"{}"}])
    assert too_large[0]["status"] == 413  # more digits than int reads: too large, not a crash
    scope = {"type": "http", "method": "POST", "headers": []}
    gone = await _run(
        app, scope, [{"type": "http.request", "more_body": True}, {"type": "http.disconnect"}]
    )
    assert gone == []
