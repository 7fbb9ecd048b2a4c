"""The /v1/reports endpoints: happy paths, transitions and their problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from mock.mock_support import (
    START_TEXT,
    Agency,
    advance,
    assert_problem,
    assert_schema,
    item,
    report_body,
)

if TYPE_CHECKING:
    import httpx

    from crs_mock import MockPlatform

pytestmark = pytest.mark.anyio


async def test_create_returns_a_draft_with_location(demo: Agency) -> None:
    body = report_body(
        items=[
            {
                "url": "https://www.instagram.com/reel/abc/",
                "platform": "instagram",
                "content_type": "reel",
                "account": "someone",
                "observed_at": "2025-12-31T23:00:00Z",
            },
            item("https://www.instagram.com/p/xyz/"),
        ],
        violation_basis="both",
        legal_basis=[
            {"jurisdiction": "GB", "instrument": "Online Safety Act 2023", "provision": "s. 59"}
        ],
        priority="urgent",
        escalation_reason="A child is at immediate risk.",
        territorial_scope=["GB"],
    )
    response = await demo.post("/v1/reports", body)
    assert response.status_code == 201
    report = response.json()
    assert_schema("Report", report)
    assert response.headers["location"] == f"/v1/reports/{report['id']}"
    assert report["id"].startswith("rpt_")
    assert report["status"] == "draft"
    assert report["status_history"] == [{"status": "draft", "at": START_TEXT, "note": None}]
    assert report["created_at"] == report["updated_at"] == START_TEXT
    assert report["submitted_at"] is None
    assert report["info_request"] is report["decision"] is report["appeal"] is None
    assert report["evidence_count"] == 0
    assert report["legal_basis"][0]["explanation"] is None
    first, second = report["items"]
    assert first["id"].startswith("itm_")
    assert (first["account"], first["observed_at"], first["decision"]) == (
        "someone",
        "2025-12-31T23:00:00Z",
        None,
    )
    assert (second["account"], second["observed_at"]) == (None, None)
    assert await demo.report(report["id"]) == report


async def test_defaults_are_filled_in(demo: Agency) -> None:
    body = report_body()
    del body["good_faith_declaration"]
    report = (await demo.post("/v1/reports", body)).json()
    assert report["good_faith_declaration"] is False
    assert report["priority"] == "standard"
    assert report["escalation_reason"] is None
    assert report["legal_basis"] == report["territorial_scope"] == []


async def test_duplicate_client_reference(demo: Agency) -> None:
    first = await demo.create()
    response = await demo.post("/v1/reports", report_body())
    body = assert_problem(response, 409, "duplicate_client_reference")
    assert body["existing_report_id"] == first["id"]
    assert len((await demo.get("/v1/reports")).json()["data"]) == 1


async def test_unknown_report(demo: Agency) -> None:
    assert_problem(await demo.get("/v1/reports/rpt_missing"), 404, "not_found")
    response = await demo.post("/v1/reports/rpt_missing/appeal", {"reason": "why"})
    assert_problem(response, 404, "not_found")


async def test_submit(demo: Agency) -> None:
    report = await demo.create()
    response = await demo.post(f"/v1/reports/{report['id']}/submit")
    assert response.status_code == 200
    submitted = response.json()
    assert_schema("Report", submitted)
    assert submitted["status"] == "submitted"
    assert submitted["submitted_at"] == START_TEXT
    assert [change["status"] for change in submitted["status_history"]] == ["draft", "submitted"]
    again = await demo.post(f"/v1/reports/{report['id']}/submit")
    assert assert_problem(again, 409, "invalid_transition")["current_status"] == "submitted"


async def test_submit_needs_the_good_faith_declaration(demo: Agency) -> None:
    report = await demo.create(good_faith_declaration=False)
    path = f"/v1/reports/{report['id']}/submit"
    refused = assert_problem(await demo.post(path, {}), 422, "validation_error")
    assert [error["pointer"] for error in refused["errors"]] == ["/good_faith_declaration"]
    assert (await demo.report(report["id"]))["status"] == "draft"
    refused = assert_problem(
        await demo.post(path, {"good_faith_declaration": False}), 422, "validation_error"
    )
    confirmed = await demo.post(path, {"good_faith_declaration": True})
    assert confirmed.status_code == 200
    assert confirmed.json()["good_faith_declaration"] is True


@pytest.mark.parametrize(
    "status", ["draft", "submitted", "acknowledged", "in_review", "info_requested"]
)
async def test_withdraw_from(demo: Agency, client: httpx.AsyncClient, status: str) -> None:
    report = await _report_in(demo, client, status)
    response = await demo.post(
        f"/v1/reports/{report['id']}/withdraw", {"reason": "Passed to police"}
    )
    assert response.status_code == 200
    withdrawn = response.json()
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["info_request"] is None
    assert withdrawn["status_history"][-1]["note"] == "Passed to police"
    await advance(client, 600)  # nothing scheduled fires any more
    assert (await demo.report(report["id"]))["status"] == "withdrawn"


@pytest.mark.parametrize("status", ["actioned", "withdrawn", "expired"])
async def test_withdraw_refused(demo: Agency, client: httpx.AsyncClient, status: str) -> None:
    report = await _report_in(demo, client, status)
    response = await demo.post(f"/v1/reports/{report['id']}/withdraw")
    assert assert_problem(response, 409, "invalid_transition")["current_status"] == status


async def test_respond_to_an_information_request(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await _report_in(demo, client, "info_requested")
    path = f"/v1/reports/{report['id']}/responses"
    unknown = await demo.post(path, {"message": "Here", "evidence_ids": ["evd_nope"]})
    problem = assert_problem(unknown, 422, "validation_error")
    assert [error["pointer"] for error in problem["errors"]] == ["/evidence_ids/0"]
    response = await demo.post(path, {"message": "It was shared on 18 November."})
    assert response.status_code == 200
    answered = response.json()
    assert answered["status"] == "in_review"
    assert answered["info_request"] is None
    assert answered["status_history"][-1]["note"] == "It was shared on 18 November."
    again = await demo.post(path, {"message": "More"})
    assert assert_problem(again, 409, "invalid_transition")["current_status"] == "in_review"


async def test_appeal_once(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await _report_in(demo, client, "actioned")
    path = f"/v1/reports/{report['id']}/appeal"
    response = await demo.post(path, {"reason": "Please look again."})
    assert response.status_code == 200
    appealed = response.json()
    assert_schema("Report", appealed)
    assert appealed["status"] == "in_review"
    assert appealed["appeal"]["reason"] == "Please look again."
    assert appealed["decision"] is None
    assert all(entry["decision"] is None for entry in appealed["items"])
    assert "actioned" in appealed["status_history"][-1]["note"]
    await advance(client, 60)
    redecided = await demo.report(report["id"])
    assert redecided["status"] == "actioned"
    assert redecided["appeal"] is not None
    twice = await demo.post(path, {"reason": "Again"})
    assert assert_problem(twice, 409, "invalid_transition")["current_status"] == "actioned"


async def test_appeal_needs_a_decision(demo: Agency) -> None:
    report = await demo.create()
    response = await demo.post(f"/v1/reports/{report['id']}/appeal", {"reason": "x"})
    assert assert_problem(response, 409, "invalid_transition")["current_status"] == "draft"


# -- list -----------------------------------------------------------------------------------------


async def test_list_pages_in_creation_order(demo: Agency) -> None:
    ids = [(await demo.create(client_reference=f"CP-{n}"))["id"] for n in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await demo.get("/v1/reports", params=params)
        assert response.status_code == 200
        page = response.json()
        assert_schema("ReportPage", page)
        seen.extend(report["id"] for report in page["data"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


async def test_list_is_stable_under_inserts(demo: Agency) -> None:
    ids = [(await demo.create(client_reference=f"CP-{n}"))["id"] for n in range(4)]
    first = (await demo.get("/v1/reports", params={"limit": 2})).json()
    ids.append((await demo.create(client_reference="CP-late"))["id"])
    rest = (await demo.get("/v1/reports", params={"cursor": first["next_cursor"]})).json()
    assert [r["id"] for r in first["data"] + rest["data"]] == ids
    assert rest["next_cursor"] is None


async def test_list_filters(demo: Agency, client: httpx.AsyncClient, mock: MockPlatform) -> None:
    draft = await demo.create(client_reference="CP-draft")
    submitted = await demo.submitted(client_reference="CP-submitted")
    await advance(client, 60)
    later = await demo.create(client_reference="CP-later")
    by_status = await demo.get("/v1/reports", params={"status": ["draft"]})
    assert [r["id"] for r in by_status.json()["data"]] == [draft["id"], later["id"]]
    both = await demo.get("/v1/reports", params=[("status", "actioned"), ("status", "draft")])
    assert {r["id"] for r in both.json()["data"]} == {draft["id"], submitted["id"], later["id"]}
    since = (await demo.report(later["id"]))["updated_at"]
    recent = await demo.get("/v1/reports", params={"updated_since": since})
    assert [r["id"] for r in recent.json()["data"]] == [later["id"]]
    decided_at = (await demo.report(submitted["id"]))["updated_at"]
    recent = await demo.get("/v1/reports", params={"updated_since": decided_at})
    assert [r["id"] for r in recent.json()["data"]] == [submitted["id"], later["id"]]
    assert mock.clock.frozen


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"status": "bogus"},
        {"updated_since": "yesterday"},
        {"cursor": "not-a-cursor"},
    ],
)
async def test_list_rejects_bad_query(demo: Agency, params: dict[str, str]) -> None:
    response = await demo.get("/v1/reports", params=params)
    problem = assert_problem(response, 400, "invalid_request")
    assert problem["parameter"] == next(iter(params))


# -- helpers --------------------------------------------------------------------------------------


async def _report_in(demo: Agency, client: httpx.AsyncClient, status: str) -> dict[str, Any]:
    """A report brought to `status` through the API (standard priority timings: 1 s, 1 s, 3 s)."""
    if status == "draft":
        return await demo.create()
    if status == "expired":
        report = await demo.create()
        await advance(client, 24 * 3600)
        await demo.login()  # the token expired meanwhile
        return report
    if status == "info_requested":
        report = await demo.submitted()
        response = await client.post(
            f"/_mock/reports/{report['id']}/request-info", json={"question": "When?"}
        )
        assert response.status_code == 200, response.text
        return report
    report = await demo.submitted()
    if status == "withdrawn":
        await demo.post(f"/v1/reports/{report['id']}/withdraw")
        return report
    offsets = {"submitted": 0, "acknowledged": 1, "in_review": 2, "actioned": 5}
    await advance(client, offsets[status])
    assert (await demo.report(report["id"]))["status"] == status
    return report
