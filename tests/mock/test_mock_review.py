"""The review simulation: timings per priority, scenario markers, forced outcomes, draft expiry."""

from __future__ import annotations

import contextlib
import math
import threading
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx
import pytest

from crs_mock import MockPlatform, ReviewClock, ReviewTimings, StageDelays, create_app
from crs_mock._app import run_scheduler
from crs_mock._review import derive_outcome, scenario_outcome
from mock.mock_support import Agency, advance, assert_problem, assert_schema, item

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

pytestmark = pytest.mark.anyio


def _history(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(change["status"], change["at"][11:23]) for change in report["status_history"]]


async def test_standard_review_timeline(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await demo.submitted()
    await advance(client, 0.999)
    assert (await demo.report(report["id"]))["status"] == "submitted"
    await advance(client, 0.001)
    assert (await demo.report(report["id"]))["status"] == "acknowledged"
    await advance(client, 3600)  # long after: history still carries the scheduled times
    await demo.login()
    decided = await demo.report(report["id"])
    assert_schema("Report", decided)
    assert _history(decided) == [
        ("draft", "00:00:00.000"),
        ("submitted", "00:00:00.000"),
        ("acknowledged", "00:00:01.000"),
        ("in_review", "00:00:02.000"),
        ("actioned", "00:00:05.000"),
    ]
    assert decided["decision"]["outcome"] == "actioned"
    assert decided["decision"]["decided_at"] == "2026-01-01T00:00:05.000Z"
    decision = decided["items"][0]["decision"]
    assert decision["outcome"] == "actioned"
    assert decision["actions_taken"] == ["remove", "preserve"]
    assert decision["reason"]


@pytest.mark.parametrize(("priority", "decided_after"), [("high", 2.5), ("urgent", 1.0)])
async def test_faster_priorities(
    demo: Agency, client: httpx.AsyncClient, priority: str, decided_after: float
) -> None:
    report = await demo.submitted(priority=priority, escalation_reason="A child is at risk.")
    await advance(client, decided_after - 0.001)
    assert (await demo.report(report["id"]))["status"] == "in_review"
    await advance(client, 0.001)
    assert (await demo.report(report["id"]))["status"] == "actioned"


@pytest.mark.parametrize(
    ("urls", "outcome", "item_outcomes"),
    [
        (["https://x.example/a"], "actioned", ["actioned"]),
        (["https://x.example/NO-VIOLATION"], "no_action", ["no_action"]),
        (["https://x.example/unavailable"], "content_unavailable", ["content_unavailable"]),
        (["https://x.example/reject-me"], "rejected", ["rejected"]),
        (
            ["https://x.example/a", "https://x.example/no-violation"],
            "partially_actioned",
            ["actioned", "no_action"],
        ),
        (
            [
                "https://x.example/reject",
                "https://x.example/unavailable",
                "https://x.example/reject2",
            ],
            "rejected",
            ["rejected", "content_unavailable", "rejected"],
        ),
    ],
)
async def test_scenario_markers(
    demo: Agency,
    client: httpx.AsyncClient,
    urls: list[str],
    outcome: str,
    item_outcomes: list[str],
) -> None:
    report = await demo.submitted(items=[item(url) for url in urls])
    await advance(client, 5)
    decided = await demo.report(report["id"])
    assert decided["status"] == decided["decision"]["outcome"] == outcome
    assert [entry["decision"]["outcome"] for entry in decided["items"]] == item_outcomes
    for entry in decided["items"]:
        expected = ["remove", "preserve"] if entry["decision"]["outcome"] == "actioned" else []
        assert entry["decision"]["actions_taken"] == expected


def test_outcome_rule() -> None:
    assert derive_outcome(["no_action", "rejected"]) == "no_action"
    assert derive_outcome(["content_unavailable", "rejected", "rejected"]) == "rejected"
    assert derive_outcome(["content_unavailable", "rejected"]) == "rejected"
    assert scenario_outcome("https://x.example/Unavailable/no-violation") == "no_action"


async def test_needs_info_asks_once_then_decides(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await demo.submitted(items=[item("https://x.example/needs-info")])
    await advance(client, 5)
    asked = await demo.report(report["id"])
    assert asked["status"] == "info_requested"
    assert asked["info_request"]["id"].startswith("inf_")
    assert asked["info_request"]["requested_at"] == "2026-01-01T00:00:05.000Z"
    assert asked["info_request"]["due_at"] is None
    await advance(client, 600)
    assert (await demo.report(report["id"]))["status"] == "info_requested"  # waits for the answer
    response = await demo.post(f"/v1/reports/{report['id']}/responses", {"message": "Here."})
    assert response.json()["status"] == "in_review"
    await advance(client, 3)
    decided = await demo.report(report["id"])
    assert decided["status"] == "actioned"
    statuses = [change["status"] for change in decided["status_history"]]
    assert statuses.count("info_requested") == 1


async def test_forced_decision(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await demo.submitted(items=[item("https://x.example/a"), item("https://x.example/b")])
    first, second = (entry["id"] for entry in report["items"])
    response = await client.post(
        f"/_mock/reports/{report['id']}/decide",
        json={
            "items": [{"item_id": second, "outcome": "no_action"}],
            "summary": "One removed.",
        },
    )
    assert response.status_code == 200, response.text
    decided = response.json()
    assert_schema("Report", decided)
    assert decided["status"] == "partially_actioned"
    assert decided["decision"]["summary"] == "One removed."
    outcomes = {entry["id"]: entry["decision"] for entry in decided["items"]}
    assert outcomes[first]["outcome"] == "actioned"
    assert outcomes[second]["outcome"] == "no_action"
    assert [change["status"] for change in decided["status_history"]] == [
        "draft",
        "submitted",
        "acknowledged",
        "in_review",
        "partially_actioned",
    ]
    await advance(client, 60)  # the review's own schedule was cancelled
    assert (await demo.report(report["id"]))["status"] == "partially_actioned"


async def test_forced_outcome_for_unlisted_items(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await demo.submitted(
        items=[item("https://x.example/no-violation"), item("https://x.example/b")]
    )
    first = report["items"][0]["id"]
    forced = await client.post(
        f"/_mock/reports/{report['id']}/decide",
        json={"outcome": "rejected", "items": [{"item_id": first, "outcome": "actioned"}]},
    )
    assert [entry["decision"]["outcome"] for entry in forced.json()["items"]] == [
        "actioned",
        "rejected",
    ]
    assert forced.json()["status"] == "partially_actioned"


async def test_forced_decision_without_outcomes_follows_the_scenario(
    demo: Agency, client: httpx.AsyncClient
) -> None:
    report = await demo.submitted(items=[item("https://x.example/unavailable")])
    forced = await client.post(f"/_mock/reports/{report['id']}/decide")
    assert forced.status_code == 200, forced.text
    assert forced.json()["status"] == "content_unavailable"


async def test_forced_decision_errors(demo: Agency, client: httpx.AsyncClient) -> None:
    draft = await demo.create()
    refused = await client.post(f"/_mock/reports/{draft['id']}/decide", json={})
    assert assert_problem(refused, 409, "invalid_transition")["current_status"] == "draft"
    # Waiting for the agency's response: the lifecycle goes back to in_review only with one.
    asked = await demo.submitted(client_reference="CP-ASKED")
    await client.post(f"/_mock/reports/{asked['id']}/request-info", json={"question": "Who?"})
    waiting = await client.post(f"/_mock/reports/{asked['id']}/decide", json={})
    assert assert_problem(waiting, 409, "invalid_transition")["current_status"] == "info_requested"
    missing = await client.post("/_mock/reports/rpt_nope/decide", json={})
    assert_problem(missing, 404, "not_found")
    report = await demo.submitted(client_reference="CP-2")
    wrong = await client.post(
        f"/_mock/reports/{report['id']}/decide",
        json={"outcome": "maybe", "items": [{"item_id": "itm_zzz", "outcome": "actioned"}]},
    )
    assert {e["pointer"] for e in assert_problem(wrong, 422, "validation_error")["errors"]} == {
        "/outcome"
    }
    unknown = await client.post(
        f"/_mock/reports/{report['id']}/decide",
        json={"items": [{"item_id": "itm_zzz", "outcome": "actioned"}]},
    )
    problem = assert_problem(unknown, 422, "validation_error")
    assert [e["pointer"] for e in problem["errors"]] == ["/items/0/item_id"]


async def test_forced_decision_refuses_an_item_listed_twice(
    demo: Agency, client: httpx.AsyncClient
) -> None:
    """Two outcomes for one item: which was meant is unknown, so neither wins silently."""
    report = await demo.submitted()
    first = report["items"][0]["id"]
    twice = await client.post(
        f"/_mock/reports/{report['id']}/decide",
        json={
            "items": [
                {"item_id": first, "outcome": "actioned"},
                {"item_id": first, "outcome": "no_action"},
            ]
        },
    )
    problem = assert_problem(twice, 422, "validation_error")
    assert problem["errors"] == [
        {
            "pointer": "/items/1/item_id",
            "detail": f"Item {first} is listed twice (first at /items/0)",
        }
    ]
    assert (await demo.report(report["id"]))["status"] == "submitted"


async def test_forced_decision_checks_the_status_before_the_items(
    demo: Agency, client: httpx.AsyncClient
) -> None:
    """The order of ``/v1``: report (404), status (409), then what the body asks of the report."""
    draft = await demo.create()
    refused = await client.post(
        f"/_mock/reports/{draft['id']}/decide",
        json={"items": [{"item_id": "itm_zzz", "outcome": "actioned"}]},
    )
    assert assert_problem(refused, 409, "invalid_transition")["current_status"] == "draft"


async def test_forced_information_request(demo: Agency, client: httpx.AsyncClient) -> None:
    report = await demo.submitted()
    response = await client.post(
        f"/_mock/reports/{report['id']}/request-info",
        json={"question": "When was it posted?"},
    )
    assert response.status_code == 200, response.text
    asked = response.json()
    assert asked["status"] == "info_requested"
    assert asked["info_request"]["question"] == "When was it posted?"
    assert asked["info_request"]["due_at"] is None
    bad = await client.post(f"/_mock/reports/{report['id']}/request-info", json={})
    assert_problem(bad, 422, "validation_error")


async def test_untouched_drafts_expire(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform
) -> None:
    report = await demo.create()
    await advance(client, 24 * 3600 - 1)
    await demo.login()
    assert (await demo.report(report["id"]))["status"] == "draft"
    await advance(client, 1)
    await demo.login()
    expired = await demo.report(report["id"])
    assert expired["status"] == "expired"
    assert expired["status_history"][-1]["at"] == "2026-01-02T00:00:00.000Z"
    assert (await demo.events())[-1]["type"] == "report.expired"
    submit = await demo.post(f"/v1/reports/{report['id']}/submit")
    assert assert_problem(submit, 409, "invalid_transition")["current_status"] == "expired"
    assert mock.review.next_due_ms is None


@contextlib.asynccontextmanager
async def _platform_with(timings: ReviewTimings) -> AsyncIterator[tuple[httpx.AsyncClient, Agency]]:
    """An in-process platform with `timings` on a frozen clock, and its demo agency logged in."""
    app = create_app(review=timings, clock=ReviewClock(frozen=True))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            agency = Agency(http, "demo-agency")
            await agency.login()
            yield http, agency
    finally:
        app.state.mock.close()


async def test_custom_timings() -> None:
    timings = ReviewTimings(standard=StageDelays(10, 20, 30), draft_expiry=60)
    async with _platform_with(timings) as (http, agency):
        report = await agency.submitted()
        draft = await agency.create(client_reference="CP-draft")
        await advance(http, 59.999)
        assert (await agency.report(report["id"]))["status"] == "in_review"
        await advance(http, 0.001)
        assert (await agency.report(report["id"]))["status"] == "actioned"
        assert (await agency.report(draft["id"]))["status"] == "expired"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: StageDelays(math.nan, 1, 1), id="nan-stage"),
        pytest.param(lambda: StageDelays(1, -0.5, 1), id="negative-stage"),
        pytest.param(lambda: StageDelays(1, 1, 1e300), id="stage-past-any-date"),
        pytest.param(lambda: ReviewTimings(draft_expiry=math.nan), id="nan-expiry"),
        pytest.param(lambda: ReviewTimings(draft_expiry=-1), id="negative-expiry"),
        pytest.param(lambda: ReviewTimings(draft_expiry=-math.inf), id="minus-infinity"),
    ],
)
def test_timings_the_review_cannot_keep_are_refused(make: Callable[[], object]) -> None:
    """Such timings used to be taken, then every create (or submit) was a 500, or every draft
    expired at once."""
    with pytest.raises(ValueError, match=r"must be 0 to 3\.1536e\+08 seconds, or math\.inf"):
        make()


async def test_infinite_timings_mean_never() -> None:
    """``math.inf``: drafts that never expire, a stage the review never leaves by itself (a
    forced decision still moves it on)."""
    timings = ReviewTimings(standard=StageDelays(1, math.inf, 1), draft_expiry=math.inf)
    async with _platform_with(timings) as (http, agency):
        draft = await agency.create(client_reference="CP-draft")
        report = await agency.submitted()
        await advance(http, 366 * 86400)
        await agency.login()
        assert (await agency.report(draft["id"]))["status"] == "draft"
        assert (await agency.report(report["id"]))["status"] == "acknowledged"
        forced = await http.post(f"/_mock/reports/{report['id']}/decide", json={})
        assert forced.json()["status"] == "actioned"


async def test_background_scheduler_applies_due_steps(
    mock: MockPlatform, demo: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a server the lifespan task wakes up when a step is due, with no request needed."""
    report = await demo.submitted()
    decided = threading.Event()
    run_due = mock.run_due

    def observed() -> int:
        applied = run_due()
        if _status(mock, report["id"]) == "actioned":
            decided.set()
        return applied

    monkeypatch.setattr(mock, "run_due", observed)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run_scheduler, mock)
        mock.clock.advance(10)  # wakes the scheduler: no request is made
        assert await anyio.to_thread.run_sync(decided.wait, 5)
        tasks.cancel_scope.cancel()
    assert mock.review.next_due_ms is None


def _status(mock: MockPlatform, report_id: str) -> str:
    with mock.store.transaction() as tx:
        row = tx.one("SELECT status FROM reports WHERE id = ?", (report_id,))
    assert row is not None
    return str(row["status"])
