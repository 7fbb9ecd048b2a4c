"""A webhook receiver as an ASGI application, and `ahandle_webhook` for async frameworks."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio.to_thread

from crs_sdk.webhooks._receive import (
    ACCEPTED,
    DEFAULT_MAX_BODY_SIZE,
    HANDLER_FAILED,
    MAX_LENGTH_DIGITS,
    METHOD_NOT_ALLOWED,
    WebhookResponse,
    admit,
    finish,
    logger,
    release,
    too_large,
)

if TYPE_CHECKING:
    from crs_sdk._models import Event
    from crs_sdk.webhooks._verify import HeaderTypes, WebhookVerifier

__all__ = ["WebhookASGIApp", "ahandle_webhook"]

_Message: TypeAlias = MutableMapping[str, Any]
_Receive: TypeAlias = Callable[[], Awaitable[_Message]]
_Send: TypeAlias = Callable[[_Message], Awaitable[None]]


class _BodyTooLargeError(Exception):
    pass


class _DisconnectedError(Exception):
    pass


def _is_async(handler: object) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


class WebhookASGIApp:
    """An ASGI application that receives webhooks: mount it on any ASGI server or framework.

    It answers ``POST`` only (``405`` otherwise), reads the whole body up to ``max_body_size``
    (``413`` beyond), then behaves as :func:`~crs_sdk.webhooks.ahandle_webhook`. Verification
    runs in a worker thread, since a replay guard may touch the disk.

    Args:
        verifier: Checks each delivery; give it a replay guard for at-most-once handling.
        handler: Called with each new event. An ``async`` handler is awaited; a plain function runs
            in a worker thread.
        max_body_size: The largest body accepted, in bytes (default 1 MiB).

    Example:
        >>> from crs_sdk.webhooks import MemoryReplayGuard, WebhookASGIApp, WebhookVerifier
        >>> async def on_event(event):
        ...     print(event.type)
        >>> verifier = WebhookVerifier(
        ...     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", replay_guard=MemoryReplayGuard()
        ... )
        >>> app = WebhookASGIApp(verifier, on_event)  # uvicorn.run(app) serves it
    """

    def __init__(
        self,
        verifier: WebhookVerifier,
        handler: Callable[[Event], Awaitable[object]] | Callable[[Event], object],
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.verifier = verifier
        self.handler = handler
        self.max_body_size = max_body_size

    def __repr__(self) -> str:
        return f"WebhookASGIApp({self.verifier!r}, {self.handler!r})"

    async def __call__(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        """Serve one ASGI connection (``http``; ``lifespan`` is acknowledged)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            response = await self._respond(scope, receive)
            if response is not None:
                await _send_response(send, response)
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _respond(self, scope: _Message, receive: _Receive) -> WebhookResponse | None:
        if scope["method"] != "POST":
            return METHOD_NOT_ALLOWED
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        try:
            body = await self._read_body(headers, receive)
        except _BodyTooLargeError:
            return too_large(self.max_body_size)
        except _DisconnectedError:
            return None
        return await ahandle_webhook(self.verifier, body, headers, self.handler)

    async def _read_body(self, headers: list[tuple[bytes, bytes]], receive: _Receive) -> bytes:
        for name, value in headers:
            declared = value.strip()
            oversized = declared.isdigit() and (  # more digits than int reads is oversized too
                len(declared) > MAX_LENGTH_DIGITS or int(declared) > self.max_body_size
            )
            if name.lower() == b"content-length" and oversized:
                raise _BodyTooLargeError
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _DisconnectedError
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                raise _BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def ahandle_webhook(
    verifier: WebhookVerifier,
    body: bytes | str,
    headers: HeaderTypes,
    handler: Callable[[Event], Awaitable[object]] | Callable[[Event], object],
) -> WebhookResponse:
    """:func:`~crs_sdk.webhooks.handle_webhook` for asynchronous frameworks (FastAPI, Starlette,
    aiohttp, ...): the same checks and answers, with an ``async`` handler awaited.

    Verification runs in a worker thread (a replay guard may touch the disk), and so does a plain
    function given as ``handler``; an ``async`` handler is awaited.

    Args:
        verifier: Checks the delivery; give it a replay guard for at-most-once handling.
        body: The raw request body, exactly as received (``await request.body()``).
        headers: The request headers.
        handler: Called with the event (see :func:`~crs_sdk.webhooks.handle_webhook`).

    Returns:
        What to answer, as :func:`~crs_sdk.webhooks.handle_webhook` returns it.

    Raises:
        Exception: Whatever the replay guard raises; the handler has not been called.

    .. versionadded:: 0.1.0
    """
    admitted = await anyio.to_thread.run_sync(admit, verifier, body, headers)
    if isinstance(admitted, WebhookResponse):
        return admitted
    try:
        await _call_handler(handler, admitted.event)
    except Exception:  # noqa: BLE001 - any handler failure is answered 500 and logged
        logger.exception("webhook %s: handler failed", admitted.webhook_id)
        await anyio.to_thread.run_sync(release, verifier, admitted.webhook_id)
        return HANDLER_FAILED
    except BaseException:
        release(verifier, admitted.webhook_id)
        raise
    finish(verifier, admitted.webhook_id)
    return ACCEPTED


async def _call_handler(
    handler: Callable[[Event], Awaitable[object]] | Callable[[Event], object], event: Event
) -> None:
    if _is_async(handler):
        await handler(event)  # type: ignore[misc]
        return
    result = await anyio.to_thread.run_sync(handler, event)
    if inspect.isawaitable(result):  # e.g. a lambda or partial around a coroutine function
        await result


async def _lifespan(receive: _Receive, send: _Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _send_response(send: _Send, response: WebhookResponse) -> None:
    content = response.content
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in response.headers
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
