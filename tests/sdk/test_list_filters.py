"""``reports.list`` checks its filters before anything is sent, naming the argument."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest

from crs_sdk import ReportStatus
from sdk.mock_clients import mock_client

SENT: list[httpx.Request] = []


def _answer(request: httpx.Request) -> httpx.Response:
    SENT.append(request)
    return httpx.Response(500)


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest) -> Any:
    SENT.clear()
    return mock_client(request.param, _answer)


@pytest.mark.parametrize("empty", [[], (), set(), iter(())], ids=["list", "tuple", "set", "iter"])
def test_an_empty_status_filter_is_refused_rather_than_listing_every_report(
    client: Any, empty: Any
) -> None:
    """Before the fix, ``status=[]`` sent no filter at all and listed every report."""
    with pytest.raises(ValueError, match="status= names no status"):
        client.reports.list(status=empty)
    assert SENT == []


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (5, "status must be a ReportStatus, a str or several, not int"),
        (b"draft", "status must be a ReportStatus, a str or several, not bytes"),
        (["draft", 1], r"status\[1\] must be a ReportStatus or a str, not int"),
        ([None], r"status\[0\] must be a ReportStatus or a str, not NoneType"),
    ],
)
def test_a_status_of_the_wrong_type_is_named(client: Any, status: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        client.reports.list(status=status)
    assert SENT == []


@pytest.mark.parametrize(
    ("since", "error", "message"),
    [
        ("2026-01-01T00:00:00Z", TypeError, "updated_since must be a datetime, not str"),
        (date(2026, 1, 1), TypeError, "updated_since must be a datetime, not date"),
        (1_700_000_000, TypeError, "updated_since must be a datetime, not int"),
        (datetime(2026, 1, 1), ValueError, "updated_since must be an aware datetime"),  # noqa: DTZ001
    ],
)
def test_updated_since_of_the_wrong_kind_is_named(
    client: Any, since: Any, error: type[Exception], message: str
) -> None:
    """Before the fix, a string or a date raised a bare AttributeError (``utcoffset``)."""
    with pytest.raises(error, match=message):
        client.reports.list(updated_since=since)
    assert SENT == []


def test_good_filters_are_still_taken(client: Any) -> None:
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    client.reports.list(status=[ReportStatus.DRAFT, "submitted"], updated_since=since)
    client.reports.list(status=ReportStatus.DRAFT)
    assert SENT == []  # nothing is sent before the pager is iterated
