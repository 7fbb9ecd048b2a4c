"""The mock-only control API under ``/_mock/`` (no token; not part of the real platform).

Bodies are checked against the contract's mock-only schemas, with the same `422` shape as ``/v1``.
Forcing a decision or an information request walks the report through the stages it skips
(``submitted`` -> ``acknowledged`` -> ``in_review``), each with its event, so event consumers see
the same sequence as in a real review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.responses import Response

from crs_mock._clock import LATEST_TIME, format_ms
from crs_mock._headers import single_header
from crs_mock._json_bodies import parse_json, read_json_body
from crs_mock._lifecycle import StoredReport, load_report, require_status
from crs_mock._platform import MockPlatform, to_response
from crs_mock._problems import FieldError, ProblemError, Reply, json_reply
from crs_mock._review import FORCIBLE
from crs_mock._validation import check_body

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.requests import Request

    from crs_mock._store import Transaction

__all__ = [
    "add_agency",
    "advance_clock",
    "ask_now",
    "decide_now",
    "force_decision",
    "force_info_request",
    "freeze_clock",
    "get_clock",
    "list_agencies",
    "reset",
    "unfreeze_clock",
]


async def _json(request: Request, schema: str | None, *, optional: bool = False) -> Any:
    """The body, checked against the contract's `schema` (`{}` for an absent optional body)."""
    body = await read_json_body(request)
    content_type = single_header(request, "Content-Type")
    payload = parse_json(body, content_type=content_type, optional=optional)
    if payload is None and optional:  # no body, or `null`, where none is needed
        return {}
    if schema is not None:
        check_body(schema, payload)
    return payload


def _platform(request: Request) -> MockPlatform:
    platform: MockPlatform = request.app.state.mock
    return platform


# -- reset and clock ----------------------------------------------------------------------------


async def reset(request: Request) -> Response:
    """Everything, or one agency's data with ``{"agency_id": ...}``."""
    payload = await _json(request, "ResetRequest", optional=True)
    platform = _platform(request)
    agency_id = payload.get("agency_id")
    try:
        await anyio.to_thread.run_sync(platform.reset, agency_id)
    except LookupError:
        raise ProblemError.validation(
            [FieldError("/agency_id", f"No agency {agency_id}")]
        ) from None
    return Response(status_code=204)


def _clock_reply(platform: MockPlatform) -> Response:
    clock = platform.clock
    return to_response(json_reply(200, {"now": format_ms(clock.now_ms()), "frozen": clock.frozen}))


async def get_clock(request: Request) -> Response:
    return _clock_reply(_platform(request))


async def advance_clock(request: Request) -> Response:
    payload = await _json(request, "ClockAdvance")
    platform = _platform(request)
    seconds = float(payload["seconds"])
    if platform.clock.now() + seconds > LATEST_TIME:
        raise ProblemError.validation(
            [FieldError("/seconds", f"would move the clock past {format_ms(LATEST_TIME * 1000)}")]
        )
    try:
        await anyio.to_thread.run_sync(platform.clock.advance, seconds)
    except ValueError:  # another advance (or the running clock) got there first
        raise ProblemError.validation(
            [FieldError("/seconds", f"would move the clock past {format_ms(LATEST_TIME * 1000)}")]
        ) from None
    await anyio.to_thread.run_sync(platform.run_due)
    return _clock_reply(platform)


async def freeze_clock(request: Request) -> Response:
    platform = _platform(request)
    await anyio.to_thread.run_sync(platform.clock.freeze)
    return _clock_reply(platform)


async def unfreeze_clock(request: Request) -> Response:
    platform = _platform(request)
    await anyio.to_thread.run_sync(platform.clock.unfreeze)
    return _clock_reply(platform)


# -- forcing the review -------------------------------------------------------------------------


def _forced_outcomes(report: StoredReport, payload: Mapping[str, Any]) -> dict[str, str]:
    """Item id -> outcome of a DecisionForce body (unlisted items: ``outcome`` if given); `422`
    for items the report does not have, or listed twice."""
    known = [item["id"] for item in report.document["items"]]
    listed = payload.get("items", [])
    errors = []
    first_at: dict[str, int] = {}
    for index, item in enumerate(listed):
        item_id = item["item_id"]
        pointer = f"/items/{index}/item_id"
        if item_id not in known:
            errors.append(FieldError(pointer, f"No item {item_id} in report {report.id}"))
        elif item_id in first_at:
            # Which of the two outcomes was meant is anyone's guess: neither wins silently.
            errors.append(
                FieldError(
                    pointer, f"Item {item_id} is listed twice (first at /items/{first_at[item_id]})"
                )
            )
        else:
            first_at[item_id] = index
    if errors:
        raise ProblemError.validation(errors)
    outcomes = dict.fromkeys(known, payload["outcome"]) if "outcome" in payload else {}
    outcomes.update({item["item_id"]: item["outcome"] for item in listed})
    return outcomes


def decide_now(
    platform: MockPlatform,
    tx: Transaction,
    report_id: str,
    payload: Mapping[str, Any],
    agency_id: str | None = None,
) -> StoredReport:
    """Decide a report now as a checked DecisionForce body says (`agency_id`: only its reports).

    Checks in the order of ``/v1``: report (`404`), status (`409`), item ids (`422`).
    """
    report = load_report(tx, report_id, agency_id)
    require_status(report, FORCIBLE, "force a review outcome on")
    outcomes = _forced_outcomes(report, payload)
    now = platform.clock.now_ms()
    platform.review.bring_to_review(tx, report, at_ms=now)
    platform.review.decide(tx, report, at_ms=now, outcomes=outcomes, summary=payload.get("summary"))
    return report


def ask_now(
    platform: MockPlatform,
    tx: Transaction,
    report_id: str,
    payload: Mapping[str, Any],
    agency_id: str | None = None,
) -> StoredReport:
    """Put a report in ``info_requested`` now, as a checked InfoRequestForce body says."""
    report = load_report(tx, report_id, agency_id)
    now = platform.clock.now_ms()
    platform.review.bring_to_review(tx, report, at_ms=now)
    platform.review.request_info(tx, report, at_ms=now, question=payload["question"])
    return report


async def force_decision(request: Request) -> Response:
    """Decide now: listed items as given, the others as ``outcome``, else by scenario."""
    payload = await _json(request, "DecisionForce", optional=True)
    platform = _platform(request)
    report_id = request.path_params["report_id"]
    return await platform.control(
        lambda tx: json_reply(200, decide_now(platform, tx, report_id, payload).document)
    )


async def force_info_request(request: Request) -> Response:
    payload = await _json(request, "InfoRequestForce")
    platform = _platform(request)
    report_id = request.path_params["report_id"]
    return await platform.control(
        lambda tx: json_reply(200, ask_now(platform, tx, report_id, payload).document)
    )


# -- agencies -----------------------------------------------------------------------------------


async def list_agencies(request: Request) -> Response:
    platform = _platform(request)
    return await platform.control(
        lambda tx: json_reply(200, {"data": platform.agencies.list(tx), "next_cursor": None})
    )


async def add_agency(request: Request) -> Response:
    """Seed an agency (or replace its secret); the secret is never echoed."""
    payload = await _json(request, "AgencyCreate")
    platform = _platform(request)

    def operation(tx: Transaction) -> Reply:
        client_id = payload["client_id"]
        created = platform.agencies.put(tx, client_id, payload["client_secret"])
        return json_reply(201 if created else 200, platform.agencies.get(tx, client_id))

    return await platform.control(operation)
