"""Lazy iteration over cursor-paginated lists, the same for both clients.

A pager fetches nothing until it is iterated; each iteration starts from the first page again and
follows ``next_cursor`` until it is ``null``. A server that hands back a cursor already followed in
this iteration (the one it was given, or one from pages before: ``A``, ``B``, ``A``) would make
that loop endless, so it is refused with `DecodeError`. So is a cursor that cannot be sent back in a
URL (a JSON string may hold an unpaired surrogate, ``"\\ud800"``, which has no UTF-8 form): the page
that carries it is still handed out, and asking for the next one raises `DecodeError` whose
``path`` is ``$.next_cursor``, before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from crs_sdk._arguments import check_url_text
from crs_sdk._exceptions import DecodeError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from crs_sdk._models import Page

__all__ = ["AsyncPager", "SyncPager"]

T = TypeVar("T")


def _next_cursor(seen: set[str | None], page: Page[T]) -> str | None:
    """``page.next_cursor``, added to ``seen``, the cursors this iteration has followed."""
    cursor = page.next_cursor
    if cursor is None:
        return None
    if cursor in seen:
        raise DecodeError(
            "the server returned a cursor this listing already followed: pagination would not end",
            path="$.next_cursor",
        )
    try:
        check_url_text(cursor, "next_cursor")
    except ValueError as exc:
        raise DecodeError(f"the server's {exc}", path="$.next_cursor") from exc
    seen.add(cursor)
    return cursor


class SyncPager(Generic[T]):
    """An iterable over every item of a list, fetching pages as they are needed.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, fetch_page: Callable[[str | None], Page[T]], *, start: str | None = None
    ) -> None:
        self._fetch_page = fetch_page
        self._start = start

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data

    def pages(self) -> Iterator[Page[T]]:
        """The pages themselves, for callers who want ``next_cursor``."""
        cursor = self._start
        seen = {cursor}
        while True:
            page = self._fetch_page(cursor)
            yield page
            cursor = _next_cursor(seen, page)
            if cursor is None:
                return


class AsyncPager(Generic[T]):
    """An async iterable (``async for``) over every item of a list, fetching pages lazily.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        fetch_page: Callable[[str | None], Awaitable[Page[T]]],
        *,
        start: str | None = None,
    ) -> None:
        self._fetch_page = fetch_page
        self._start = start

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def pages(self) -> AsyncIterator[Page[T]]:
        """The pages themselves, for callers who want ``next_cursor``."""
        cursor = self._start
        seen = {cursor}
        while True:
            page = await self._fetch_page(cursor)
            yield page
            cursor = _next_cursor(seen, page)
            if cursor is None:
                return
