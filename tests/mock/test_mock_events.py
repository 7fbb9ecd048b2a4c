"""GET /v1/events: the agency's log, in order, with the data shapes of the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from mock.mock_support import Agency, advance, assert_problem, assert_schema, item

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.anyio


async def test_lifecycle_events_in_order(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await demo.submitted(items=[item("https://x.example/needs-info")])
    await advance(client, 5)
    await demo.post(f"/v1/reports/{report['id']}/responses", {"message": "Here."})
    await advance(client, 3)
    await demo.post(f"/v1/reports/{report['id']}/appeal", {"reason": "Look again."})
    await advance(client, 3)
    response = await demo.get("/v1/events")
    page = response.json()
    assert_schema("EventPage", page)
    events = page["data"]
    assert [event["type"] for event in events] == [
        "report.created",
        "report.submitted",
        "report.acknowledged",
        "report.in_review",
        "report.info_requested",
        "report.responded",
        "report.decided",
        "report.appealed",
        "report.decided",
    ]
    assert [event["id"] for event in events] == sorted(event["id"] for event in events)
    assert [event["timestamp"] for event in events] == sorted(e["timestamp"] for e in events)
    assert page["next_cursor"] is None
    for event in events:
        assert event["data"]["report_id"] == report["id"]
        assert event["data"]["client_reference"] == report["client_reference"]
    transitions = [(e["data"]["previous_status"], e["data"]["status"]) for e in events]
    assert transitions == [
        (None, "draft"),
        ("draft", "submitted"),
        ("submitted", "acknowledged"),
        ("acknowledged", "in_review"),
        ("in_review", "info_requested"),
        ("info_requested", "in_review"),
        ("in_review", "actioned"),
        ("actioned", "in_review"),
        ("in_review", "actioned"),
    ]
    asked = events[4]["data"]
    assert asked["info_request"]["question"]
    decided = events[6]["data"]
    assert decided["decision"]["outcome"] == "actioned"
    assert decided["items"] == [
        {
            "item_id": report["items"][0]["id"],
            "url": "https://x.example/needs-info",
            "decision": decided["items"][0]["decision"],
        }
    ]
    assert decided["items"][0]["decision"]["outcome"] == "actioned"


async def test_paging_with_after(demo: Agency) -> None:
    for n in range(5):
        await demo.create(client_reference=f"CP-{n}")
    first = (await demo.get("/v1/events", params={"limit": 2})).json()
    assert len(first["data"]) == 2
    assert first["next_cursor"] == first["data"][-1]["id"]
    rest = (await demo.get("/v1/events", params={"after": first["next_cursor"]})).json()
    assert len(rest["data"]) == 3
    assert rest["next_cursor"] is None
    # Exactly a full page left: next_cursor is null only once nothing more exists.
    exact = (
        await demo.get("/v1/events", params={"after": first["next_cursor"], "limit": 3})
    ).json()
    assert exact["next_cursor"] is None
    last = rest["data"][-1]["id"]
    assert (await demo.get("/v1/events", params={"after": last})).json() == {
        "data": [],
        "next_cursor": None,
    }
    await demo.create(client_reference="CP-new")
    newer = (await demo.get("/v1/events", params={"after": last})).json()["data"]
    assert [event["type"] for event in newer] == ["report.created"]


async def test_events_are_per_agency(demo: Agency, other: Agency) -> None:
    await demo.create()
    await other.create()
    mine, theirs = await demo.events(), await other.events()
    assert len(mine) == len(theirs) == 1
    assert mine[0]["id"] < theirs[0]["id"]  # one global sequence


@pytest.mark.parametrize("params", [{"after": "42"}, {"after": "evt_x"}, {"limit": "500"}])
async def test_bad_query(demo: Agency, params: dict[str, str]) -> None:
    problem = assert_problem(await demo.get("/v1/events", params=params), 400, "invalid_request")
    assert problem["parameter"] == next(iter(params))


async def test_withdraw_and_expire_events(demo: Agency, client: httpx.AsyncClient) -> None:
    withdrawn = await demo.submitted()
    await demo.post(f"/v1/reports/{withdrawn['id']}/withdraw", {"reason": "Duplicate"})
    draft = await demo.create(client_reference="CP-draft")
    await advance(client, 24 * 3600)
    await demo.login()
    events = await demo.events()
    summary = [(e["type"], e["data"]["report_id"], e["data"]["previous_status"]) for e in events]
    assert summary[-3:] == [
        ("report.withdrawn", withdrawn["id"], "submitted"),
        ("report.created", draft["id"], None),
        ("report.expired", draft["id"], "draft"),
    ]
