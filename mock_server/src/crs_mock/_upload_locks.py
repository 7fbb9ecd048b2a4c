"""`UploadLocks`: one request at a time writes to an upload, and the newest one wins.

A ``PATCH`` holds its upload while its body arrives. A client that lost power or its network
mid-chunk leaves a half-open connection whose request would hold the upload until TCP gives up
(hours), so a request that wants an upload stops the one receiving into it (tusd's lock release
requests): the holder's receiving scope is cancelled, it stores or discards what arrived as after a
dropped connection, commits and lets go. Only the receiving is cancelled, never a commit or a
completion; a request still without the upload after `LOCK_WAIT_SECONDS` is a `409`.

Callers check that the request may touch the upload (it exists and is the caller's agency's)
*before* `UploadLocks.exclusive`: a refused request must not stop another one.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from crs_mock._problems import ProblemError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["LOCK_WAIT_SECONDS", "UploadLocks"]

#: Real seconds a request waits for another request on the same upload to let go of it.
LOCK_WAIT_SECONDS = 10.0


@dataclass
class _Holder:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    users: int = 0
    #: The scope the lock's holder receives its body in; a request that wants the upload cancels it.
    receiving: anyio.CancelScope | None = None


class UploadLocks:
    """The uploads some request holds or waits for."""

    def __init__(self) -> None:
        self._holders: dict[str, _Holder] = {}

    @asynccontextmanager
    async def exclusive(self, upload_id: str) -> AsyncIterator[anyio.CancelScope]:
        """Hold the upload, after stopping the request that holds it; `409` after
        `LOCK_WAIT_SECONDS`.

        Yields the scope to receive a body in: it is cancelled when a newer request wants the
        upload (at once if one already waits).
        """
        holder = self._holders.setdefault(upload_id, _Holder())
        holder.users += 1
        try:
            if holder.receiving is not None:
                holder.receiving.cancel()
            try:
                with anyio.fail_after(LOCK_WAIT_SECONDS):
                    await holder.lock.acquire()
            except TimeoutError:
                raise ProblemError(
                    "upload_offset_mismatch",
                    "Another request is still writing to this upload; HEAD it and resume from "
                    "its Upload-Offset.",
                ) from None
            holder.receiving = receiving = anyio.CancelScope()
            if holder.users > 1:  # a newer request already waits for the upload
                receiving.cancel()
            try:
                yield receiving
            finally:
                holder.receiving = None
                holder.lock.release()
        finally:
            holder.users -= 1
            if not holder.users:
                del self._holders[upload_id]
