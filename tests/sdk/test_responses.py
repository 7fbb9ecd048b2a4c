"""Reading answers: every body Python's JSON cannot read is a `DecodeError` (or, in an error
answer, no problem), never a bare `RecursionError` or `ValueError`."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest

from crs_sdk import (
    AsyncCRSClient,
    CRSClient,
    DecodeError,
    RetryPolicy,
    ServiceUnavailableError,
)

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

    cls: Any = CRSClient if flavour == "sync" else AsyncCRSClient
    return cls(
        "https://crs.test",
        client_id="demo-agency",
        client_secret="demo-secret",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy.disabled(),
    )


async def _get(client: Any) -> Any:
    try:
        result = client.reports.get("rpt_1")
        return await result if inspect.isawaitable(result) else result
    finally:
        closed = client.close() if isinstance(client, CRSClient) else client.aclose()
        if inspect.isawaitable(closed):
            await closed


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
    assert str(info.value) == f"the answer is not JSON that can be read: {reason} (request req_7)"


@pytest.mark.parametrize("body", [DEEP, LONG_INTEGER], ids=["deep", "long-integer"])
async def test_an_unreadable_problem_is_no_problem(flavour: str, body: bytes) -> None:
    with pytest.raises(ServiceUnavailableError) as info:
        await _get(_client(flavour, _answer(503, body, "application/problem+json")))
    assert info.value.problem is None
    assert info.value.request_id == "req_7"
