"""Raw request bodies (an evidence chunk): sent piece by piece, and let go of once sent.

`BodySource` is what a `RequestSpec` may carry instead of bytes; `raw_body` wraps it, or bytes, for
one attempt's request, sync or async.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

__all__ = ["BodySource", "raw_body"]


class BodySource(Protocol):
    """A raw request body read piece by piece as it is sent (an evidence chunk from its file).

    Each attempt iterates it anew, so a resent request sends the same bytes again.
    """

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[bytes | memoryview]: ...

    def __aiter__(self) -> AsyncIterator[bytes | memoryview]: ...


#: Bytes handed to the transport at a time. The sync transport resends the rest of a buffer that
#: the socket took only part of by copying it (``buffer = buffer[n:]``), so one large buffer
#: costs time quadratic in its size; slices of this size keep that copy small, and are few enough
#: that h11's per-write work stays small too (256 KiB: 9% less client CPU per GiB than 64 KiB).
_SEND_SLICE = 256 * 1024


def _slices(data: bytes | memoryview) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), _SEND_SLICE):
        # httpx types raw bodies as bytes; h11 takes any bytes-like object and copies it once.
        yield cast("bytes", view[start : start + _SEND_SLICE])


class _SentOnce:
    """A raw request body that lets go of its bytes once they are sent.

    httpx's responses sit in a reference cycle that holds their request, body included, until the
    garbage collector runs; an uploader sending chunk after chunk would hold several of them.
    A resend builds a new request from the `RequestSpec`.
    """

    def __init__(self, data: bytes | BodySource) -> None:
        self._data: bytes | BodySource | None = data

    def _take(self) -> bytes | BodySource:
        data, self._data = self._data, None
        return b"" if data is None else data


class _SyncSentOnce(_SentOnce):
    def __iter__(self) -> Iterator[bytes]:
        data = self._take()
        if isinstance(data, bytes):
            yield from _slices(data)
            return
        for part in data:
            yield from _slices(part)


class _AsyncSentOnce(_SentOnce):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        data = self._take()
        if isinstance(data, bytes):
            if data:
                yield data  # the async transport queues what the socket does not take at once
            return
        async for part in data:
            yield cast("bytes", part)  # bytes-like, as in _slices


def raw_body(
    http: httpx.Client | httpx.AsyncClient, data: bytes | BodySource
) -> _SyncSentOnce | _AsyncSentOnce:
    return _AsyncSentOnce(data) if isinstance(http, httpx.AsyncClient) else _SyncSentOnce(data)
