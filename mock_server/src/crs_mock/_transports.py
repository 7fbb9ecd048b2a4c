"""httpx transports that run the mock in-process and still fail like a network does.

`FaultingASGITransport` is ``httpx.ASGITransport`` with the ``crs_mock.connection`` extension: when
a fault cuts the connection it raises what httpx raises on a real socket (``httpx.ReadError`` for a
reset, ``httpx.RemoteProtocolError`` for a server that hung up before or during its answer), so the
SDK's retry logic sees the same failures in-process as over TCP. `FaultingSyncASGITransport` is its
synchronous twin (a `SyncASGITransport`), for ``CRSClient``.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

import httpx

from crs_mock._connection import CONNECTION_EXTENSION
from crs_mock._transport import SyncASGITransport

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FaultingASGITransport", "FaultingSyncASGITransport"]


class _InProcessConnection:
    """Records how the app cut the connection; the transport turns it into the httpx error."""

    def __init__(self) -> None:
        self.cut: str | None = None  # "reset" or "close"
        self.started = False
        self.expected: int | None = None
        self.received = 0

    async def reset(self) -> None:
        self.cut = "reset"

    async def close(self) -> None:
        self.cut = "close"

    def error(self, request: httpx.Request) -> httpx.TransportError:
        if self.cut == "reset":
            return httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        if not self.started:
            return httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body "
            f"(received {self.received} bytes, expected {self.expected})",
            request=request,
        )


class _ConnectionCutError(Exception):
    """Ends the app's call once it cut the connection (nothing after that reaches the client)."""


_current: contextvars.ContextVar[_InProcessConnection] = contextvars.ContextVar("crs_connection")


class FaultingASGITransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` whose connection the app can reset or close (for fault rules).

    .. versionadded:: 0.1.0
    """

    def __init__(self, app: ASGIApp, **kwargs: Any) -> None:
        self.target = app
        super().__init__(app=self._serve, **kwargs)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        connection = _InProcessConnection()
        token = _current.set(connection)
        try:
            response = await super().handle_async_request(request)
        except _ConnectionCutError:
            raise connection.error(request) from None
        finally:
            _current.reset(token)
        if connection.cut is not None:
            raise connection.error(request)
        return response

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = _current.get()
        scope.setdefault("extensions", {})[CONNECTION_EXTENSION] = connection

        async def watched_send(message: Message) -> None:
            if connection.cut is not None:
                return
            if message["type"] == "http.response.start":
                connection.started = True
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-length":
                        connection.expected = int(value)
            elif message["type"] == "http.response.body":
                connection.received += len(message.get("body", b""))
            await send(message)

        await self.target(scope, receive, watched_send)
        if connection.cut is not None:
            raise _ConnectionCutError


class FaultingSyncASGITransport(SyncASGITransport):
    """`SyncASGITransport` over `FaultingASGITransport`: for ``CRSClient`` in-process tests.

    .. versionadded:: 0.1.0
    """

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        super().__init__(app, client=client)
        self._transport = FaultingASGITransport(app, client=client)
