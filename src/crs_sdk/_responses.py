"""What comes back: httpx's errors and the server's error answers become the SDK's exceptions.

`map_transport_errors` is the one place where httpx's errors become the SDK's, and `api_error` the
one place where an error answer becomes an `APIError`; `decode_json` reads a successful answer into
a model. A `DecodeError` about an answer names the request it answers (`naming_the_request`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from crs_sdk._api_errors import api_error_from_response
from crs_sdk._converter import from_platform
from crs_sdk._exceptions import APIError, ConnectError, DecodeError, RequestTimeout, TransportError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crs_sdk._models import Problem

__all__ = [
    "api_error",
    "decode_json",
    "json_body",
    "map_transport_errors",
    "naming_the_request",
    "raise_for_status",
]

T = TypeVar("T")

_PROBLEM_TYPES = ("application/problem+json", "application/json")


@contextlib.contextmanager
def map_transport_errors() -> Iterator[None]:
    """Translate httpx's transport errors into the SDK's, chaining the original.

    The only place where this translation happens; both clients wrap every ``send`` in it. The
    exception is `httpx.LocalProtocolError` (the request itself is not valid HTTP): its message
    may repeat a header, so it is neither quoted nor chained as ``__cause__`` (a traceback would
    print it); it stays reachable as ``__context__``.
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RequestTimeout(f"request timed out: {type(exc).__name__}") from exc
    except httpx.ConnectError as exc:
        raise ConnectError(f"cannot connect: {exc}") from exc
    except httpx.LocalProtocolError:
        # Its message repeats the header it refused, which may be the Authorization header: not
        # chained (as __cause__, a traceback would print it), only kept as __context__.
        raise TransportError(
            "transport error: LocalProtocolError: the request is not valid HTTP (the HTTP "
            "library's message is left out: it may repeat a header, and a secret)"
        ) from None
    except httpx.TransportError as exc:
        raise TransportError(f"transport error: {type(exc).__name__}: {exc}") from exc
    except httpx.RequestError as exc:  # an unreadable answer (DecodingError), TooManyRedirects
        raise TransportError(f"no usable answer: {type(exc).__name__}: {exc}") from exc


def _is_json(response: httpx.Response) -> bool:
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media in _PROBLEM_TYPES or media.endswith("+json")


def _problem(response: httpx.Response) -> Problem | None:
    if not _is_json(response):
        return None
    from crs_sdk._models._common import Problem  # the models load on first use

    try:
        return from_platform(response.json(), Problem)
    except (DecodeError, ValueError, RecursionError):  # see json_body
        return None


def api_error(response: httpx.Response) -> APIError:
    """The exception for an error answer; its problem is ``None`` when the body is not one.

    The message names the request it answers (``GET /v1/reports/rpt_1``), as a `DecodeError`
    does: an error of the token endpoint is told apart from one of the call that needed it.
    """
    return api_error_from_response(
        response.status_code,
        _problem(response),
        request_id=response.headers.get("x-request-id"),
        headers=response.headers,
        request=_request_line(response),
    )


def _request_line(response: httpx.Response) -> str | None:
    """``<method> <path>`` of the request ``response`` answers, if it has one."""
    try:
        request = response.request
    except RuntimeError:  # an answer made without a request (tests)
        return None
    return f"{request.method} {request.url.path}"


def raise_for_status(response: httpx.Response) -> httpx.Response:
    """Return a successful response; raise the matching `APIError` for any other."""
    if response.is_success:
        return response
    raise api_error(response)


def _answer_to(response: httpx.Response) -> str:
    """Which request an answer is to, for a message: ``GET /v1/reports/rpt_1, request req_1``."""
    request_id = response.headers.get("x-request-id")
    named = f"request {request_id}" if request_id else "no request id"
    request = _request_line(response)
    return named if request is None else f"{request}, {named}"


@contextlib.contextmanager
def naming_the_request(response: httpx.Response) -> Iterator[None]:
    """Add to a `DecodeError` raised within which request ``response`` answers.

    The message ends with ``(<method> <path>, request <X-Request-Id>)``, and ``request_id`` is
    set: the platform's support needs them to find the answer. ``path`` and ``errors`` are kept.
    """
    try:
        yield
    except DecodeError as exc:
        error = DecodeError(
            f"{exc} ({_answer_to(response)})",
            path=exc.path,
            errors=exc.errors,
            request_id=response.headers.get("x-request-id"),
        )
        raise error from exc.__cause__


def _read_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise DecodeError(f"the answer is not JSON that can be read: {type(exc).__name__}") from exc


def json_body(response: httpx.Response) -> Any:
    """The JSON body of a successful answer.

    Raises:
        DecodeError: the body is not JSON, or is JSON that Python cannot read: nested too deeply
            (`RecursionError`), or an integer of more digits than `sys.get_int_max_str_digits`.
            The message names the request (`naming_the_request`).
    """
    with naming_the_request(response):
        return _read_json(response)


def decode_json(response: httpx.Response, cls: type[T]) -> T:
    """Decode a successful JSON answer into ``cls``.

    Raises:
        DecodeError: the body is not JSON, or does not fit ``cls`` (the message names the field,
            and the request: `naming_the_request`).
    """
    with naming_the_request(response):
        return from_platform(_read_json(response), cls)
