"""A problem's size is bounded whatever the request: the values it echoes (ids from the path, names
from the body, header names) are shortened, and at most 100 field errors are listed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from crs_mock._problems import MAX_FIELD_ERRORS, MAX_PROBLEM_TEXT, path_reference, shorten
from mock.mock_support import assert_problem

if TYPE_CHECKING:
    import httpx

    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio

LONG = "x" * 50_000
#: The bound on a whole problem with no field errors: seven members, a few strings of at most
#: `MAX_PROBLEM_TEXT` characters (each at most 3 bytes in UTF-8 here: ASCII and U+2026).
BOUND = 8 * 1024


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _assert_bounded(response: httpx.Response) -> None:
    assert len(response.content) <= BOUND + MAX_FIELD_ERRORS * 2 * 3 * MAX_PROBLEM_TEXT
    assert all(len(text) <= MAX_PROBLEM_TEXT for text in _strings(response.json()))


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/reports/{id}", 404, "not_found"),
        ("POST", "/v1/reports/{id}/submit", 404, "not_found"),
        ("GET", "/v1/webhook-endpoints/{id}/deliveries", 404, "not_found"),
        ("DELETE", "/_mock/faults/{id}", 404, "not_found"),
        ("GET", "/v1/{id}", 404, "not_found"),
        ("PUT", "/v1/reports/{id}", 405, "method_not_allowed"),
    ],
)
async def test_a_long_id_in_the_path_is_shortened(
    demo: Agency, method: str, path: str, status: int, code: str
) -> None:
    url = path.format(id=f"rpt_{LONG}")
    answer = await demo.client.request(method, url, headers=demo.headers)
    assert answer.status_code == status, answer.text[:300]
    problem = answer.json()
    _assert_bounded(answer)
    assert problem["code"] == code
    assert problem["instance"] == path_reference(url)
    assert problem["instance"].startswith(url[:100])
    assert problem["instance"].endswith(url[-100:])
    assert "\u2026" in problem["detail"]


async def test_many_unknown_fields_list_the_first_100(demo: Agency) -> None:
    body = {f"field_{number}": 1 for number in range(5_000)}
    answer = await demo.post("/v1/reports", body)
    problem = assert_problem(answer, 422, "validation_error")
    _assert_bounded(answer)
    assert len(problem["errors"]) == MAX_FIELD_ERRORS
    count = int(problem["detail"].split()[0])
    assert count > 5_000  # the unknown fields and the required ones missing
    assert problem["detail"] == f"{count} fields are invalid. The first 100 are listed."


async def test_a_long_name_in_the_body_is_shortened(demo: Agency) -> None:
    answer = await demo.post("/v1/reports", {LONG: 1})
    problem = assert_problem(answer, 422, "validation_error")
    _assert_bounded(answer)
    assert shorten(f"/{LONG}") in {error["pointer"] for error in problem["errors"]}

    twice = b'{"%s": 1, "%s": 2}' % (LONG.encode(), LONG.encode())
    headers = {**demo.headers, "Content-Type": "application/json"}
    answer = await demo.client.post("/v1/reports", content=twice, headers=headers)
    assert_problem(answer, 400, "invalid_request")
    _assert_bounded(answer)


async def test_a_long_header_name_is_shortened(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/reports", headers={f"X-{LONG}": "1"})
    problem = assert_problem(answer, 431, "invalid_request")
    _assert_bounded(answer)
    assert problem["header"] == shorten(f"x-{LONG}")
    assert problem["detail"].endswith(f"({len(LONG) + 3} bytes).")


async def test_a_long_query_parameter_name_is_shortened(demo: Agency) -> None:
    answer = await demo.get(f"/v1/reports?{LONG}=1")
    problem = assert_problem(answer, 400, "invalid_request")
    _assert_bounded(answer)
    assert problem["parameter"] == shorten(LONG)
    assert problem["detail"].endswith("(it takes: status, updated_since, limit, cursor).")


async def test_a_problem_stored_for_a_replay_is_the_shortened_one(demo: Agency) -> None:
    body = json.dumps({LONG: 1}).encode()
    headers = {**demo.headers, "Content-Type": "application/json", "Idempotency-Key": "long"}
    first = await demo.client.post("/v1/reports", content=body, headers=headers)
    again = await demo.client.post("/v1/reports", content=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    _assert_bounded(again)


@pytest.mark.parametrize("length", [0, 1, 999, 1000, 1001, 5000])
def test_shorten_keeps_the_start_and_the_end(length: int) -> None:
    text = "".join(chr(ord("a") + number % 26) for number in range(length))
    short = shorten(text)
    if length <= MAX_PROBLEM_TEXT:
        assert short == text
    else:
        assert len(short) == MAX_PROBLEM_TEXT
        head, tail = short.split("\u2026")
        assert text.startswith(head)
        assert text.endswith(tail)
        assert len(head) > len(tail) > 0
