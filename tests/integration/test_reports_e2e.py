"""Every report operation through the SDK against the mock server (see conftest for the matrix)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from crs_sdk import (
    BadRequestError,
    Category,
    ContentType,
    DuplicateReportError,
    EventType,
    InvalidTransitionError,
    LegalBasis,
    NotFoundError,
    Officer,
    Platform,
    Report,
    ReportCreate,
    ReportDecidedEvent,
    ReportItemCreate,
    ReportStatus,
    RequestedAction,
    ValidationError,
    ViolationBasis,
)

if TYPE_CHECKING:
    from integration.conftest import Crs

pytestmark = pytest.mark.anyio


def draft(*urls: str, **overrides: Any) -> ReportCreate:
    fields: dict[str, Any] = {
        "client_reference": f"CP-TEST-{uuid.uuid4().hex[:8]}",
        "items": [
            ReportItemCreate(url=url, platform=Platform.INSTAGRAM, content_type=ContentType.POST)
            for url in (urls or ("https://www.instagram.com/p/Cx0001/",))
        ],
        "category": Category.CHILD_CYBERBULLYING,
        "violation_basis": ViolationBasis.BOTH,
        "legal_basis": [LegalBasis(jurisdiction="GB", instrument="OSA 2023", provision="s. 12")],
        "explanation": "Coordinated harassment of a 13-year-old pupil.",
        "requested_actions": [RequestedAction.REMOVE],
        "reporting_officer": Officer(name="Sam Okafor", email="s.okafor@ministry.example.gov"),
        "good_faith_declaration": True,
    }
    fields.update(overrides)
    return ReportCreate(**fields)


async def submitted(crs: Crs, *urls: str) -> Report:
    report = await crs("reports.create", draft(*urls))
    return await crs("reports.submit", report.id)


async def test_create_get_and_list(crs: Crs) -> None:
    created: Report = await crs("reports.create", draft())
    assert created.status == ReportStatus.DRAFT
    assert created.id.startswith("rpt_")

    fetched: Report = await crs("reports.get", created.id)
    assert fetched == created

    second = await crs("reports.create", draft())
    listed = await crs("reports.list", page_size=1)  # two pages, followed by the pager
    assert [report.id for report in listed] == [created.id, second.id]
    drafts = await crs("reports.list", status=ReportStatus.DRAFT)
    assert {report.id for report in drafts} == {created.id, second.id}
    assert await crs("reports.list", status=[ReportStatus.ACTIONED]) == []
    future = datetime.now(timezone.utc) + timedelta(days=30)
    assert await crs("reports.list", updated_since=future) == []


async def test_submit_and_wait_for_a_per_item_decision(crs: Crs) -> None:
    report = await submitted(
        crs, "https://www.instagram.com/p/Cx0001/", "https://www.instagram.com/p/no-violation/"
    )
    assert report.status == ReportStatus.SUBMITTED
    await crs.advance(3600)
    report = await crs("reports.wait", report.id, timeout=10, poll_interval=0.01)
    assert report.status == ReportStatus.PARTIALLY_ACTIONED
    outcomes = [item.decision.outcome for item in report.items if item.decision]
    assert outcomes == ["actioned", "no_action"]
    assert [change.status for change in report.status_history] == [
        "draft",
        "submitted",
        "acknowledged",
        "in_review",
        "partially_actioned",
    ]


async def test_information_request_answered(crs: Crs) -> None:
    report = await submitted(crs, "https://www.facebook.com/needs-info/posts/1")
    await crs.advance(3600)
    report = await crs("reports.wait", report.id, timeout=10, poll_interval=0.01)
    assert report.status == ReportStatus.INFO_REQUESTED
    assert report.info_request is not None

    report = await crs("reports.respond", report.id, "The account belongs to the same adult.")
    assert report.status == ReportStatus.IN_REVIEW
    assert report.info_request is None
    await crs.advance(3600)
    report = await crs("reports.wait", report.id, timeout=10, poll_interval=0.01)
    assert report.status == ReportStatus.ACTIONED


async def test_withdraw(crs: Crs) -> None:
    report = await submitted(crs)
    report = await crs("reports.withdraw", report.id, reason="Resolved by the police.")
    assert report.status == ReportStatus.WITHDRAWN
    with pytest.raises(InvalidTransitionError) as caught:
        await crs("reports.submit", report.id)
    assert caught.value.current_status == ReportStatus.WITHDRAWN
    assert caught.value.status_code == 409


async def test_appeal_a_decision(crs: Crs) -> None:
    report = await submitted(crs)
    await crs.decide(report.id, "no_action")
    report = await crs("reports.get", report.id)
    assert report.status == ReportStatus.NO_ACTION

    report = await crs("reports.appeal", report.id, "The platform missed the second video.")
    assert report.status == ReportStatus.IN_REVIEW
    with pytest.raises(InvalidTransitionError):
        await crs("reports.appeal", report.id, "again")


async def test_events_follow_the_lifecycle(crs: Crs) -> None:
    report = await submitted(crs)
    await crs.decide(report.id, "actioned")
    events = await crs("events.list")
    types = [event.type for event in events]
    assert types == [
        EventType.REPORT_CREATED,
        EventType.REPORT_SUBMITTED,
        EventType.REPORT_ACKNOWLEDGED,
        EventType.REPORT_IN_REVIEW,
        EventType.REPORT_DECIDED,
    ]
    decided = events[-1]
    assert isinstance(decided, ReportDecidedEvent)
    assert decided.data.report_id == report.id
    assert decided.data.decision.outcome == ReportStatus.ACTIONED
    later = await crs("events.list", after=events[1].id)
    assert [event.id for event in later] == [event.id for event in events[2:]]


async def test_errors_are_typed(crs: Crs) -> None:
    with pytest.raises(NotFoundError) as missing:
        await crs("reports.get", "rpt_doesnotexist")
    assert missing.value.request_id is not None
    assert missing.value.request_id.startswith("req_")

    first = await crs("reports.create", draft())
    with pytest.raises(DuplicateReportError) as duplicate:
        await crs("reports.create", draft(client_reference=first.client_reference))
    assert duplicate.value.existing_report_id == first.id

    with pytest.raises(ValidationError) as invalid:
        await crs("reports.create", draft("ftp://not-a-web-url"))
    assert [error.pointer for error in invalid.value.errors] == ["/items/0/url"]
    assert "/items/0/url" in str(invalid.value)


async def test_a_refused_query_parameter_is_named(crs: Crs) -> None:
    with pytest.raises(BadRequestError) as refused:
        await crs("events.list", after="evt_not-an-event")
    assert refused.value.problem is not None
    assert refused.value.problem.code == "invalid_request"
    assert refused.value.problem.parameter == "after"
    assert refused.value.problem.header is None


async def test_good_faith_declaration_is_needed_to_submit(crs: Crs) -> None:
    report = await crs("reports.create", draft(good_faith_declaration=False))
    with pytest.raises(ValidationError) as caught:
        await crs("reports.submit", report.id)
    assert [error.pointer for error in caught.value.errors] == ["/good_faith_declaration"]
    report = await crs("reports.submit", report.id, good_faith_declaration=True)
    assert report.status == ReportStatus.SUBMITTED


async def test_agencies_do_not_see_each_other(crs: Crs, flavour: str) -> None:
    report = await crs("reports.create", draft())
    other = await crs.control.post(
        "/_mock/agencies", json={"client_id": f"{crs.agency}-b", "client_secret": "b-secret-1"}
    )
    assert other.status_code in {200, 201}
    token = await crs.control.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(f"{crs.agency}-b", "b-secret-1"),
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    response = await crs.control.get(f"/v1/reports/{report.id}", headers=headers)
    assert response.status_code == 404
    assert flavour in {"sync", "async"}


async def test_the_same_idempotency_key_never_makes_two_reports(crs: Crs) -> None:
    body = draft()
    first = await crs("reports.create", body, idempotency_key="case-4217-create")
    again = await crs("reports.create", body, idempotency_key="case-4217-create")
    assert again == first
    assert len(await crs("reports.list")) == 1
