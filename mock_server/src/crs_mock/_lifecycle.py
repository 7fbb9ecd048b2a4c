"""Reports as stored documents, and the one primitive that changes a report's status.

A report is kept as its full contract representation (the JSON a client receives) plus the columns
that lists filter on. `record_transition` is the only way a status changes: it updates the document
and its ``status_history`` and appends the event, in the caller's transaction. What happens *next*
(the review schedule) is `crs_mock._review`'s business.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crs_mock._clock import format_ms
from crs_mock._events import append_event, report_event_data
from crs_mock._problems import ProblemError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crs_mock._store import Transaction

__all__ = [
    "DECIDED",
    "WITHDRAWABLE",
    "StoredReport",
    "build_report",
    "insert_report",
    "load_report",
    "new_id",
    "record_transition",
    "require_status",
    "save_report",
]

DECIDED = frozenset(
    {"actioned", "partially_actioned", "no_action", "rejected", "content_unavailable"}
)
WITHDRAWABLE = frozenset({"draft", "submitted", "acknowledged", "in_review", "info_requested"})


def new_id(prefix: str) -> str:
    """An opaque identifier with its type prefix (``rpt_``, ``itm_``, ``inf_``, ...)."""
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass
class StoredReport:
    """A report row: the agency it belongs to, its document, and simulation state."""

    agency_id: str
    document: dict[str, Any]
    info_requests: int = 0

    @property
    def id(self) -> str:
        return str(self.document["id"])

    @property
    def status(self) -> str:
        return str(self.document["status"])


def build_report(payload: Mapping[str, Any], *, at_ms: int) -> dict[str, Any]:
    """The Report document of a validated ReportCreate, as a new draft."""
    at = format_ms(at_ms)
    items = [
        {
            "id": new_id("itm"),
            "url": item["url"],
            "platform": item["platform"],
            "content_type": item["content_type"],
            "account": item.get("account"),
            "observed_at": item.get("observed_at"),
            "decision": None,
        }
        for item in payload["items"]
    ]
    legal_basis = [
        {
            "jurisdiction": basis["jurisdiction"],
            "instrument": basis["instrument"],
            "provision": basis["provision"],
            "explanation": basis.get("explanation"),
        }
        for basis in payload.get("legal_basis", [])
    ]
    return {
        "id": new_id("rpt"),
        "client_reference": payload["client_reference"],
        "status": "draft",
        "items": items,
        "category": payload["category"],
        "violation_basis": payload["violation_basis"],
        "legal_basis": legal_basis,
        "explanation": payload["explanation"],
        "requested_actions": list(payload["requested_actions"]),
        "territorial_scope": list(payload.get("territorial_scope", [])),
        "reporting_officer": {
            "name": payload["reporting_officer"]["name"],
            "email": payload["reporting_officer"]["email"],
        },
        "good_faith_declaration": payload.get("good_faith_declaration", False),
        "priority": payload.get("priority", "standard"),
        "escalation_reason": payload.get("escalation_reason"),
        "info_request": None,
        "decision": None,
        "appeal": None,
        "status_history": [{"status": "draft", "at": at, "note": None}],
        "evidence_count": 0,
        "created_at": at,
        "updated_at": at,
        "submitted_at": None,
    }


def insert_report(tx: Transaction, agency_id: str, document: Mapping[str, Any], at_ms: int) -> None:
    """Store a new report and its ``report.created`` event; `409` on a reused client reference."""
    existing = tx.one(
        "SELECT id FROM reports WHERE agency_id = ? AND client_reference = ?",
        (agency_id, document["client_reference"]),
    )
    if existing is not None:
        raise ProblemError(
            "duplicate_client_reference",
            f"Report {existing['id']} already has client reference "
            f"{document['client_reference']!r}",
            existing_report_id=existing["id"],
        )
    tx.execute(
        "INSERT INTO reports (id, agency_id, client_reference, status, created_ms, updated_ms, "
        "document) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            document["id"],
            agency_id,
            document["client_reference"],
            document["status"],
            at_ms,
            at_ms,
            json.dumps(document),
        ),
    )
    append_event(
        tx,
        agency_id=agency_id,
        event_type="report.created",
        at_ms=at_ms,
        data=report_event_data(document, None),
        report_id=document["id"],
    )


def load_report(tx: Transaction, report_id: str, agency_id: str | None) -> StoredReport:
    """The report if it exists and (unless `agency_id` is None) is the agency's; else `404`."""
    row = tx.one(
        "SELECT agency_id, info_requests, document FROM reports WHERE id = ?", (report_id,)
    )
    if row is None or (agency_id is not None and row["agency_id"] != agency_id):
        raise ProblemError("not_found", f"No report {report_id}")
    return StoredReport(row["agency_id"], json.loads(row["document"]), row["info_requests"])


def save_report(tx: Transaction, report: StoredReport, at_ms: int) -> None:
    report.document["updated_at"] = format_ms(at_ms)
    tx.execute(
        "UPDATE reports SET status = ?, updated_ms = ?, info_requests = ?, document = ? "
        "WHERE id = ?",
        (
            report.status,
            at_ms,
            report.info_requests,
            json.dumps(report.document),
            report.id,
        ),
    )


def require_status(report: StoredReport, allowed: frozenset[str] | set[str], action: str) -> None:
    """`409 invalid_transition` naming the current status unless it is one of `allowed`."""
    if report.status not in allowed:
        raise ProblemError(
            "invalid_transition",
            f"Cannot {action} a report in status {report.status}",
            current_status=report.status,
        )


def record_transition(
    tx: Transaction,
    report: StoredReport,
    *,
    to: str,
    at_ms: int,
    event_type: str,
    note: str | None = None,
    event_data: Mapping[str, Any] | None = None,
) -> str:
    """Move the report to status `to` at `at_ms`: history, row and event; returns the event id."""
    previous = report.status
    report.document["status"] = to
    report.document["status_history"].append({"status": to, "at": format_ms(at_ms), "note": note})
    save_report(tx, report, at_ms)
    return append_event(
        tx,
        agency_id=report.agency_id,
        event_type=event_type,
        at_ms=at_ms,
        data=report_event_data(report.document, previous, **(event_data or {})),
        report_id=report.id,
    )
