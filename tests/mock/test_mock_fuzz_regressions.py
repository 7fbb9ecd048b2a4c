"""Inputs the contract fuzzer once turned into 500s; each must now be a 4xx problem."""

from __future__ import annotations

import pytest

from mock.mock_support import Agency, assert_problem, report_body

pytestmark = pytest.mark.anyio


async def test_deeply_nested_json_is_a_400(demo: Agency) -> None:
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        response = await demo.client.post(
            "/v1/reports",
            content=body,
            headers={**demo.headers, "content-type": "application/json"},
        )
        assert_problem(response, 400, "invalid_request")
    assert (await demo.get("/v1/reports")).json()["data"] == []


@pytest.mark.parametrize("priority", [[{}, None], {"a": 1}])
async def test_an_unhashable_priority_is_a_422(demo: Agency, priority: object) -> None:
    response = await demo.post("/v1/reports", report_body(priority=priority))
    problem = assert_problem(response, 422, "validation_error")
    assert "/priority" in [error["pointer"] for error in problem["errors"]]


async def test_a_null_body_where_one_is_required_is_a_422(demo: Agency) -> None:
    response = await demo.client.post(
        "/_mock/clock/advance", content="null", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize("path", ["/_mock/requests", "/_mock/requests/wait"])
async def test_a_journal_position_beyond_64_bits_is_a_400(demo: Agency, path: str) -> None:
    wait = {"timeout": "0"} if path.endswith("/wait") else {}  # listRequests takes no timeout
    response = await demo.client.get(path, params={"after": str(2**73), **wait})
    assert assert_problem(response, 400, "invalid_request")["parameter"] == "after"


@pytest.mark.parametrize("name", ["\u00b3", "\u0663", "9" * 5000])
async def test_a_member_name_that_looks_like_a_number_is_a_422(demo: Agency, name: str) -> None:
    # Field errors are ordered by pointer, array indices as numbers: "³" and "٣" are digits to
    # str.isdigit but not to int, and int reads at most 4,300 digits.
    created = await demo.post("/v1/reports", report_body())
    body = {name: 1, "reason": 2, "x": [1, 2]}
    response = await demo.post(f"/v1/reports/{created.json()['id']}/appeal", body)
    problem = assert_problem(response, 422, "validation_error")
    pointers = [error["pointer"] for error in problem["errors"]]
    assert "/reason" in pointers
    assert any(pointer.startswith(f"/{name[:100]}") for pointer in pointers)  # long ones cut
