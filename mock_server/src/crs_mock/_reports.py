"""The ``/v1/reports`` and ``/v1/events`` endpoints.

Each write handler is an operation run by `MockPlatform.write`: inside one transaction it parses and
validates the body (so a `422` is stored for idempotent replay like any other answer), loads the
report (`404` for unknown ids and other agencies' reports), checks the transition (`409`), and moves
the report through `Review.move`, which also appends the event and schedules the review.

Checks run in this order: body (`422`), report (`404`), status (`409`), business rules (`422`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from crs_mock._clock import format_ms, parse_rfc3339_ms
from crs_mock._events import list_events, parse_after
from crs_mock._evidence import check_response_evidence
from crs_mock._headers import single_header
from crs_mock._json_bodies import parse_json
from crs_mock._lifecycle import (
    DECIDED,
    WITHDRAWABLE,
    StoredReport,
    build_report,
    insert_report,
    load_report,
    require_status,
)
from crs_mock._problems import FieldError, ProblemError, Reply, json_reply
from crs_mock._review import clear_decisions
from crs_mock._validation import (
    check_body,
    decode_cursor,
    encode_cursor,
    parse_limit,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from crs_mock._platform import MockPlatform
    from crs_mock._store import Transaction

__all__ = [
    "appeal_report",
    "create_report",
    "get_report",
    "list_events_endpoint",
    "list_reports",
    "respond_to_report",
    "submit_report",
    "withdraw_report",
]

_STATUSES = frozenset(
    {"draft", "submitted", "acknowledged", "in_review", "info_requested", "withdrawn", "expired"}
    | DECIDED
)


def _platform(request: Request) -> MockPlatform:
    platform: MockPlatform = request.app.state.mock
    return platform


def _body(request: Request, body: bytes, schema: str, *, optional: bool = False) -> Any:
    content_type = single_header(request, "Content-Type")
    payload = parse_json(body, content_type=content_type, optional=optional)
    if payload is not None or not optional:  # a required body of `null` is no object either
        check_body(schema, payload, _extra_rules(schema, payload))
    return payload


def _extra_rules(schema: str, payload: Any) -> list[FieldError]:
    """ReportCreate rules that span fields."""
    if schema != "ReportCreate" or not isinstance(payload, dict):
        return []
    errors = []
    # Tuples, not sets: a value of the wrong type (a list, an object) is not hashable.
    if payload.get("violation_basis") in ("illegal_content", "both") and not payload.get(
        "legal_basis"
    ):
        errors.append(
            FieldError(
                "/legal_basis",
                "At least one legal basis is required when violation_basis is "
                f"{payload['violation_basis']}",
            )
        )
    if payload.get("priority") in ("high", "urgent") and not payload.get("escalation_reason"):
        errors.append(FieldError("/escalation_reason", "Required when priority is not standard"))
    return errors


def _report_reply(report: StoredReport, status: int = 200) -> Reply:
    return json_reply(status, report.document)


# -- create, read, list -------------------------------------------------------------------------


async def create_report(request: Request) -> Response:
    platform = _platform(request)

    def operation(tx: Transaction, agency_id: str, body: bytes) -> Reply:
        payload = _body(request, body, "ReportCreate")
        now = platform.clock.now_ms()
        document = build_report(payload, at_ms=now)
        insert_report(tx, agency_id, document, now)
        platform.review.schedule_new(tx, StoredReport(agency_id, document), now)
        return json_reply(201, document, {"location": f"/v1/reports/{document['id']}"})

    return await platform.write(request, operation)


async def get_report(request: Request) -> Response:
    report_id = request.path_params["report_id"]

    def query(tx: Transaction, agency_id: str) -> Reply:
        return _report_reply(load_report(tx, report_id, agency_id))

    return await _platform(request).read(request, query)


def _list_filters(request: Request) -> tuple[list[str], int | None, int, int]:
    """``status`` (repeated), ``updated_since``, ``limit``, ``cursor``; `400` if one is invalid."""
    statuses = request.query_params.getlist("status")
    unknown = sorted(set(statuses) - _STATUSES)
    if unknown:
        raise ProblemError.bad_request(
            f"Query parameter 'status' has unknown values {', '.join(unknown)}; "
            f"use {', '.join(sorted(_STATUSES))}.",
            parameter="status",
        )
    updated_since = None
    if since := request.query_params.get("updated_since"):
        try:
            updated_since = parse_rfc3339_ms(since)
        except ValueError:
            raise ProblemError.bad_request(
                "Query parameter 'updated_since' must be an RFC 3339 date-time with a time zone.",
                parameter="updated_since",
            ) from None
    limit = parse_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    after = decode_cursor("rpt", cursor) if cursor else 0
    return statuses, updated_since, limit, after


async def list_reports(request: Request) -> Response:
    def query(tx: Transaction, agency_id: str) -> Reply:
        statuses, updated_since, limit, after = _list_filters(request)
        sql = "SELECT seq, document FROM reports WHERE agency_id = ? AND seq > ?"
        parameters: list[Any] = [agency_id, after]
        if statuses:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            parameters.extend(statuses)
        if updated_since is not None:
            sql += " AND updated_ms >= ?"
            parameters.append(updated_since)
        rows = tx.all(f"{sql} ORDER BY seq LIMIT ?", [*parameters, limit + 1])
        page = rows[:limit]
        next_cursor = encode_cursor("rpt", page[-1]["seq"]) if len(rows) > limit else None
        data = [json.loads(row["document"]) for row in page]
        return json_reply(200, {"data": data, "next_cursor": next_cursor})

    return await _platform(request).read(request, query)


async def list_events_endpoint(request: Request) -> Response:
    def query(tx: Transaction, agency_id: str) -> Reply:
        after = parse_after(request.query_params.get("after"))
        limit = parse_limit(request.query_params.get("limit"))
        return json_reply(200, list_events(tx, agency_id, after=after, limit=limit))

    return await _platform(request).read(request, query)


# -- transitions --------------------------------------------------------------------------------


async def submit_report(request: Request) -> Response:
    platform = _platform(request)
    report_id = request.path_params["report_id"]

    def operation(tx: Transaction, agency_id: str, body: bytes) -> Reply:
        payload = _body(request, body, "SubmitRequest", optional=True) or {}
        report = load_report(tx, report_id, agency_id)
        require_status(report, {"draft"}, "submit")
        if payload.get("good_faith_declaration") is True:
            report.document["good_faith_declaration"] = True
        if report.document["good_faith_declaration"] is not True:
            raise ProblemError.validation(
                [
                    FieldError(
                        "/good_faith_declaration",
                        "The good faith declaration must be true to submit the report",
                    )
                ]
            )
        now = platform.clock.now_ms()
        report.document["submitted_at"] = format_ms(now)
        platform.review.move(tx, report, to="submitted", at_ms=now, event_type="report.submitted")
        return _report_reply(report)

    return await platform.write(request, operation)


async def withdraw_report(request: Request) -> Response:
    platform = _platform(request)
    report_id = request.path_params["report_id"]

    def operation(tx: Transaction, agency_id: str, body: bytes) -> Reply:
        payload = _body(request, body, "WithdrawRequest", optional=True) or {}
        report = load_report(tx, report_id, agency_id)
        require_status(report, WITHDRAWABLE, "withdraw")
        report.document["info_request"] = None
        platform.review.move(
            tx,
            report,
            to="withdrawn",
            at_ms=platform.clock.now_ms(),
            event_type="report.withdrawn",
            note=payload.get("reason"),
        )
        return _report_reply(report)

    return await platform.write(request, operation)


async def respond_to_report(request: Request) -> Response:
    platform = _platform(request)
    report_id = request.path_params["report_id"]

    def operation(tx: Transaction, agency_id: str, body: bytes) -> Reply:
        payload = _body(request, body, "ResponseCreate")
        report = load_report(tx, report_id, agency_id)
        require_status(report, {"info_requested"}, "respond to")
        unknown = check_response_evidence(tx, report, payload.get("evidence_ids", []))
        if unknown:
            raise ProblemError.validation(unknown)
        report.document["info_request"] = None
        platform.review.move(
            tx,
            report,
            to="in_review",
            at_ms=platform.clock.now_ms(),
            event_type="report.responded",
            note=payload["message"],
        )
        return _report_reply(report)

    return await platform.write(request, operation)


async def appeal_report(request: Request) -> Response:
    platform = _platform(request)
    report_id = request.path_params["report_id"]

    def operation(tx: Transaction, agency_id: str, body: bytes) -> Reply:
        payload = _body(request, body, "AppealRequest")
        report = load_report(tx, report_id, agency_id)
        require_status(report, DECIDED, "appeal")
        if report.document["appeal"] is not None:
            raise ProblemError(
                "invalid_transition",
                "The report was already appealed; a report can be appealed once",
                current_status=report.status,
            )
        now = platform.clock.now_ms()
        previous = report.document["decision"]
        report.document["appeal"] = {"reason": payload["reason"], "appealed_at": format_ms(now)}
        clear_decisions(report)
        platform.review.move(
            tx,
            report,
            to="in_review",
            at_ms=now,
            event_type="report.appealed",
            note=f"Appeal against the decision {previous['outcome']!r} "
            f"({previous['summary']}): {payload['reason']}",
        )
        return _report_reply(report)

    return await platform.write(request, operation)
