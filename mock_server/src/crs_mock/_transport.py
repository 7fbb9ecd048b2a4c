"""``SyncASGITransport``: drive the in-process app from a synchronous ``httpx.Client``.

httpx's own ``ASGITransport`` is async only. This one runs the app on an event loop in a helper
thread (an anyio blocking portal) so that ``crs_sdk.CRSClient`` can talk to the mock in-process,
exactly as ``AsyncCRSClient`` does through ``httpx.ASGITransport``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.from_thread
import httpx

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from anyio.from_thread import BlockingPortal
    from starlette.types import ASGIApp

__all__ = ["SyncASGITransport"]


class SyncASGITransport(httpx.BaseTransport):
    """A synchronous httpx transport that calls an ASGI app in the same process.

    Request and response bodies are buffered (the mock's in-process tests exchange small JSON
    documents; streaming uploads are tested over real sockets). ``close()`` stops the helper
    thread.

    .. versionadded:: 0.1.0
    """

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self._transport = httpx.ASGITransport(app=app, client=client)
        self._portal_context: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None

    def _get_portal(self) -> BlockingPortal:
        if self._portal is None:
            self._portal_context = anyio.from_thread.start_blocking_portal()
            self._portal = self._portal_context.__enter__()
        return self._portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the app and return its buffered response."""
        content = request.read()

        async def call() -> tuple[int, httpx.Headers, bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=content
            )
            response = await self._transport.handle_async_request(forwarded)
            try:
                body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            finally:
                await response.aclose()
            return response.status_code, response.headers, body

        status, headers, body = self._get_portal().call(call)
        return httpx.Response(status, headers=headers, content=body, request=request)

    def close(self) -> None:
        """Stop the helper thread (the app itself is not closed)."""
        if self._portal_context is not None:
            self._portal_context.__exit__(None, None, None)
            self._portal_context = None
            self._portal = None
