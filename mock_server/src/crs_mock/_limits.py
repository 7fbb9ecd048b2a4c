"""Limits on a request's header fields and body, and the problems that answer requests over them.

A body is read with `read_body`, which refuses it (``413``) as soon as it is known to be over its
limit: by its ``Content-Length``, or, sent without one (chunked), by counting bytes as they arrive.
The server never holds more than the limit and one received piece, and leaves the rest unread.

Header fields are limited in two layers, so that every refusal is a problem document:

- the app answers ``431`` (`invalid_request`) when the header fields (names and values) take more
  than `MAX_HEADER_BYTES`, naming the largest field; nothing is handled, so nothing changes;
- uvicorn's HTTP layer keeps at most `MAX_HEADER_BLOCK` bytes of a header block that has not ended
  (h11's limit for an incomplete event); past that, or on bytes that are not HTTP/1.1 at all, the
  protocol answers ``400`` (`invalid_request`) and closes the connection (`protocol_error_reply`).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from crs_mock._problems import ProblemError
from crs_mock._validation import is_ascii_digits

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.requests import Request

__all__ = [
    "MAX_HEADER_BLOCK",
    "MAX_HEADER_BYTES",
    "MAX_TOKEN_FORM",
    "new_request_id",
    "oversized_headers",
    "protocol_error_reply",
    "read_body",
]

#: Bytes of header field names and values a request may carry (nginx's default is 32 KiB too).
MAX_HEADER_BYTES = 32 * 1024
#: The largest token request body (a form of three short fields).
MAX_TOKEN_FORM = 64 * 1024

#: The largest header block the HTTP layer reads before the app can answer (the `431` above).
MAX_HEADER_BLOCK = 2 * 1024 * 1024


def new_request_id() -> str:
    """A fresh ``X-Request-Id`` value."""
    return f"req_{secrets.token_hex(12)}"


def oversized_headers(headers: Iterable[tuple[bytes, bytes]]) -> ProblemError | None:
    """The ``431`` problem for header fields over `MAX_HEADER_BYTES`, else None."""
    total = 0
    largest_name, largest_size = b"", -1
    for name, value in headers:
        size = len(name) + len(value)
        total += size
        if size > largest_size:
            largest_name, largest_size = name, size
    if total <= MAX_HEADER_BYTES:
        return None
    field = largest_name.decode("latin-1")
    return ProblemError(
        "invalid_request",
        f"The request's header fields take {total} bytes; at most {MAX_HEADER_BYTES} are "
        f"accepted. The largest is {field} ({largest_size} bytes).",
        status=431,
        title="Request header fields too large",
        header=field,
    )


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request's whole body if it is at most `limit` bytes; else a ``413`` problem (``{what}
    are limited to {limit} bytes``), raised before any byte is read when ``Content-Length`` says
    so, and as soon as the byte past `limit` arrives when no length was declared (chunked). The
    rest of a refused body is never read: nothing was handled, so nothing changes."""
    declared = request.headers.get("content-length", "")
    if is_ascii_digits(declared) and int(declared) > limit:
        raise _too_large(limit, what)
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise _too_large(limit, what)
    return bytes(body)


def _too_large(limit: int, what: str) -> ProblemError:
    return ProblemError("payload_too_large", f"{what} are limited to {limit} bytes")


def protocol_error_reply() -> tuple[str, bytes]:
    """The request id and problem body sent for bytes that cannot be taken as a request."""
    request_id = new_request_id()
    problem = ProblemError(
        "invalid_request",
        "The request is not valid HTTP/1.1, or its header block is over "
        f"{MAX_HEADER_BLOCK} bytes; the connection is closed.",
    )
    return request_id, problem.render(request_id=request_id, instance=None).body
