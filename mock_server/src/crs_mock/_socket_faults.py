"""Connection faults over a real socket: a uvicorn HTTP protocol that lets the app cut it.

`FaultableH11Protocol` is uvicorn's h11 protocol plus the ``crs_mock.connection`` scope extension
(see `crs_mock._connection`): `reset` sets ``SO_LINGER`` to zero and aborts the transport, so
the kernel sends a TCP RST (the client reads ``ECONNRESET``); `close` closes it after what was
written (a FIN: the client sees the server disconnect, mid-answer or before any). Either waits
until uvicorn has seen the connection go, so uvicorn neither answers ``500`` for the app nor logs an
error.

Its access log lines (``crs-mock serve`` without ``--no-access-log``) replace the values of
query parameters whose names hold ``secret`` or ``token`` (a ``client_secret`` or
``access_token`` a misconfigured client put in the URL) with ``[redacted]``, as the request journal
does. They go to the logger ``uvicorn.access.crs_mock``, a child of uvicorn's access logger, so
they are handled and formatted as uvicorn's own lines are, and no other server's are changed.

It also answers what uvicorn refuses before the app sees a request (bytes that are not HTTP/1.1,
a header block over `MAX_HEADER_BLOCK`) with a ``400`` problem document instead of plain text.

`uvicorn_config` builds the ``uvicorn.Config`` that ``crs-mock serve`` and `ThreadedServer` use.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import TYPE_CHECKING, Any

import anyio
import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from crs_mock._connection import CONNECTION_EXTENSION
from crs_mock._journal import redact_query
from crs_mock._limits import MAX_HEADER_BLOCK, protocol_error_reply
from crs_mock._problems import PROBLEM_CONTENT_TYPE

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["FaultableH11Protocol", "uvicorn_config"]

#: How long a cut may take to be noticed before the app carries on anyway.
_GONE_TIMEOUT = 5.0


def _redact_access_line(record: logging.LogRecord) -> bool:
    """Redact the secrets in the query of an access line (its arguments: client address,
    method, path with query, HTTP version, status)."""
    args = record.args
    if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):  # noqa: PLR2004
        path, mark, query = args[2].partition("?")
        if mark and query:
            record.args = (*args[:2], f"{path}?{redact_query(query)}", *args[3:])
    return True


_ACCESS_LOGGER = logging.getLogger("uvicorn.access.crs_mock")
_ACCESS_LOGGER.addFilter(_redact_access_line)


class FaultableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with `reset`/`close` of the connection offered to the app, and
    access log lines without the secrets of query strings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_logger = _ACCESS_LOGGER  # whether to log at all stays uvicorn's decision
        self.gone = asyncio.Event()
        app = self.app

        async def app_with_connection(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[CONNECTION_EXTENSION] = _SocketConnection(self)
            await app(scope, receive, send)

        self.app = app_with_connection

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.gone.set()

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - uvicorn's plain-text message
        """Answer bytes that are not a request as a ``400 invalid_request`` problem, then close."""
        request_id, body = protocol_error_reply()
        headers = [
            (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
            (b"x-request-id", request_id.encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


#: Seconds an idle keep-alive connection stays open. uvicorn's default (5 s) equals httpx's pool
#: expiry (5 s), so a client could reuse a connection just as the server closed it and see a
#: ``ReadError`` it did not cause; 75 s (nginx's default) outlasts common client pools.
KEEP_ALIVE_SECONDS = 75


def uvicorn_config(app: ASGIApp, **options: Any) -> uvicorn.Config:
    """The mock's uvicorn configuration: `FaultableH11Protocol`, header blocks up to
    `MAX_HEADER_BLOCK` (so the app can answer ``431`` for oversized ones), idle connections kept
    `KEEP_ALIVE_SECONDS`, and ``options``."""
    return uvicorn.Config(
        app,
        http=FaultableH11Protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BLOCK,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        **options,
    )


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
