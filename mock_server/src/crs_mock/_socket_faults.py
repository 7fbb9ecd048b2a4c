"""Connection faults over a real socket: a uvicorn HTTP protocol that lets the app cut it.

`FaultableH11Protocol` is uvicorn's h11 protocol plus the ``crs_mock.connection`` scope extension
(see `crs_mock._connection`): `reset` sets ``SO_LINGER`` to zero and aborts the transport, so
the kernel sends a TCP RST (the client reads ``ECONNRESET``); `close` closes it after what was
written (a FIN: the client sees the server disconnect, mid-answer or before any). Either waits
until uvicorn has seen the connection go, so uvicorn neither answers ``500`` for the app nor logs an
error.

Use it with ``uvicorn.Config(app, http=FaultableH11Protocol)``; ``crs-mock serve`` does.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING, Any

import anyio
from uvicorn.protocols.http.h11_impl import H11Protocol

from crs_mock._connection import CONNECTION_EXTENSION

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

__all__ = ["FaultableH11Protocol"]

#: How long a cut may take to be noticed before the app carries on anyway.
_GONE_TIMEOUT = 5.0


class FaultableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with `reset`/`close` of the connection offered to the app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gone = asyncio.Event()
        app = self.app

        async def app_with_connection(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[CONNECTION_EXTENSION] = _SocketConnection(self)
            await app(scope, receive, send)

        self.app = app_with_connection

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.gone.set()


class _SocketConnection:
    def __init__(self, protocol: FaultableH11Protocol) -> None:
        self._protocol = protocol

    async def reset(self) -> None:
        transport = self._protocol.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await self._until_gone()

    async def close(self) -> None:
        self._protocol.transport.close()
        await self._until_gone()

    async def _until_gone(self) -> None:
        with anyio.move_on_after(_GONE_TIMEOUT):
            await self._protocol.gone.wait()
