"""`MockControl`'s fault and journal methods: typed keyword parameters, those of the control API."""

from __future__ import annotations

import inspect
import json
import re
import typing
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any

import pytest

from crs_mock import MockControl, _faults, _mock_control
from crs_sdk.testing import make_report_create

if TYPE_CHECKING:
    from collections.abc import Callable

    from crs_sdk import CRSClient

_CONTRACT = json.loads(resources.files("crs_mock").joinpath("openapi.json").read_bytes())
_FAULT_FIELDS = _CONTRACT["components"]["schemas"]["FaultRuleCreate"]["properties"]


def _query(path: str) -> dict[str, dict[str, Any]]:
    """The query parameters of a control API operation, by name (references resolved)."""
    parameters = _CONTRACT["paths"][path]["get"]["parameters"]
    resolved = {}
    for parameter in parameters:
        if "$ref" in parameter:
            name = parameter["$ref"].rsplit("/", 1)[-1]
            parameter = _CONTRACT["components"]["parameters"][name]  # noqa: PLW2901
        resolved[parameter["name"]] = parameter
    return resolved


def _keywords(method: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(method).parameters.values()
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters), "untyped **kwargs"
    return {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def test_fault_takes_the_fields_of_a_fault_rule() -> None:
    parameters = inspect.signature(MockControl.fault).parameters
    assert list(parameters)[:2] == ["self", "action"]
    assert set(_keywords(MockControl.fault)) | {"action"} == set(_FAULT_FIELDS)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (MockControl.requests, "/_mock/requests"),
        (MockControl.wait_for_request, "/_mock/requests/wait"),
        (MockControl.await_request, "/_mock/requests/wait"),
    ],
)
def test_journal_queries_take_the_fields_of_the_control_api(
    method: Callable[..., Any], path: str
) -> None:
    # agency_id is the control's own; limit and cursor page, and the methods return everything.
    wanted = set(_query(path)) - {"agency_id", "limit", "cursor"}
    assert set(_keywords(method)) == wanted


def test_the_literal_types_follow_the_contract() -> None:
    def values(alias: object) -> set[str]:
        return set(typing.get_args(alias))

    assert values(_mock_control.FaultAction) == set(_FAULT_FIELDS["action"]["enum"])
    assert values(_mock_control.FaultAction) == set(_faults.ACTIONS)
    assert values(_mock_control.FaultMethod) == set(_FAULT_FIELDS["method"]["enum"])
    distributions = values(_mock_control.LatencyDistribution)
    assert distributions == set(_FAULT_FIELDS["latency_distribution"]["enum"])
    assert distributions == set(_faults.DISTRIBUTIONS)
    # The journal's method filter takes any HTTP method; the literal lists the contract's.
    method = _query("/_mock/requests")["method"]["schema"]
    assert all(
        re.fullmatch(method["pattern"], value) for value in values(_mock_control.RequestMethod)
    )


def test_a_rule_is_the_agency_s_own_unless_told_otherwise(crs_mock_app: MockControl) -> None:
    own = crs_mock_app.fault("latency", latency_ms=1)
    everyone = crs_mock_app.fault("latency", latency_ms=1, agency_id=None)
    other = crs_mock_app.fault("latency", latency_ms=1, agency_id="other-agency")
    assert own.rule.rule.agency_id == crs_mock_app.agency_id
    assert everyone.rule.rule.agency_id is None
    assert other.rule.rule.agency_id == "other-agency"
    rule = crs_mock_app.fault(
        "error",
        method="POST",
        path="/v1/reports/*/submit",
        status=503,
        problem_code="service_unavailable",
        retry_after=2,
        probability=0.5,
        seed=7,
        every_nth=1,
        next_n=3,
    ).rule.rule
    assert (rule.method, rule.path, rule.status, rule.retry_after) == (
        "POST",
        "/v1/reports/*/submit",
        503,
        2,
    )
    assert (rule.probability, rule.seed, rule.every_nth, rule.next_n) == (0.5, 7, 1, 3)


def test_an_unknown_field_is_a_type_error(crs_mock_app: MockControl) -> None:
    fault: Callable[..., Any] = crs_mock_app.fault
    with pytest.raises(TypeError, match="statuscode"):
        fault("error", statuscode=503)
    requests: Callable[..., Any] = crs_mock_app.requests
    with pytest.raises(TypeError, match="operation"):
        requests(operation="createReport")


def test_requests_by_status_since_and_after(
    crs_client: CRSClient, crs_mock_app: MockControl
) -> None:
    crs_client.reports.create(make_report_create())
    middle = crs_mock_app.cursor()
    crs_mock_app.advance(60)
    since = crs_mock_app.now()
    report = crs_client.reports.create(make_report_create())
    crs_client.reports.get(report.id)

    assert [e.operation_id for e in crs_mock_app.requests(status=201)] == ["createReport"] * 2
    statuses = [e.status_code for e in crs_mock_app.requests(status=[200, 201], method="GET")]
    assert statuses == [200]
    assert [e.operation_id for e in crs_mock_app.requests(since=since)] == [
        "createReport",
        "getReport",
    ]
    naive = since.replace(tzinfo=None)  # taken as UTC
    assert len(crs_mock_app.requests(since=naive)) == 2
    later = since.astimezone(timezone(timedelta(hours=2)))
    assert len(crs_mock_app.requests(since=later)) == 2
    assert len(crs_mock_app.requests(since=since + timedelta(milliseconds=1))) == 0
    assert [e.operation_id for e in crs_mock_app.requests(after=middle)] == [
        "createReport",
        "getReport",
    ]
    found = crs_mock_app.wait_for_request(after=middle, operation_id="getReport", timeout=1)
    assert found.path == f"/v1/reports/{report.id}"


@pytest.mark.anyio
async def test_await_request_takes_the_same_fields(crs_mock_app: MockControl) -> None:
    with pytest.raises(AssertionError, match="getReport"):
        await crs_mock_app.await_request(
            operation_id="getReport", since=datetime.now(timezone.utc), timeout=0
        )
