"""crs_sdk.testing: realistic model factories and signed webhook deliveries."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import crs_sdk.testing
from crs_sdk import (
    EventType,
    EvidenceReceivedEvent,
    InfoRequestedEvent,
    ItemOutcome,
    Priority,
    ReportDecidedEvent,
    ReportEvent,
    ReportStatus,
    UnknownEvent,
    unstructure,
)
from crs_sdk.webhooks import MissingHeaderError, WebhookVerifier

CONTRACT = json.loads(
    (Path(__file__).parents[2] / "mock_server/src/crs_mock/openapi.json").read_text("utf-8")
)
REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:contract", Resource.from_contents(CONTRACT, default_specification=DRAFT202012)
)
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()


def assert_contract(schema: str, value: Any) -> None:
    validator = Draft202012Validator(
        {"$ref": f"urn:contract#/components/schemas/{schema}"},
        registry=REGISTRY,
        format_checker=FormatChecker(),
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
    assert not errors, errors


def test_report_create_is_valid_and_unique() -> None:
    first = crs_sdk.testing.make_report_create()
    assert_contract("ReportCreate", unstructure(first))
    assert first.good_faith_declaration
    assert first.client_reference != crs_sdk.testing.make_report_create().client_reference


def test_report_create_overrides() -> None:
    urgent = crs_sdk.testing.make_report_create(
        priority=Priority.URGENT, escalation_reason="A child is at immediate risk."
    )
    assert urgent.priority == Priority.URGENT
    assert_contract("ReportCreate", unstructure(urgent))
    with pytest.raises(TypeError):
        crs_sdk.testing.make_report_create(no_such_field=1)


def test_report_is_what_the_platform_answers() -> None:
    report = crs_sdk.testing.make_report()
    assert report.status == ReportStatus.DRAFT
    assert report.id.startswith("rpt_")
    assert report.items[0].id.startswith("itm_")
    assert_contract("Report", unstructure(report))
    submitted = crs_sdk.testing.make_report(status=ReportStatus.SUBMITTED)
    assert submitted.status == ReportStatus.SUBMITTED
    assert submitted.id != report.id


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [
        *[
            (t, ReportEvent)
            for t in EventType
            if t.value.startswith("report.")
            and t.value not in {"report.info_requested", "report.decided"}
        ],
        (EventType.REPORT_INFO_REQUESTED, InfoRequestedEvent),
        (EventType.REPORT_DECIDED, ReportDecidedEvent),
        (EventType.EVIDENCE_RECEIVED, EvidenceReceivedEvent),
    ],
)
def test_every_event_type(event_type: EventType, cls: type) -> None:
    event = crs_sdk.testing.make_event(event_type)
    assert isinstance(event, cls)
    assert event.type == event_type
    assert_contract("Event", unstructure(event))


def test_event_overrides() -> None:
    at = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    event = crs_sdk.testing.make_event(
        "report.decided", id="evt_00000000000000000007", timestamp=at, report_id="rpt_given"
    )
    assert isinstance(event, ReportDecidedEvent)
    assert (event.id, event.timestamp, event.data.report_id) == (
        "evt_00000000000000000007",
        at,
        "rpt_given",
    )
    unknown = crs_sdk.testing.make_event("report.escalated", level=2)
    assert isinstance(unknown, UnknownEvent)
    assert unknown.data == {"level": 2}


def test_event_overrides_take_models_and_members() -> None:
    """Before the fix, a model among the overrides was refused (``expected an object``)."""
    decided = crs_sdk.testing.make_event("report.decided")
    assert isinstance(decided, ReportDecidedEvent)
    decision = attrs.evolve(decided.data.decision, outcome=ItemOutcome.NO_ACTION)
    event = crs_sdk.testing.make_event(
        EventType.REPORT_DECIDED,
        decision=decision,
        items=decided.data.items,
        status=ReportStatus.NO_ACTION,
    )
    assert isinstance(event, ReportDecidedEvent)
    assert (event.data.decision, event.data.items) == (decision, decided.data.items)
    assert event.data.status is ReportStatus.NO_ACTION


def test_report_overrides_are_decoded_as_the_platform_sends_them() -> None:
    """Before the fix, ``status="actioned"`` stayed a str (``.is_decided`` raised AttributeError)
    and a timestamp string stayed a str (unstructure raised AttributeError)."""
    at = "2026-12-01T08:00:00Z"
    report = crs_sdk.testing.make_report(status="actioned", updated_at=at)
    assert report.status is ReportStatus.ACTIONED
    assert report.status.is_decided
    assert report.updated_at == datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    assert unstructure(report)["updated_at"] == at
    same = crs_sdk.testing.make_report(
        id=report.id, status=ReportStatus.ACTIONED, updated_at=report.updated_at
    )
    assert (same.status, same.updated_at) == (report.status, report.updated_at)
    with pytest.raises(TypeError, match=r"no Report field: \['stauts'\]"):
        crs_sdk.testing.make_report(stauts="actioned")


def test_event_type_is_not_an_override() -> None:
    """Before the fix, ``type=`` was silently ignored."""
    with pytest.raises(TypeError, match="as event_type, not as type="):
        crs_sdk.testing.make_event("report.decided", type="report.submitted")


def test_signed_webhook_verifies() -> None:
    event = crs_sdk.testing.make_event("report.decided")
    body, headers = crs_sdk.testing.signed_webhook(event, SECRET)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    verified = WebhookVerifier(SECRET).verify(body, headers)
    assert verified == event


def test_signed_webhook_keeps_an_empty_webhook_id() -> None:
    """Before the fix, ``webhook_id=""`` was replaced by a random id: a receiver's refusal of an
    empty ``webhook-id`` could not be tested with it."""
    body, headers = crs_sdk.testing.signed_webhook(
        crs_sdk.testing.make_event("report.decided"), SECRET, webhook_id=""
    )
    assert headers["webhook-id"] == ""
    with pytest.raises(MissingHeaderError, match="webhook-id"):
        WebhookVerifier(SECRET).verify(body, headers)


def test_signed_webhook_from_a_dict_with_fixed_id_time_and_rotation() -> None:
    payload = unstructure(crs_sdk.testing.make_event("report.submitted"))
    body, headers = crs_sdk.testing.signed_webhook(
        payload, [SECRET, OLD_SECRET], webhook_id="msg_1", timestamp=1_795_000_000
    )
    assert json.loads(body) == payload
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == "1795000000"
    assert len(headers["webhook-signature"].split()) == 2
    then = datetime.fromtimestamp(1_795_000_000, tz=timezone.utc)
    for secret in (SECRET, OLD_SECRET):
        WebhookVerifier(secret, clock=lambda: then).verify_signature_only(body, headers)


def test_signed_webhook_of_raw_bytes_is_byte_exact() -> None:
    raw = b'{"id": "evt_1",  "type": "report.created"}'
    body, _ = crs_sdk.testing.signed_webhook(raw, SECRET)
    assert body == raw


def test_testing_needs_neither_pytest_nor_the_mock() -> None:
    code = (
        "import sys, crs_sdk.testing; "
        "print(sorted(m for m in ('pytest', 'crs_mock', '_pytest') if m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
