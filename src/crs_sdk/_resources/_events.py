"""``client.events``: the agency's ordered, durable event log, for both clients.

Iterating follows ``next_cursor`` (the id to pass as ``after``) until the log has nothing more
*now*; to follow the log, keep the last event's id and list again later with ``after=`` that id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crs_sdk._arguments import check_url_text, page_size_params
from crs_sdk._converter import event_from_platform
from crs_sdk._exceptions import DecodeError
from crs_sdk._models import Page
from crs_sdk._requests import RequestSpec
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._responses import json_body, naming_the_request

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from crs_sdk._models import Event

__all__ = ["AsyncEvents", "Events"]


def _page_spec(after: str | None, page_size: int | None) -> RequestSpec:
    params: list[tuple[str, str | int]] = []
    if after is not None:
        params.append(("after", after))
    params.extend(page_size_params(page_size))
    return RequestSpec("GET", "/events", params=tuple(params))


def _check_arguments(after: str | None, page_size: int | None) -> None:
    if after is not None:
        if not after:
            raise ValueError("after must be an event id (evt_...), or None for the whole log")
        check_url_text(after, "after")
    page_size_params(page_size)


def _event(index: int, item: object) -> Event:
    try:
        return event_from_platform(item)
    except DecodeError as exc:
        where = f"$.data[{index}]"
        errors = tuple(error.replace(" @ $", f" @ {where}", 1) for error in exc.errors)
        path = where + exc.path.removeprefix("$")
        raise DecodeError(
            f"cannot decode a page of events: {'; '.join(errors)}", path=path, errors=errors
        ) from exc


def _events_page(response: httpx.Response) -> Page[Event]:
    body = json_body(response)
    with naming_the_request(response):
        return _page_of_events(body)


def _page_of_events(body: object) -> Page[Event]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise DecodeError("cannot decode a page of events: $.data is not a list", path="$.data")
    next_cursor = body.get("next_cursor", ...)
    if next_cursor is not None and not isinstance(next_cursor, str):
        raise DecodeError(
            "cannot decode a page of events: $.next_cursor is not a string or null",
            path="$.next_cursor",
        )
    events = [_event(index, item) for index, item in enumerate(body["data"])]
    return Page(data=events, next_cursor=next_cursor)


class Events:
    """The event log (``client.events`` of a `CRSClient`)."""

    def __init__(self, request: Callable[[RequestSpec], httpx.Response]) -> None:
        self._request = request

    def list(self, *, after: str | None = None, page_size: int | None = None) -> SyncPager[Event]:
        """Every event after ``after`` (from the start of the log by default), in log order.

        Unknown event types come as `UnknownEvent`, never as errors.

        Raises:
            ValueError: ``after`` is empty (``None`` reads the whole log) or cannot be sent.
        """
        _check_arguments(after, page_size)
        return SyncPager(
            lambda cursor: _events_page(self._request(_page_spec(cursor, page_size))),
            start=after,
        )


class AsyncEvents:
    """The event log (``client.events`` of an `AsyncCRSClient`)."""

    def __init__(self, request: Callable[[RequestSpec], Awaitable[httpx.Response]]) -> None:
        self._request = request

    def list(self, *, after: str | None = None, page_size: int | None = None) -> AsyncPager[Event]:
        """Every event after ``after``, for ``async for`` (see `Events.list`)."""
        _check_arguments(after, page_size)

        async def fetch(cursor: str | None) -> Page[Event]:
            return _events_page(await self._request(_page_spec(cursor, page_size)))

        return AsyncPager(fetch, start=after)
