"""The control API of fault rules (``/_mock/faults``) and of the journal (``/_mock/requests``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.responses import Response

from crs_mock._clock import parse_rfc3339_ms
from crs_mock._faults import FaultRule, InvalidFaultRuleError
from crs_mock._headers import single_header
from crs_mock._journal import InvalidFilterError, JournalFilter
from crs_mock._json_bodies import parse_json, read_json_body
from crs_mock._platform import to_response
from crs_mock._problems import FieldError, ProblemError, json_reply
from crs_mock._validation import check_body, is_ascii_digits, parse_limit

if TYPE_CHECKING:
    from starlette.requests import Request

    from crs_mock._platform import MockPlatform

__all__ = [
    "clear_faults",
    "create_fault",
    "delete_fault",
    "list_faults",
    "list_requests",
    "wait_for_request",
]

_MAX_WAIT = 60.0
_DEFAULT_WAIT = 10.0


def _platform(request: Request) -> MockPlatform:
    platform: MockPlatform = request.app.state.mock
    return platform


def _agency_filter(request: Request) -> str | None:
    """``agency_id``: one agency, or every one when absent (empty is a mistake, not "all")."""
    agency_id = request.query_params.get("agency_id")
    if agency_id == "":
        raise ProblemError.bad_request(
            "agency_id must not be empty (leave it out for every agency)", parameter="agency_id"
        )
    return agency_id


def _statuses(request: Request) -> tuple[int, ...]:
    values = request.query_params.getlist("status")
    if not all(is_ascii_digits(value) and 100 <= int(value) <= 599 for value in values):  # noqa: PLR2004
        raise ProblemError.bad_request(
            "status must be an HTTP status code from 100 to 599", parameter="status"
        )
    return tuple(int(value) for value in values)


# -- faults -------------------------------------------------------------------------------------


async def create_fault(request: Request) -> Response:
    body = await read_json_body(request)
    payload = parse_json(body, content_type=single_header(request, "Content-Type"))
    check_body("FaultRuleCreate", payload)
    try:
        rule = FaultRule.from_json(payload)
    except InvalidFaultRuleError as exc:  # what the schema cannot say (uniform bounds in order)
        errors = [FieldError(f"/{name}", problem) for name, problem in exc.errors]
        raise ProblemError.validation(errors) from None
    fault = await anyio.to_thread.run_sync(_platform(request).faults.add, rule)
    location = {"location": f"/_mock/faults/{fault.id}"}
    return to_response(json_reply(201, fault.to_json(), location))


async def list_faults(request: Request) -> Response:
    faults = _platform(request).faults.list(_agency_filter(request))
    page = {"data": [fault.to_json() for fault in faults], "next_cursor": None}
    return to_response(json_reply(200, page))


async def clear_faults(request: Request) -> Response:
    await anyio.to_thread.run_sync(_platform(request).faults.clear, _agency_filter(request))
    return Response(status_code=204)


async def delete_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not await anyio.to_thread.run_sync(_platform(request).faults.remove, fault_id):
        raise ProblemError("not_found", f"No fault rule {fault_id}")
    return Response(status_code=204)


# -- the journal --------------------------------------------------------------------------------


#: Journal positions are SQLite integers (64-bit).
_MAX_POSITION = 2**63 - 1


def _integer(request: Request, name: str, *, minimum: int = 0) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not is_ascii_digits(value) or not minimum <= int(value) <= _MAX_POSITION:
        raise ProblemError.bad_request(
            f"{name} must be an integer from {minimum} to {_MAX_POSITION}", parameter=name
        )
    return int(value)


def journal_filter(request: Request, *, after: int) -> JournalFilter:
    """The filter named by the query string (``400`` for values that do not parse)."""
    query = request.query_params
    since = query.get("since")
    path = query.get("path")
    if path is not None and not path.startswith("/"):
        raise ProblemError.bad_request("path must start with /", parameter="path")
    try:
        since_ms = None if since is None else parse_rfc3339_ms(since)
    except ValueError:
        raise ProblemError.bad_request(
            "since must be an RFC 3339 timestamp", parameter="since"
        ) from None
    statuses = _statuses(request)
    try:
        return JournalFilter(
            agency_id=_agency_filter(request),
            method=query.get("method"),
            path=path,
            operation_id=query.get("operation_id"),
            status=statuses,
            since_ms=since_ms,
            after=after,
        )
    except InvalidFilterError as exc:  # a filter that could never match (an unknown operation_id)
        raise ProblemError.bad_request(str(exc), parameter=exc.name) from None


def _journal_limit(request: Request) -> int:
    """``limit``: the most entries one answer carries, of a page or of a wait alike."""
    return parse_limit(request.query_params.get("limit"), default=100, maximum=1000)


async def list_requests(request: Request) -> Response:
    limit = _journal_limit(request)
    cursor = request.query_params.get("cursor")
    if cursor is not None and (not is_ascii_digits(cursor) or int(cursor) > _MAX_POSITION):
        raise ProblemError.bad_request("cursor is not one this server issued", parameter="cursor")
    after = max(int(cursor or 0), _integer(request, "after") or 0)
    where = journal_filter(request, after=after)
    journal = _platform(request).journal
    entries = await anyio.to_thread.run_sync(lambda: journal.query(where, limit=limit + 1))
    more = len(entries) > limit
    entries = entries[:limit]
    page: dict[str, Any] = {
        "data": [entry.to_json() for entry in entries],
        "next_cursor": str(entries[-1].sequence) if more else None,
    }
    return to_response(json_reply(200, page))


async def wait_for_request(request: Request) -> Response:
    """Long poll: the first matching requests after ``after`` (default: now), at most ``limit``,
    or none at timeout; the ``cursor`` is the last one's position (else ``after``)."""
    journal = _platform(request).journal
    limit = _journal_limit(request)
    after = _integer(request, "after")
    if after is None:
        after = await anyio.to_thread.run_sync(journal.latest_sequence)
    text = request.query_params.get("timeout")
    try:
        timeout = _DEFAULT_WAIT if text is None else float(text)
    except ValueError:
        timeout = math.nan
    if not 0 <= timeout <= _MAX_WAIT:
        raise ProblemError.bad_request(
            f"timeout must be 0 to {_MAX_WAIT:g} seconds", parameter="timeout"
        )
    where = journal_filter(request, after=after)
    entries = await journal.wait(where, seconds=timeout, limit=limit)
    cursor = entries[-1].sequence if entries else after
    body = {"data": [entry.to_json() for entry in entries], "cursor": str(cursor)}
    return to_response(json_reply(200, body))
