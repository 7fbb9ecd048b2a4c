"""Reading answers: every body Python's JSON cannot read is a `DecodeError` (or, in an error
answer, no problem), never a bare `RecursionError` or `ValueError`; a `DecodeError` about an
answer names the request it answers."""

from __future__ import annotations

import inspect
import json
from typing import Any

import httpx
import pytest

from crs_sdk import (
    AuthenticationError,
    CRSClient,
    DecodeError,
    NotFoundError,
    ServiceUnavailableError,
)
from crs_sdk._auth import parse_token_response
from sdk.mock_clients import mock_client

DEEP = b"[" * 100_000 + b"]" * 100_000  # beyond the recursion limit of the json module
LONG_INTEGER = b'{"evidence_count": 1' + b"0" * 5000 + b"}"  # beyond sys.get_int_max_str_digits()

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client(flavour: str, answer: httpx.Response) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            body = {"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
            return httpx.Response(200, json=body)
        return answer

    return mock_client(flavour, handler)


async def _close(client: Any) -> None:
    closed = client.close() if isinstance(client, CRSClient) else client.aclose()
    if inspect.isawaitable(closed):
        await closed


async def _get(client: Any) -> Any:
    try:
        result = client.reports.get("rpt_1")
        return await result if inspect.isawaitable(result) else result
    finally:
        await _close(client)


async def _every(pager: Any) -> list[Any]:
    if hasattr(pager, "__aiter__"):
        return [item async for item in pager]
    return list(pager)


def _answer(status: int, body: bytes, media_type: str = "application/json") -> httpx.Response:
    headers = {"Content-Type": media_type, "X-Request-Id": "req_7"}
    return httpx.Response(status, content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (DEEP, "RecursionError"),
        (LONG_INTEGER, "ValueError"),
        (b"{not json", "JSONDecodeError"),
        (b'"\xff"', "UnicodeDecodeError"),
    ],
    ids=["deep", "long-integer", "not-json", "not-utf8"],
)
async def test_an_unreadable_answer_is_a_decode_error(
    flavour: str, body: bytes, reason: str
) -> None:
    with pytest.raises(DecodeError) as info:
        await _get(_client(flavour, _answer(200, body)))
    assert str(info.value) == (
        f"the answer is not JSON that can be read: {reason} (GET /v1/reports/rpt_1, request req_7)"
    )
    assert info.value.request_id == "req_7"


@pytest.mark.parametrize("body", [DEEP, LONG_INTEGER], ids=["deep", "long-integer"])
async def test_an_unreadable_problem_is_no_problem(flavour: str, body: bytes) -> None:
    with pytest.raises(ServiceUnavailableError) as info:
        await _get(_client(flavour, _answer(503, body, "application/problem+json")))
    assert info.value.problem is None
    assert info.value.request_id == "req_7"


async def test_an_answer_that_does_not_fit_names_its_request(
    flavour: str, make_report: Any
) -> None:
    body = json.dumps(make_report(evidence_count="2")).encode()
    with pytest.raises(DecodeError) as info:
        await _get(_client(flavour, _answer(200, body)))
    assert str(info.value) == (
        "cannot decode Report: expected an integer @ $.evidence_count"
        " (GET /v1/reports/rpt_1, request req_7)"
    )
    assert info.value.path == "$.evidence_count"
    assert info.value.errors == ("expected an integer @ $.evidence_count",)
    assert info.value.request_id == "req_7"


async def test_a_page_of_events_that_does_not_fit_names_its_request(flavour: str) -> None:
    client = _client(flavour, _answer(200, b'{"data": "", "next_cursor": null}'))
    with pytest.raises(DecodeError) as info:
        await _every(client.events.list())
    assert str(info.value).endswith("(GET /v1/events, request req_7)")
    assert info.value.path == "$.data"
    await _close(client)


def test_an_answer_without_a_request_id_says_so() -> None:
    request = httpx.Request("POST", "https://crs.test/oauth/token")
    body = {"access_token": "tok", "token_type": "mac", "expires_in": 60}
    with pytest.raises(DecodeError) as info:
        parse_token_response(
            httpx.Response(200, json=body, request=request), now=0.0, refresh_margin=60.0
        )
    assert str(info.value) == "unsupported token type 'mac' (POST /oauth/token, no request id)"
    assert (info.value.path, info.value.request_id) == ("$.token_type", None)


async def test_an_error_answer_names_the_request_it_answers(flavour: str) -> None:
    """Before the fix: ``404 Not Found (request req_7)``, with no word of which call it was."""
    problem = json.dumps({"type": "about:blank", "title": "Not Found", "status": 404}).encode()
    with pytest.raises(NotFoundError) as info:
        await _get(_client(flavour, _answer(404, problem, "application/problem+json")))
    assert str(info.value) == "404 Not Found (GET /v1/reports/rpt_1, request req_7)"


async def test_an_error_of_the_token_endpoint_names_it(flavour: str) -> None:
    """Before the fix, the client's refused credentials and a 401 of the call read the same."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/token"
        return httpx.Response(401, json={"error": "invalid_client"})

    with pytest.raises(AuthenticationError, match=r"\(POST /oauth/token\)$"):
        await _get(mock_client(flavour, handler))
