"""Realistic models for tests: a report to create, a report as the platform answers, events.

Each factory builds the wire JSON the contract describes and decodes it with the SDK's own
converter, so what a test gets is exactly what the client would have produced from a real answer.
Identifiers and client references are random, so two calls never collide.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Literal, overload

import attrs

from crs_sdk._converter import structure, structure_event, unstructure
from crs_sdk._enums import (
    Category,
    ContentType,
    Platform,
    RequestedAction,
    ViolationBasis,
)
from crs_sdk._models import (
    Event,
    LegalBasis,
    Officer,
    Report,
    ReportCreate,
    ReportItemCreate,
)

if TYPE_CHECKING:
    from crs_sdk._enums import EventType
    from crs_sdk._models import (
        EvidenceReceivedEvent,
        InfoRequestedEvent,
        ReportDecidedEvent,
        ReportEvent,
    )

__all__ = ["make_event", "make_report", "make_report_create"]

#: When the things the factories describe happened, unless told otherwise.
BASE_TIME: Final = datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)

_STATUSES: Final[dict[str, tuple[str, str | None]]] = {
    # event type -> (status after it, status before it)
    "report.created": ("draft", None),
    "report.submitted": ("submitted", "draft"),
    "report.acknowledged": ("acknowledged", "submitted"),
    "report.in_review": ("in_review", "acknowledged"),
    "report.info_requested": ("info_requested", "in_review"),
    "report.responded": ("in_review", "info_requested"),
    "report.decided": ("actioned", "in_review"),
    "report.appealed": ("in_review", "actioned"),
    "report.withdrawn": ("withdrawn", "submitted"),
    "report.expired": ("expired", "draft"),
}
_ENVELOPE: Final = frozenset({"id", "type", "timestamp"})


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def _time(offset_minutes: float = 0) -> str:
    moment = BASE_TIME + timedelta(minutes=offset_minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_report_create(**overrides: Any) -> ReportCreate:
    """A complete, valid `ReportCreate` (grooming on Instagram, UK law); fields overridable.

    ``make_report_create(priority=Priority.URGENT, escalation_reason="A child is at risk now")``
    """
    report = ReportCreate(
        client_reference=f"CP-2026-{secrets.token_hex(4).upper()}",
        items=(
            ReportItemCreate(
                url="https://www.instagram.com/p/C7xK2mNsQ4f/",
                platform=Platform.INSTAGRAM,
                content_type=ContentType.POST,
                account="@teen.modelling.scout",
                observed_at=BASE_TIME - timedelta(hours=3),
            ),
        ),
        category=Category.GROOMING,
        violation_basis=ViolationBasis.BOTH,
        legal_basis=(
            LegalBasis(
                jurisdiction="GB",
                instrument="Online Safety Act 2023",
                provision="s. 10(2)",
                explanation="Content that facilitates child sexual exploitation and abuse.",
            ),
        ),
        explanation=(
            "The account offers children 'modelling contracts' and asks them to move to "
            "private messages, a known grooming pattern."
        ),
        requested_actions=(
            RequestedAction.REMOVE,
            RequestedAction.PRESERVE,
            RequestedAction.ACCOUNT_ACTION,
        ),
        territorial_scope=("GB",),
        reporting_officer=Officer(
            name="Amelia Hartley", email="amelia.hartley@childprotection.example.gov"
        ),
        good_faith_declaration=True,
    )
    return attrs.evolve(report, **overrides)


def make_report(**overrides: Any) -> Report:
    """A `Report` as the platform returns it (a fresh ``draft`` by default); fields overridable.

    ``make_report(status=ReportStatus.SUBMITTED)``, or ``status="submitted"``: each override is
    decoded as the platform's answer would be (a status string becomes the `ReportStatus`, an
    RFC 3339 string a datetime), models, members and datetimes taken as they are.

    Raises:
        TypeError: an override names no field of `Report`.
        DecodeError: an override does not fit its field.
    """
    unknown = sorted(set(overrides) - {field.name for field in attrs.fields(Report)})
    if unknown:
        raise TypeError(f"make_report() got overrides that are no Report field: {unknown}")
    created: dict[str, Any] = unstructure(make_report_create())
    items = [
        {
            "account": None,
            "observed_at": None,
            **item,
            "id": _id("itm"),
            "decision": None,
        }
        for item in created.pop("items")
    ]
    document = {
        # unstructure leaves out fields at their default; a Report carries them all.
        "legal_basis": [],
        "territorial_scope": [],
        "good_faith_declaration": False,
        "priority": "standard",
        "escalation_reason": None,
        **created,
        "id": _id("rpt"),
        "status": "draft",
        "items": items,
        "info_request": None,
        "decision": None,
        "appeal": None,
        "status_history": [{"status": "draft", "at": _time(), "note": None}],
        "evidence_count": 0,
        "created_at": _time(),
        "updated_at": _time(),
        "submitted_at": None,
    }
    # As JSON, then decoded: make_report(status="actioned").status is ReportStatus.ACTIONED.
    document.update(unstructure(overrides))
    return structure(document, Report)


@overload
def make_event(
    event_type: Literal["report.decided", EventType.REPORT_DECIDED], **overrides: Any
) -> ReportDecidedEvent: ...


@overload
def make_event(
    event_type: Literal["report.info_requested", EventType.REPORT_INFO_REQUESTED],
    **overrides: Any,
) -> InfoRequestedEvent: ...


@overload
def make_event(
    event_type: Literal["evidence.received", EventType.EVIDENCE_RECEIVED], **overrides: Any
) -> EvidenceReceivedEvent: ...


@overload
def make_event(
    event_type: Literal[
        "report.created",
        "report.submitted",
        "report.acknowledged",
        "report.in_review",
        "report.responded",
        "report.appealed",
        "report.withdrawn",
        "report.expired",
        EventType.REPORT_CREATED,
        EventType.REPORT_SUBMITTED,
        EventType.REPORT_ACKNOWLEDGED,
        EventType.REPORT_IN_REVIEW,
        EventType.REPORT_RESPONDED,
        EventType.REPORT_APPEALED,
        EventType.REPORT_WITHDRAWN,
        EventType.REPORT_EXPIRED,
    ],
    **overrides: Any,
) -> ReportEvent: ...


@overload
def make_event(event_type: str | EventType, **overrides: Any) -> Event: ...


def make_event(event_type: str | EventType, **overrides: Any) -> Event:
    """An `Event` of `event_type` with realistic data, decoded to its class.

    Typed by its class for a known type given as a literal (``make_event("report.decided")`` is
    a `ReportDecidedEvent` to mypy too), as an `Event` otherwise.

    `overrides` named ``id`` or ``timestamp`` replace the envelope's; the others replace members of
    ``data`` (``report_id=...``, ``status=...``, ``decision=ReportDecision(...)``): models, enum
    members and datetimes, or their JSON values. An unknown type gives an `UnknownEvent` whose
    data is the overrides.

    Raises:
        TypeError: ``type`` is among the overrides (the type is ``event_type``).
    """
    if "type" in overrides:
        raise TypeError("make_event() takes the event type as event_type, not as type=")
    kind = str(getattr(event_type, "value", event_type))
    # As JSON: the event is decoded from its wire form, in which a model is an object.
    given: dict[str, Any] = unstructure(overrides)
    data_overrides = {k: v for k, v in given.items() if k not in _ENVELOPE}
    event = {
        "id": f"evt_{secrets.randbelow(10**12):020d}",
        "type": kind,
        "timestamp": _time(5),
        **{k: v for k, v in given.items() if k in _ENVELOPE},
        "data": {**_event_data(kind), **data_overrides},
    }
    return structure_event(event)


def _event_data(kind: str) -> dict[str, Any]:
    report_id = _id("rpt")
    if kind == "evidence.received":
        content = b"screenshot"
        evidence = {
            "id": _id("evd"),
            "report_id": report_id,
            "filename": "profile-screenshot.png",
            "content_type": "image/png",
            "size": 482_113,
            "sha256": hashlib.sha256(content).hexdigest(),
            "relevance": "primary",
            "captured_at": _time(-120),
            "received_at": _time(2),
        }
        return {"report_id": report_id, "evidence": evidence}
    if kind not in _STATUSES:
        return {}
    status, previous = _STATUSES[kind]
    data: dict[str, Any] = {
        "report_id": report_id,
        "client_reference": f"CP-2026-{secrets.token_hex(4).upper()}",
        "status": status,
        "previous_status": previous,
    }
    if kind == "report.info_requested":
        data["info_request"] = {
            "id": _id("inf"),
            "question": "Please provide the date on which the first message was sent.",
            "requested_at": _time(5),
            "due_at": _time(5 + 7 * 24 * 60),
        }
    if kind == "report.decided":
        decided = {"outcome": "actioned", "decided_at": _time(5)}
        data["decision"] = {**decided, "summary": "The reported post was removed."}
        data["items"] = [
            {
                "item_id": _id("itm"),
                "url": "https://www.instagram.com/p/C7xK2mNsQ4f/",
                "decision": {**decided, "actions_taken": ["remove"], "reason": None},
            }
        ]
    return data
