"""Fault injection: the /_mock/faults API, matching, triggers, and the state each fault leaves."""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_mock import (
    FaultingASGITransport,
    FaultRule,
    JournalFilter,
    MockPlatform,
    ReviewClock,
    create_app,
)
from crs_mock._faults import ActiveFault, InvalidFaultRuleError, RequestInfo
from mock.mock_support import AGENCIES, START, Agency, assert_problem, assert_schema, report_body

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from starlette.applications import Starlette

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Overrides the folder's client: connection faults raise httpx errors, as over TCP."""
    transport = FaultingASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
        yield http


async def add_fault(client: httpx.AsyncClient, **rule: Any) -> dict[str, Any]:
    response = await client.post("/_mock/faults", json=rule)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert_schema("FaultRule", body)
    assert response.headers["location"] == f"/_mock/faults/{body['id']}"
    return body


async def report_count(agency: Agency) -> int:
    return len((await agency.get("/v1/reports")).json()["data"])


# -- the API ------------------------------------------------------------------------------------


async def test_create_list_delete_and_clear(client: httpx.AsyncClient) -> None:
    first = await add_fault(client, operation_id="submitReport", action="error", status=503)
    assert first["hits"] == 0
    assert first["remaining"] is None
    assert first["agency_id"] is None
    second = await add_fault(client, agency_id="demo-agency", action="latency", latency_ms=1)
    page = (await client.get("/_mock/faults")).json()
    assert_schema("FaultRulePage", page)
    assert [rule["id"] for rule in page["data"]] == [first["id"], second["id"]]
    scoped = (await client.get("/_mock/faults", params={"agency_id": "demo-agency"})).json()
    assert [rule["id"] for rule in scoped["data"]] == [second["id"]]

    assert (await client.delete(f"/_mock/faults/{first['id']}")).status_code == 204
    assert_problem(await client.delete(f"/_mock/faults/{first['id']}"), 404, "not_found")
    assert (await client.delete("/_mock/faults", params={"agency_id": "other-agency"})).is_success
    assert len((await client.get("/_mock/faults")).json()["data"]) == 1
    assert (await client.delete("/_mock/faults")).status_code == 204
    assert (await client.get("/_mock/faults")).json()["data"] == []


@pytest.mark.parametrize(
    ("rule", "status"),
    [
        pytest.param({"action": "error"}, 422, id="error-needs-status"),
        pytest.param({"action": "latency"}, 422, id="latency-needs-ms"),
        pytest.param({"action": "explode"}, 422, id="unknown-action"),
        pytest.param({"action": "error", "status": 200}, 422, id="status-not-an-error"),
        pytest.param({"action": "error", "status": 503, "every_nth": 0}, 422, id="every-0th"),
        pytest.param({"action": "latency", "latency_ms": 1, "x": 1}, 422, id="unknown-field"),
        pytest.param(
            {"action": "latency", "latency_ms": 9, "latency_distribution": "uniform"},
            422,
            id="uniform-needs-max",
        ),
        pytest.param(
            {
                "action": "latency",
                "latency_ms": 9,
                "latency_distribution": "uniform",
                "latency_max_ms": 1,
            },
            422,
            id="uniform-bounds-reversed",
        ),
    ],
)
async def test_invalid_rules_are_refused(
    client: httpx.AsyncClient, rule: dict[str, Any], status: int
) -> None:
    code = "validation_error" if status == 422 else "invalid_request"
    assert_problem(await client.post("/_mock/faults", json=rule), status, code)
    assert (await client.get("/_mock/faults")).json()["data"] == []


async def test_uniform_bounds_in_the_wrong_order_name_the_field(client: httpx.AsyncClient) -> None:
    """What only the rule's own check sees is a `422` naming the field, like the schema's."""
    rule = {
        "action": "latency",
        "latency_ms": 9,
        "latency_distribution": "uniform",
        "latency_max_ms": 1,
    }
    problem = assert_problem(await client.post("/_mock/faults", json=rule), 422, "validation_error")
    assert problem["errors"] == [
        {
            "pointer": "/latency_max_ms",
            "detail": "a uniform latency needs latency_max_ms >= latency_ms",
        }
    ]


def test_python_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="an error needs a status"):
        FaultRule(action="error")
    with pytest.raises(ValueError, match="normal latency needs latency_stddev_ms"):
        FaultRule(action="latency", latency_ms=5, latency_distribution="normal")
    with pytest.raises(ValueError, match="operation_id must be the operationId of an operation"):
        FaultRule(action="connection_reset", operation_id="submitReprot")
    with pytest.raises(InvalidFaultRuleError) as raised:
        FaultRule(action="error", status=503, every_nth=0, next_n=0)
    assert [name for name, _ in raised.value.errors] == ["every_nth", "next_n"]


@pytest.mark.parametrize("count", ["every_nth", "next_n"])
async def test_a_python_rule_counting_to_zero_is_refused(
    client: httpx.AsyncClient, mock: MockPlatform, count: str
) -> None:
    """0 is no count: ``every_nth=0`` used to pass the check and divide by zero on every
    matching request (a 500), ``next_n=0`` to make a rule that can never fire."""
    with pytest.raises(ValueError, match=f"{count} must be >= 1"):
        mock.faults.add(FaultRule(action="error", status=503, path="/healthz", **{count: 0}))
    assert mock.faults.list() == []
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    "operation_id",
    ["submitReprot", "SubmitReport", "", "mockListRequests", "mockCreateFault"],
)
async def test_a_rule_that_could_never_fire_is_refused(
    client: httpx.AsyncClient, operation_id: str
) -> None:
    """An operation the contract lacks, or one of the control API (never faulted)."""
    rule = {"operation_id": operation_id, "action": "error", "status": 503}
    problem = assert_problem(await client.post("/_mock/faults", json=rule), 422, "validation_error")
    assert [error["pointer"] for error in problem["errors"]] == ["/operation_id"]
    assert (await client.get("/_mock/faults")).json()["data"] == []


def test_every_operation_outside_the_control_api_can_be_faulted() -> None:
    contract = json.loads(resources.files("crs_mock").joinpath("openapi.json").read_bytes())
    expected = {
        operation["operationId"]
        for path, item in contract["paths"].items()
        if not path.startswith("/_mock/")
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    schema = contract["components"]["schemas"]["FaultRuleCreate"]["properties"]["operation_id"]
    assert set(schema["enum"]) == expected
    assert {"createToken", "getHealth", "appendUpload"} <= expected
    for operation_id in expected:
        FaultRule(action="connection_reset", operation_id=operation_id)


def test_a_stored_rule_for_an_unknown_operation_is_dropped_at_start(tmp_path: Path) -> None:
    """Rules stored before operation ids were checked never fired; the server still starts."""
    db = tmp_path / "mock.sqlite3"
    first = create_app(db=db, agencies=AGENCIES, clock=ReviewClock(start=START, frozen=True))
    kept = first.state.mock.faults.add(FaultRule(action="error", status=503))
    stale = first.state.mock.faults.add(FaultRule(action="error", status=500))
    with first.state.mock.store.transaction() as tx:
        spec = {**stale.rule.to_json(), "operation_id": "submitReprot"}
        tx.execute("UPDATE fault_rules SET spec = ? WHERE id = ?", (json.dumps(spec), stale.id))
    first.state.mock.close()

    second = create_app(db=db, agencies=AGENCIES)
    try:
        assert [rule.id for rule in second.state.mock.faults.list()] == [kept.id]
    finally:
        second.state.mock.close()
    third = create_app(db=db, agencies=AGENCIES)
    try:
        assert [rule.id for rule in third.state.mock.faults.list()] == [kept.id]
    finally:
        third.state.mock.close()


# -- faults before the handler: nothing happens -------------------------------------------------


async def test_error_answers_a_problem_and_leaves_no_trace(
    client: httpx.AsyncClient, demo: Agency
) -> None:
    rule = await add_fault(
        client, operation_id="createReport", action="error", status=503, retry_after=7, next_n=1
    )
    refused = await demo.post("/v1/reports", report_body(), key="k-1")
    body = assert_problem(refused, 503, "service_unavailable")
    assert refused.headers["retry-after"] == "7"
    assert body["retry_after"] == 7
    assert rule["id"] in body["detail"]
    assert await report_count(demo) == 0  # the handler never ran

    # The same key again: not a replay of the 503, the first real attempt.
    created = await demo.post("/v1/reports", report_body(), key="k-1")
    assert created.status_code == 201
    assert "idempotent-replayed" not in created.headers
    listed = (await client.get("/_mock/faults")).json()["data"][0]
    assert (listed["hits"], listed["matches"], listed["remaining"]) == (1, 1, 0)


async def test_problem_code_and_default_codes(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, operation_id="listReports", action="error", status=429, next_n=1)
    assert_problem(await demo.get("/v1/reports"), 429, "rate_limited")
    await add_fault(
        client,
        operation_id="listReports",
        action="error",
        status=502,
        problem_code="internal_error",
        next_n=1,
    )
    assert_problem(await demo.get("/v1/reports"), 502, "internal_error")


async def test_an_injected_401_carries_the_bearer_challenge(
    client: httpx.AsyncClient, demo: Agency
) -> None:
    """RFC 9110 (and the contract's 401) require ``WWW-Authenticate`` on every 401."""
    await add_fault(client, operation_id="listReports", action="error", status=401, next_n=1)
    refused = await demo.get("/v1/reports")
    assert_problem(refused, 401, "unauthorized")
    assert refused.headers["www-authenticate"] == 'Bearer realm="crs", error="invalid_token"'


@pytest.mark.parametrize("basic", [False, True], ids=["form", "basic"])
async def test_an_injected_token_error_answers_as_the_token_endpoint_does(
    client: httpx.AsyncClient, basic: bool
) -> None:
    """RFC 6749 section 5.2: ``error`` and ``error_description``, ``invalid_client`` for a 401,
    with the ``Basic`` challenge when the client authenticated with Basic."""
    await add_fault(client, operation_id="createToken", action="error", status=401, next_n=1)
    form = {"grant_type": "client_credentials"}
    if basic:
        refused = await client.post("/oauth/token", data=form, auth=("demo-agency", "demo-secret"))
    else:
        form |= {"client_id": "demo-agency", "client_secret": "demo-secret"}
        refused = await client.post("/oauth/token", data=form)
    problem = assert_problem(refused, 401, "invalid_client")
    assert problem["error"] == "invalid_client"
    assert problem["error_description"].startswith("Injected by the mock server's fault rule")
    assert refused.headers.get("www-authenticate") == ('Basic realm="crs"' if basic else None)
    await add_fault(
        client,
        operation_id="createToken",
        action="error",
        status=400,
        problem_code="unsupported_grant_type",
        next_n=1,
    )
    refused = await client.post("/oauth/token", data=form)
    assert assert_problem(refused, 400, "unsupported_grant_type")["error"] == (
        "unsupported_grant_type"
    )


async def test_connection_reset_before_the_handler(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, operation_id="createReport", action="connection_reset", next_n=1)
    with pytest.raises(httpx.ReadError):
        await demo.post("/v1/reports", report_body())
    assert await report_count(demo) == 0


# -- faults after the commit: exactly the committed state ---------------------------------------


async def test_dropped_response_after_commit(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, method="POST", path="/v1/reports", action="drop_response", next_n=1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await demo.post("/v1/reports", report_body(), key="k-2")
    assert await report_count(demo) == 1  # committed, though the client never heard
    retried = await demo.post("/v1/reports", report_body(), key="k-2")
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    assert await report_count(demo) == 1


async def test_malformed_body_after_commit(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, operation_id="createReport", action="malformed_body", next_n=1)
    response = await demo.post("/v1/reports", report_body())
    assert response.status_code == 201
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        response.json()
    assert await report_count(demo) == 1


async def test_truncated_body_after_commit(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, operation_id="createReport", action="truncated_body", next_n=1)
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        await demo.post("/v1/reports", report_body())
    assert await report_count(demo) == 1


@pytest.mark.parametrize("action", ["malformed_body", "truncated_body"])
async def test_an_answer_without_a_body_is_dropped_instead(
    client: httpx.AsyncClient, demo: Agency, mock: MockPlatform, action: str
) -> None:
    endpoint = {"url": "https://receiver.example/hook", "event_types": ["*"]}
    endpoint_id = (await demo.post("/v1/webhook-endpoints", endpoint)).json()["id"]
    await add_fault(client, operation_id="deleteWebhookEndpoint", action=action, next_n=1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=demo.headers)
    assert (await demo.get("/v1/webhook-endpoints")).json()["data"] == []  # committed
    [entry] = [e for e in mock.journal.query(JournalFilter()) if e.fault_id is not None]
    assert (entry.status_code, entry.response_body_size, entry.fault_action) == (
        None,
        None,
        "drop_response",
    )


async def test_without_a_connection_handle_connection_faults_are_503s(
    app: Starlette, demo: Agency
) -> None:
    platform: MockPlatform = app.state.mock
    platform.faults.add(FaultRule(action="drop_response", operation_id="createReport"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as plain:
        response = await plain.post("/v1/reports", json=report_body(), headers=demo.headers)
    assert_problem(response, 503, "service_unavailable")
    assert await report_count(demo) == 1


# -- matching and triggers ----------------------------------------------------------------------


async def test_faults_are_scoped_to_an_agency(
    client: httpx.AsyncClient, demo: Agency, other: Agency
) -> None:
    await add_fault(client, agency_id="other-agency", action="error", status=500)
    assert (await demo.get("/v1/reports")).status_code == 200
    assert_problem(await other.get("/v1/reports"), 500, "internal_error")


async def test_token_requests_are_attributed_by_client_id(
    client: httpx.AsyncClient,
) -> None:
    await add_fault(
        client, agency_id="other-agency", operation_id="createToken", action="error", status=503
    )
    form = {"grant_type": "client_credentials"}
    basic = await client.post("/oauth/token", data=form, auth=("other-agency", "other-secret"))
    assert basic.status_code == 503
    fields = {**form, "client_id": "other-agency", "client_secret": "other-secret"}
    assert (await client.post("/oauth/token", data=fields)).status_code == 503
    demo = await client.post("/oauth/token", data=form, auth=("demo-agency", "demo-secret"))
    assert demo.status_code == 200


async def test_path_patterns_and_methods(client: httpx.AsyncClient, demo: Agency) -> None:
    report = await demo.create()
    await add_fault(client, method="POST", path="/v1/reports/*/submit", action="error", status=500)
    assert (await demo.get(f"/v1/reports/{report['id']}")).status_code == 200
    assert_problem(await demo.post(f"/v1/reports/{report['id']}/submit"), 500, "internal_error")


async def test_control_api_is_never_faulted(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="error", status=500)
    assert (await client.get("/_mock/clock")).status_code == 200
    assert (await client.get("/healthz")).status_code == 500


async def test_every_nth(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, operation_id="listReports", action="error", status=503, every_nth=3)
    statuses = [(await demo.get("/v1/reports")).status_code for _ in range(7)]
    assert statuses == [200, 200, 503, 200, 200, 503, 200]


async def test_the_first_rule_that_fires_wins(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, operation_id="listReports", action="error", status=500, next_n=1)
    await add_fault(client, operation_id="listReports", action="error", status=503, next_n=1)
    statuses = [(await demo.get("/v1/reports")).status_code for _ in range(3)]
    assert statuses == [500, 503, 200]


def _pattern(rule: FaultRule, requests: int) -> list[bool]:
    fault = ActiveFault("flt_x", rule, 0)
    request = RequestInfo("GET", "/v1/reports", "listReports", "demo-agency")
    return [fault.fire(request) is not None for _ in range(requests)]


def test_seeded_probability_is_repeatable() -> None:
    rule = FaultRule(action="error", status=503, probability=0.3, seed=42)
    first = _pattern(rule, 200)
    assert first == _pattern(rule, 200)
    assert 30 < sum(first) < 90
    assert first != _pattern(FaultRule(action="error", status=503, probability=0.3, seed=7), 200)
    assert not any(_pattern(FaultRule(action="error", status=503, probability=0), 50))


@pytest.mark.parametrize(
    ("fields", "low", "high"),
    [
        ({"latency_ms": 120}, 120, 120),
        ({"latency_ms": 100, "latency_distribution": "uniform", "latency_max_ms": 300}, 100, 300),
        ({"latency_ms": 50, "latency_distribution": "normal", "latency_stddev_ms": 400}, 0, 5000),
    ],
)
def test_latency_distributions(fields: dict[str, Any], low: float, high: float) -> None:
    rule = FaultRule(action="latency", seed=3, **fields)
    request = RequestInfo("GET", "/v1/reports", "listReports", None)

    def draws() -> list[float]:
        fault = ActiveFault("flt_x", rule, 0)
        return [fault.fire(request).latency_seconds * 1000 for _ in range(50)]  # type: ignore[union-attr]

    values = draws()
    assert values == draws()  # seeded
    assert all(low <= value <= high for value in values)
    if low != high:
        assert len(set(values)) > 10


async def test_latency_delays_then_processes(client: httpx.AsyncClient, demo: Agency) -> None:
    await add_fault(client, operation_id="listReports", action="latency", latency_ms=80)
    started = time.perf_counter()
    assert (await demo.get("/v1/reports")).status_code == 200
    assert time.perf_counter() - started >= 0.08


# -- lifetime -----------------------------------------------------------------------------------


async def test_reset_removes_faults(client: httpx.AsyncClient, mock: MockPlatform) -> None:
    await add_fault(client, agency_id="demo-agency", action="error", status=500)
    await add_fault(client, agency_id="other-agency", action="error", status=500)
    await add_fault(client, action="error", status=500)
    assert (await client.post("/_mock/reset", json={"agency_id": "demo-agency"})).is_success
    assert [rule.rule.agency_id for rule in mock.faults.list()] == ["other-agency", None]
    assert (await client.post("/_mock/reset")).is_success
    assert mock.faults.list() == []


def test_rules_and_counters_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "mock.sqlite3"
    request = RequestInfo("GET", "/v1/reports", "listReports", None)
    first = create_app(db=db, agencies=AGENCIES, clock=ReviewClock(start=START, frozen=True))
    faults = first.state.mock.faults
    added = faults.add(FaultRule(action="error", status=503, next_n=3))
    assert faults.select(request) is not None
    first.state.mock.close()

    second = create_app(db=db, agencies=AGENCIES)
    try:
        [restored] = second.state.mock.faults.list()
        assert (restored.id, restored.hits, restored.remaining) == (added.id, 1, 2)
    finally:
        second.state.mock.close()
