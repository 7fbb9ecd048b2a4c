"""A token the server sends that cannot be a bearer token is refused when it arrives, and the
HTTP library's refusal of a header never puts the header (the token) in an exception."""

from __future__ import annotations

import inspect
import socket
import traceback
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import crs_sdk.testing
from crs_sdk import DecodeError, RetryPolicy, TransportError
from crs_sdk._auth import parse_token_response
from crs_sdk._responses import map_transport_errors
from sdk.mock_clients import mock_client

if TYPE_CHECKING:
    from collections.abc import Iterator

SECRET = "tok-secret-0123"


@pytest.fixture(autouse=True)
def _no_waits() -> Iterator[None]:
    with crs_sdk.testing.no_retry_waits():
        yield


def _token_answer(access_token: str) -> httpx.Response:
    body = {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}
    return httpx.Response(200, json=body, headers={"X-Request-Id": "req_tok"})


async def _call(function: Any, *args: Any) -> Any:
    result = function(*args)
    return await result if inspect.isawaitable(result) else result


def _told(error: BaseException) -> str:
    """Everything a log of ``error`` could show: its traceback with every cause and context."""
    return "".join(traceback.format_exception(error)) + repr(error) + repr(vars(error))


@pytest.mark.parametrize(
    "value",
    [
        SECRET + "\n",  # a gateway that appends a newline
        SECRET + "\u00e9",  # not ASCII: no header value at all
        SECRET + " x",
        SECRET + "\x00",
        SECRET + "\x7f",
        " " + SECRET,
        "",
    ],
    ids=["newline", "non-ascii", "space", "nul", "del", "leading-space", "empty"],
)
def test_a_token_no_header_can_carry_is_refused_without_its_value(value: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_token_response(_token_answer(value), now=0.0, refresh_margin=60.0)
    assert info.value.path == "$.access_token"
    assert "cannot be sent in an Authorization header" in str(info.value)
    if value:
        assert SECRET not in _told(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",  # a JWT
        "o2tcZmoCua3sXlevX9PjuQr8fLd7_JkdUlNqQjYXrb4",  # the mock's secrets.token_urlsafe
        "a-b.c_d~e+f/g==",
        # Not RFC 6750 b64tokens, yet what the contract (a non-empty string) and RFC 6749's
        # VSCHAR allow, and what a header carries: such tokens exist (e.g. "id|secret").
        "123456|Ab-cD_ef:ghi!",
        "=" + SECRET,
        SECRET + "=x",
    ],
)
def test_every_token_a_header_can_carry_is_accepted(value: str) -> None:
    token = parse_token_response(_token_answer(value), now=0.0, refresh_margin=60.0)
    assert token.value == value


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.anyio
async def test_a_call_with_a_bad_token_fails_once_without_the_token(flavour: str) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if request.url.path == "/oauth/token":
            return _token_answer(SECRET + "\n")
        return httpx.Response(200, json={})

    client = mock_client(flavour, handler, RetryPolicy())
    with pytest.raises(DecodeError) as info:
        await _call(client.reports.get, "rpt_1")
    await _call(client.close if flavour == "sync" else client.aclose)
    assert sent == ["/oauth/token"]  # refused at once: no API request, and no retry
    assert SECRET not in _told(info.value)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A listening socket that never answers: the request fails before a byte is read."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_header_the_http_library_refuses_is_not_in_the_error(silent_server: str) -> None:
    # Over a real socket: h11 is what refuses the header, and its message repeats the header.
    with httpx.Client(timeout=30) as http:
        request = http.build_request(
            "GET", silent_server, headers={"Authorization": f"Bearer {SECRET}\n"}
        )
        with pytest.raises(TransportError) as info, map_transport_errors():
            http.send(request)
    assert isinstance(info.value.__context__, httpx.LocalProtocolError)
    assert SECRET in str(info.value.__context__)  # what the SDK keeps out of its error
    assert "LocalProtocolError" in str(info.value)
    assert SECRET not in _told(info.value)


@pytest.mark.parametrize("digits", [309, 400])
def test_a_lifetime_beyond_a_float_is_a_decode_error(digits: int) -> None:
    body = b'{"access_token": "tok", "token_type": "Bearer", "expires_in": 1' + b"0" * digits + b"}"
    response = httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    with pytest.raises(DecodeError) as info:
        parse_token_response(response, now=0.0, refresh_margin=60.0)
    assert info.value.path == "$.expires_in"
    assert "out of range" in str(info.value)
