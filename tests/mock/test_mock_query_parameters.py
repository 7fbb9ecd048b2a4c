"""Query strings: a request names only the query parameters its operation defines, each once
unless the contract makes it a list; anything else is a ``400`` naming the parameter, and the
request changes nothing. The journal's ``method`` filter names a method of the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from mock.mock_support import assert_problem, report_body

if TYPE_CHECKING:
    import httpx

    from crs_mock import MockControl
    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/v1/reports", "limit=1&limit=2", "limit"),
        ("/v1/reports", "limit=5&limit=5", "limit"),
        ("/v1/reports", "cursor=a&cursor=b", "cursor"),
        ("/v1/reports", "updated_since=2026-01-01T00:00:00Z&updated_since=x", "updated_since"),
        ("/v1/events", "after=evt_1&after=evt_2", "after"),
        ("/v1/events", "limit=1&limit=2", "limit"),
        ("/v1/webhook-endpoints", "cursor=a&limit=1&cursor=b", "cursor"),
    ],
)
async def test_a_repeated_single_valued_parameter_is_refused(
    demo: Agency, path: str, query: str, name: str
) -> None:
    problem = assert_problem(await demo.get(f"{path}?{query}"), 400, "invalid_request")
    assert problem["detail"] == (
        f"Query parameter {name!r} must be sent once; this request has 2 of them."
    )
    assert problem["parameter"] == name


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/v1/reports", "limit=", "limit"),
        ("/v1/reports", "cursor=", "cursor"),
        ("/v1/reports", "updated_since=&limit=5", "updated_since"),
        ("/v1/reports", "status=draft&status=", "status"),
        ("/v1/events", "after=", "after"),
        ("/v1/webhook-endpoints", "limit", "limit"),  # no "=" at all: the same empty value
    ],
)
async def test_a_parameter_without_a_value_is_refused(
    demo: Agency, client: httpx.AsyncClient, path: str, query: str, name: str
) -> None:
    """An empty value used to mean the default: the contract's schemas take no empty string."""
    problem = assert_problem(await demo.get(f"{path}?{query}"), 400, "invalid_request")
    assert problem["detail"] == (
        f"Query parameter {name!r} has no value; leave it out to use its default."
    )
    assert problem["parameter"] == name
    for control in ("/_mock/requests?operation_id=", "/_mock/requests/wait?timeout=0&method="):
        refused = assert_problem(await client.get(control), 400, "invalid_request")
        assert "has no value" in refused["detail"]


async def test_a_status_given_twice_is_refused(demo: Agency) -> None:
    """``status`` of listReports has ``uniqueItems``: the same status twice is a mistake."""
    answer = await demo.get("/v1/reports?status=draft&status=submitted&status=draft")
    problem = assert_problem(answer, 400, "invalid_request")
    assert problem["detail"] == (
        "Query parameter 'status' must not repeat a value; 'draft' is given more than once."
    )
    assert problem["parameter"] == "status"
    assert (await demo.get("/v1/reports?status=draft&status=submitted")).status_code == 200


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/_mock/requests", "limit=1&limit=2", "limit"),
        ("/_mock/requests", "method=GET&method=POST", "method"),
        ("/_mock/requests/wait", "timeout=0&timeout=1", "timeout"),
        ("/_mock/faults", "agency_id=a&agency_id=b", "agency_id"),
    ],
)
async def test_a_repeated_control_parameter_is_refused(
    client: httpx.AsyncClient, path: str, query: str, name: str
) -> None:
    problem = assert_problem(await client.get(f"{path}?{query}"), 400, "invalid_request")
    assert f"Query parameter {name!r} must be sent once" in problem["detail"]
    assert problem["parameter"] == name


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/reports"),
        ("GET", "/v1/reports/rpt_missing"),
        ("GET", "/v1/events"),
        ("GET", "/v1/webhook-endpoints"),
        ("DELETE", "/v1/webhook-endpoints/whe_missing"),
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/_mock/clock"),
        ("GET", "/_mock/requests"),
    ],
)
async def test_an_unknown_parameter_is_refused(demo: Agency, method: str, path: str) -> None:
    answer = await demo.client.request(method, f"{path}?limt=5", headers=demo.headers)
    problem = assert_problem(answer, 400, "invalid_request")
    assert problem["detail"].startswith("Query parameter 'limt' is not defined for ")
    assert problem["parameter"] == "limt"


async def test_the_problem_lists_what_the_operation_takes(demo: Agency) -> None:
    problem = assert_problem(await demo.get("/v1/reports?limt=5"), 400, "invalid_request")
    assert problem["detail"] == (
        "Query parameter 'limt' is not defined for listReports "
        "(it takes: status, updated_since, limit, cursor)."
    )
    problem = assert_problem(await demo.get("/v1/reports/rpt_1?x="), 400, "invalid_request")
    assert problem["detail"] == "Query parameter 'x' is not defined for getReport (it takes: none)."


async def test_a_refused_write_changes_nothing(demo: Agency) -> None:
    answer = await demo.post("/v1/reports?dry_run=true", report_body(), key="key-1")
    assert_problem(answer, 400, "invalid_request")
    assert (await demo.get("/v1/reports")).json()["data"] == []
    again = await demo.post("/v1/reports", report_body(), key="key-1")  # the key was not kept
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers


async def test_a_refused_control_request_changes_nothing(
    demo: Agency, client: httpx.AsyncClient
) -> None:
    await demo.create()
    assert_problem(await client.post("/_mock/reset?agency_id=x"), 400, "invalid_request")
    assert len((await demo.get("/v1/reports")).json()["data"]) == 1


async def test_a_list_parameter_may_repeat(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await demo.submitted()
    await demo.create(client_reference="CP-2")
    answer = await demo.get("/v1/reports?status=submitted&status=withdrawn&limit=10")
    assert answer.status_code == 200, answer.text
    assert [found["id"] for found in answer.json()["data"]] == [report["id"]]
    journal = await client.get("/_mock/requests?status=200&status=201&operation_id=listReports")
    assert journal.status_code == 200, journal.text
    assert len(journal.json()["data"]) == 1


async def test_a_token_is_checked_first(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/reports?limit=1&limit=2")
    assert_problem(answer, 401, "unauthorized")
    bad = {"Authorization": "Bearer nope"}
    assert_problem(await client.get("/v1/reports?limt=1", headers=bad), 401, "unauthorized")


async def test_the_token_endpoint_ignores_unknown_parameters(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/oauth/token?audience=x",
        data={"grant_type": "client_credentials"},
        auth=("demo-agency", "demo-secret"),
    )
    assert answer.status_code == 200, answer.text


async def test_a_refused_query_is_journaled(demo: Agency, client: httpx.AsyncClient) -> None:
    await demo.get("/v1/reports?limt=5")
    entries = (await client.get("/_mock/requests?operation_id=listReports")).json()["data"]
    assert [(entry["query"], entry["status_code"]) for entry in entries] == [("limt=5", 400)]


@pytest.mark.parametrize("method", ["get ", "GET,POST", "G(E)T", "PÖST"])
@pytest.mark.parametrize("path", ["/_mock/requests", "/_mock/requests/wait"])
async def test_a_journal_method_filter_is_an_http_method(
    client: httpx.AsyncClient, path: str, method: str
) -> None:
    params = {"method": method} | ({"timeout": "0"} if path.endswith("/wait") else {})
    answer = await client.get(path, params=params)
    problem = assert_problem(answer, 400, "invalid_request")
    assert problem["detail"].startswith("method must be an HTTP method (a token of RFC 9110)")
    assert problem["parameter"] == "method"


async def test_a_journal_method_filter_finds_a_method_no_operation_has(
    demo: Agency, client: httpx.AsyncClient
) -> None:
    for method in ("FETCH", "PUT"):
        answer = await demo.client.request(method, "/v1/reports", headers=demo.headers)
        assert answer.status_code == 405
    for method in ("FETCH", "fetch", "PUT"):
        found = await client.get("/_mock/requests", params={"method": method})
        assert found.status_code == 200, found.text
        methods = [entry["method"] for entry in found.json()["data"]]
        assert methods == [method.upper()]


@pytest.mark.parametrize("method", ["GET", "post", "Patch", "OPTIONS"])
async def test_a_journal_method_filter_takes_any_case(
    client: httpx.AsyncClient, method: str
) -> None:
    assert (await client.get("/_mock/requests", params={"method": method})).status_code == 200


def test_the_python_journal_queries_refuse_a_method_that_is_not_one(
    crs_mock_app: MockControl,
) -> None:
    with pytest.raises(ValueError, match=r"method must be an HTTP method \(a token"):
        crs_mock_app.requests(method="GET POST")
    with pytest.raises(ValueError, match=r"method must be an HTTP method \(a token"):
        crs_mock_app.wait_for_request(method="", timeout=0)
    assert crs_mock_app.requests(method="FETCH") == []
