"""A webhook receiver as a WSGI application."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Final

from crs_sdk.webhooks._receive import (
    DEFAULT_MAX_BODY_SIZE,
    LENGTH_REQUIRED,
    MAX_LENGTH_DIGITS,
    METHOD_NOT_ALLOWED,
    WebhookResponse,
    handle_webhook,
    too_large,
)
from crs_sdk.webhooks._sign import HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from crs_sdk._models import Event
    from crs_sdk.webhooks._verify import WebhookVerifier

__all__ = ["WebhookWSGIApp"]

_ENVIRON_KEYS: Final = {
    name: "HTTP_" + name.upper().replace("-", "_")
    for name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE)
}
_CHUNK: Final = 64 * 1024


class WebhookWSGIApp:
    """A WSGI application that receives webhooks: mount it on any WSGI server or framework.

    It answers ``POST`` only (``405`` otherwise), needs a ``Content-Length`` (``411`` without one,
    unless the server sets ``wsgi.input_terminated``), reads the body up to ``max_body_size``
    (``413`` beyond), then behaves as :func:`~crs_sdk.webhooks.handle_webhook`.

    Args:
        verifier: Checks each delivery; give it a replay guard for at-most-once handling.
        handler: Called with each new event.
        max_body_size: The largest body accepted, in bytes (default 1 MiB).
    """

    def __init__(
        self,
        verifier: WebhookVerifier,
        handler: Callable[[Event], object],
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.verifier = verifier
        self.handler = handler
        self.max_body_size = max_body_size

    def __repr__(self) -> str:
        return f"WebhookWSGIApp({self.verifier!r}, {self.handler!r})"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        response = self._respond(environ)
        status = HTTPStatus(response.status)
        start_response(f"{status.value} {status.phrase}", list(response.headers))
        return [response.content]

    def _respond(self, environ: WSGIEnvironment) -> WebhookResponse:
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
            return METHOD_NOT_ALLOWED
        body = self._read_body(environ)
        if isinstance(body, WebhookResponse):
            return body
        headers = {
            name: environ[key]
            for name, key in _ENVIRON_KEYS.items()
            if isinstance(environ.get(key), str)
        }
        return handle_webhook(self.verifier, body, headers, self.handler)

    def _read_body(self, environ: WSGIEnvironment) -> bytes | WebhookResponse:
        stream = environ["wsgi.input"]
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        if length_text.isascii() and length_text.isdigit():  # "²" is a digit that int refuses
            if len(length_text) > MAX_LENGTH_DIGITS or int(length_text) > self.max_body_size:
                return too_large(self.max_body_size)
            length = int(length_text)
        elif environ.get("wsgi.input_terminated"):
            length = self.max_body_size + 1
        else:
            return LENGTH_REQUIRED
        chunks: list[bytes] = []
        remaining = length
        while remaining > 0:
            chunk = stream.read(min(remaining, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        body = b"".join(chunks)
        if len(body) > self.max_body_size:
            return too_large(self.max_body_size)
        return body
