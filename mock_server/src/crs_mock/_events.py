"""The agency's event log: appended in the transaction of the change it records, read in order.

Event ids are ``evt_`` and the zero-padded global sequence number, so they sort in log order; the
sequence never restarts (not even after a reset), so a client's last seen id stays a valid
``after``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from crs_mock._clock import format_ms
from crs_mock._outbox import queue_deliveries
from crs_mock._problems import ProblemError

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    from crs_mock._store import Transaction

__all__ = ["append_event", "event_id", "list_events", "report_event_data"]

_EVENT_ID = re.compile(r"evt_(\d{12})")


def event_id(seq: int) -> str:
    return f"evt_{seq:012d}"


def report_event_data(
    report: Mapping[str, Any], previous_status: str | None, **extra: Any
) -> dict[str, Any]:
    """ReportEventData: ``{report_id, client_reference, status, previous_status}`` plus `extra`."""
    return {
        "report_id": report["id"],
        "client_reference": report["client_reference"],
        "status": report["status"],
        "previous_status": previous_status,
        **extra,
    }


def append_event(
    tx: Transaction,
    *,
    agency_id: str,
    event_type: str,
    at_ms: int,
    data: Mapping[str, Any],
    report_id: str | None = None,
) -> str:
    """Append one event to the agency's log and return its id (visible once `tx` commits).

    The event is queued for the agency's webhook endpoints in the same transaction.
    """
    text = json.dumps(data)
    cursor = tx.execute(
        "INSERT INTO events (agency_id, type, report_id, at_ms, data) VALUES (?, ?, ?, ?, ?)",
        (agency_id, event_type, report_id, at_ms, text),
    )
    if cursor.lastrowid is None:  # pragma: no cover - an INSERT into a rowid table has one
        raise RuntimeError("the event was not stored")
    event = _event_document(cursor.lastrowid, event_type, at_ms, text)
    queue_deliveries(tx, agency_id, event, at_ms)
    return str(event["id"])


def _event_document(seq: int, event_type: str, at_ms: int, data: str) -> dict[str, Any]:
    return {
        "id": event_id(seq),
        "type": event_type,
        "timestamp": format_ms(at_ms),
        "data": json.loads(data),
    }


def _event_json(row: sqlite3.Row) -> dict[str, Any]:
    return _event_document(row["seq"], row["type"], row["at_ms"], row["data"])


def parse_after(value: str | None) -> int:
    if value is None or value == "":
        return 0
    match = _EVENT_ID.fullmatch(value)
    if match is None:
        raise ProblemError.bad_request(
            "Query parameter 'after' must be an event id (evt_ and 12 digits).", parameter="after"
        )
    return int(match.group(1))


def list_events(tx: Transaction, agency_id: str, *, after: int, limit: int) -> dict[str, Any]:
    """One page of the agency's log after sequence number `after`."""
    rows = tx.all(
        "SELECT seq, type, at_ms, data FROM events WHERE agency_id = ? AND seq > ? "
        "ORDER BY seq LIMIT ?",
        (agency_id, after, limit + 1),
    )
    page = [_event_json(row) for row in rows[:limit]]
    more = len(rows) > limit
    return {"data": page, "next_cursor": page[-1]["id"] if more else None}
