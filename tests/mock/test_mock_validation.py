"""Bodies are validated against the contract: every failing field is listed, nothing changes."""

from __future__ import annotations

from typing import Any

import pytest

from mock.mock_support import Agency, assert_problem, item, report_body

pytestmark = pytest.mark.anyio


def _pointers(problem: dict[str, Any]) -> dict[str, str]:
    return {error["pointer"]: error["detail"] for error in problem["errors"]}


async def test_every_failing_field_is_listed(demo: Agency) -> None:
    body = report_body(
        client_reference="",
        items=[
            {"url": "ftp://example.org/x", "platform": "myspace", "content_type": "post", "x": 1},
            item("https://www.instagram.com/p/ok/"),
            {"platform": "instagram", "content_type": "reel", "observed_at": "last night"},
        ],
        violation_basis="illegal_content",
        requested_actions=["remove", "remove"],
        territorial_scope=["gb"],
        reporting_officer={"name": "A", "email": "not-an-email", "rank": "major"},
        priority="high",
        surprise=True,
    )
    response = await demo.post("/v1/reports", body)
    problem = assert_problem(response, 422, "validation_error")
    errors = _pointers(problem)
    assert set(errors) == {
        "/client_reference",
        "/items/0/url",
        "/items/0/platform",
        "/items/0/x",
        "/items/2/url",
        "/items/2/observed_at",
        "/legal_basis",
        "/requested_actions",
        "/territorial_scope/0",
        "/reporting_officer/email",
        "/reporting_officer/rank",
        "/escalation_reason",
        "/surprise",
    }
    assert errors["/items/0/x"] == errors["/surprise"] == "Unknown field"
    assert errors["/items/2/url"] == "This field is required"
    assert errors["/items/0/url"] == "Must be an absolute http or https URL"
    assert "illegal_content" in errors["/legal_basis"]
    assert problem["detail"] == "13 fields are invalid."
    assert (await demo.get("/v1/reports")).json()["data"] == []
    assert await demo.events() == []


async def test_nested_legal_basis_and_nullable_fields(demo: Agency) -> None:
    body = report_body(
        violation_basis="both",
        legal_basis=[{"jurisdiction": "Scotland", "instrument": "", "provision": "s. 1", "y": 0}],
        escalation_reason=None,
    )
    problem = assert_problem(await demo.post("/v1/reports", body), 422, "validation_error")
    assert set(_pointers(problem)) == {
        "/legal_basis/0/jurisdiction",
        "/legal_basis/0/instrument",
        "/legal_basis/0/y",
    }


async def test_one_entry_per_field(demo: Agency) -> None:
    body = report_body(items=[{"url": "not a url", "platform": "other", "content_type": "post"}])
    problem = assert_problem(await demo.post("/v1/reports", body), 422, "validation_error")
    assert problem["errors"] == [
        {
            "pointer": "/items/0/url",
            "detail": "Must be a valid uri; Must be an absolute http or https URL",
        }
    ]


async def test_wrong_types(demo: Agency) -> None:
    body = report_body(items="https://x.example", good_faith_declaration="yes", priority=3)
    problem = assert_problem(await demo.post("/v1/reports", body), 422, "validation_error")
    assert set(_pointers(problem)) == {"/items", "/good_faith_declaration", "/priority"}
    problem = assert_problem(await demo.post("/v1/reports", [1, 2]), 422, "validation_error")
    assert set(_pointers(problem)) == {""}


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"a": NaN}', b'{"a": 1}}'])
async def test_unparsable_body_is_a_bad_request(demo: Agency, content: bytes) -> None:
    headers = {**demo.headers, "Content-Type": "application/json"}
    response = await demo.client.post("/v1/reports", content=content, headers=headers)
    problem = assert_problem(response, 400, "invalid_request")
    assert "parameter" not in problem  # a body's problem, not a query parameter's


async def test_json_media_type_required(demo: Agency) -> None:
    headers = {**demo.headers, "Content-Type": "text/plain"}
    response = await demo.client.post("/v1/reports", content=b"{}", headers=headers)
    assert_problem(response, 415, "unsupported_media_type")


async def test_action_bodies(demo: Agency) -> None:
    report = await demo.create()
    base = f"/v1/reports/{report['id']}"
    cases = [
        ("/submit", {"good_faith_declaration": "true"}, {"/good_faith_declaration"}),
        ("/submit", {"declared": True}, {"/declared"}),
        ("/withdraw", {"reason": ""}, {"/reason"}),
        ("/responses", {}, {"/message"}),
        ("/responses", {"message": "x", "evidence_ids": ["nope"]}, {"/evidence_ids/0"}),
        ("/appeal", {"reason": "x", "extra": 1}, {"/extra"}),
    ]
    for suffix, body, pointers in cases:
        problem = assert_problem(await demo.post(base + suffix, body), 422, "validation_error")
        assert set(_pointers(problem)) == pointers, suffix
    assert (await demo.report(report["id"]))["status"] == "draft"


async def test_body_is_checked_before_the_report_exists(demo: Agency) -> None:
    response = await demo.post("/v1/reports/rpt_missing/appeal", {})
    assert_problem(response, 422, "validation_error")
