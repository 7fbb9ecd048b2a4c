"""How the app cuts a connection: the ``crs_mock.connection`` ASGI scope extension.

ASGI has no way for an application to reset or silently close the connection it is answering on.
A server (or test transport) that can do it puts a `Connection` in
``scope["extensions"]["crs_mock.connection"]``: ``crs-mock serve`` and the pytest plugin's live
server do (`crs_mock.FaultableH11Protocol`, a uvicorn protocol), and so does
`crs_mock.FaultingASGITransport` for in-process tests, which raises the httpx error a client would
see on a real socket. Under any other server, connection faults degrade to a ``503`` problem (the
fault is still journaled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from starlette.types import Scope

__all__ = ["CONNECTION_EXTENSION", "Connection", "connection_of"]

CONNECTION_EXTENSION: Final = "crs_mock.connection"


class Connection(Protocol):
    """The connection a request arrived on, as far as faults need it."""

    async def reset(self) -> None:
        """Abort the connection with a TCP reset; nothing more is sent. Returns once it is gone."""

    async def close(self) -> None:
        """Close the connection after what was already sent (a FIN). Returns once it is gone."""


def connection_of(scope: Scope) -> Connection | None:
    connection: Connection | None = scope.get("extensions", {}).get(CONNECTION_EXTENSION)
    return connection
