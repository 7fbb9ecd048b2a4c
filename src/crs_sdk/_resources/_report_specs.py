"""What ``client.reports`` sends and how it reads the answers, built once for both clients.

Each function builds the `RequestSpec` of one operation of the report lifecycle, or decodes its
answer; `Reports` and `AsyncReports` (`crs_sdk._resources._reports`) only send them. A write
carries the caller's ``idempotency_key``, or a fresh one (`RequestSpec.write`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from crs_sdk._arguments import check_url_text, page_size_params, path_segment
from crs_sdk._converter import format_datetime, unstructure
from crs_sdk._enums import ReportStatus
from crs_sdk._models import (
    AppealRequest,
    Page,
    Report,
    ReportCreate,
    ResponseCreate,
    SubmitRequest,
    WithdrawRequest,
)
from crs_sdk._requests import RequestSpec
from crs_sdk._responses import decode_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import httpx

__all__ = [
    "appeal_spec",
    "create_spec",
    "decode_page",
    "decode_report",
    "get_spec",
    "list_page_spec",
    "list_query",
    "respond_spec",
    "submit_spec",
    "withdraw_spec",
]

if TYPE_CHECKING:
    StatusFilter: TypeAlias = ReportStatus | str | Iterable[ReportStatus | str] | None


def _report_path(report_id: str, action: str = "") -> str:
    return f"/reports/{path_segment(report_id, 'report_id')}{action}"


def create_spec(report: ReportCreate, idempotency_key: str | None) -> RequestSpec:
    if not isinstance(report, ReportCreate):
        raise TypeError(f"expected a ReportCreate, got {type(report).__name__}")
    return RequestSpec.write("/reports", unstructure(report), idempotency_key=idempotency_key)


def _status_value(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a ReportStatus or a str, not {type(value).__name__}")
    return check_url_text(ReportStatus(value).value, name)


def _statuses(status: StatusFilter) -> Sequence[str]:
    """The ``status`` values to send, each once, in the order given (the contract's
    ``uniqueItems``: the same status twice is a ``400``).

    Raises:
        TypeError: ``status`` is not a status, nor an iterable of statuses (``bytes``, say).
        ValueError: ``status`` is an empty iterable: it would filter nothing out, listing every
            report instead of none (``None`` lists every report).
    """
    if status is None:
        return ()
    if isinstance(status, str):
        return (_status_value(status, "status"),)
    if isinstance(status, (bytes, bytearray, memoryview)) or not hasattr(status, "__iter__"):
        raise TypeError(
            f"status must be a ReportStatus, a str or several, not {type(status).__name__}"
        )
    values = tuple(
        dict.fromkeys(_status_value(s, f"status[{index}]") for index, s in enumerate(status))
    )
    if not values:
        raise ValueError(
            "status= names no status: an empty filter would list every report; "
            "leave it out (None) for every report"
        )
    return values


def _since(updated_since: datetime) -> str:
    if not isinstance(updated_since, datetime):
        raise TypeError(f"updated_since must be a datetime, not {type(updated_since).__name__}")
    if updated_since.utcoffset() is None:
        raise ValueError(
            "updated_since must be an aware datetime (datetime.now(timezone.utc), say): "
            "a naive one names no instant"
        )
    return format_datetime(updated_since)


def list_query(
    status: StatusFilter, updated_since: datetime | None, page_size: int | None
) -> tuple[tuple[str, str | int], ...]:
    """The query of ``reports.list``, checked before anything is sent.

    Raises:
        TypeError: ``status`` holds something that is not a status, ``updated_since`` is not a
            `datetime`, or ``page_size`` is not an ``int``.
        ValueError: ``status`` is an empty iterable, ``updated_since`` is naive, or
            ``page_size`` is out of range.
    """
    params: list[tuple[str, str | int]] = [("status", s) for s in _statuses(status)]
    if updated_since is not None:
        params.append(("updated_since", _since(updated_since)))
    params.extend(page_size_params(page_size))
    return tuple(params)


def list_page_spec(query: tuple[tuple[str, str | int], ...], cursor: str | None) -> RequestSpec:
    params = query if cursor is None else (*query, ("cursor", cursor))
    return RequestSpec("GET", "/reports", params=params)


def _action(report_id: str, action: str, body: object, idempotency_key: str | None) -> RequestSpec:
    return RequestSpec.write(
        _report_path(report_id, action), unstructure(body), idempotency_key=idempotency_key
    )


def decode_report(response: httpx.Response) -> Report:
    return decode_json(response, Report)


def decode_page(response: httpx.Response) -> Page[Report]:
    return decode_json(response, Page[Report])


def submit_spec(
    report_id: str, good_faith_declaration: bool | None, idempotency_key: str | None
) -> RequestSpec:
    body = SubmitRequest(good_faith_declaration=good_faith_declaration)
    return _action(report_id, "/submit", body, idempotency_key)


def withdraw_spec(report_id: str, reason: str | None, idempotency_key: str | None) -> RequestSpec:
    return _action(report_id, "/withdraw", WithdrawRequest(reason=reason), idempotency_key)


def respond_spec(
    report_id: str, message: str, evidence_ids: Iterable[str], idempotency_key: str | None
) -> RequestSpec:
    # As it is: the model refuses a bare string, which tuple() would split into characters.
    body = ResponseCreate(message=message, evidence_ids=evidence_ids)
    return _action(report_id, "/responses", body, idempotency_key)


def appeal_spec(report_id: str, reason: str, idempotency_key: str | None) -> RequestSpec:
    return _action(report_id, "/appeal", AppealRequest(reason=reason), idempotency_key)


def get_spec(report_id: str) -> RequestSpec:
    return RequestSpec("GET", _report_path(report_id))
