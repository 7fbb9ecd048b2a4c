"""Writing a streamed body in blocks, each on a worker thread while the next one arrives.

The event loop only collects bytes; each full block (`FLUSH_BYTES`) is handed to a worker thread
that writes it (and, for a tus chunk, hashes it). The loop does not wait for that write before it
reads on: it waits only when the next block is full and the previous one is still being written, so
receiving, writing and hashing overlap while memory stays bounded (two blocks at most). `finish` is
always called, also on error: every byte that arrived is written (or the write's error raised) and
no worker still touches the file when the caller commits, rewinds or closes it. After a failed
write nothing more is written.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    import concurrent.futures
    from collections.abc import Callable
    from concurrent.futures import Executor

__all__ = ["FLUSH_BYTES", "BlockWriter"]

#: Bytes buffered in memory before they are handed to the writing thread.
FLUSH_BYTES = 1024 * 1024


class BlockWriter:
    """Collects a body's pieces and writes them with ``write`` on ``threads``, a block at a time."""

    def __init__(
        self, write: Callable[[bytearray], object], threads: Executor, block_size: int = FLUSH_BYTES
    ) -> None:
        self._write = write
        self._threads = threads
        self._block_size = block_size
        self._buffer = bytearray()
        self._in_flight: concurrent.futures.Future[object] | None = None
        self._failed = False
        #: Bytes taken so far (written or waiting to be).
        self.taken = 0

    async def feed(self, data: bytes) -> None:
        """Take ``data``; hand a full block to the writing thread (after the previous one)."""
        self._buffer += data
        self.taken += len(data)
        if len(self._buffer) >= self._block_size:
            await self._hand_over()

    async def finish(self) -> None:
        """Write what is left and wait until every block is written (not cancellable).

        After a failed write, what is left is dropped and the failure raised (if it was not yet).
        """
        try:
            with anyio.CancelScope(shield=True):
                await self._hand_over()
                await self._settle()
        finally:
            self._buffer = bytearray()
            in_flight, self._in_flight = self._in_flight, None
            if in_flight is not None:  # interrupted anyway (a plain asyncio cancel)
                await _written(in_flight)

    async def _hand_over(self) -> None:
        await self._settle()
        block, self._buffer = self._buffer, bytearray()
        if block and not self._failed:
            self._in_flight = self._threads.submit(self._write, block)

    async def _settle(self) -> None:
        """Wait for the block in flight; it is forgotten only once its write is over."""
        in_flight = self._in_flight
        if in_flight is None:
            return
        try:
            with anyio.CancelScope(shield=True):  # the thread writes on anyway: wait for it
                # shield(): a cancelled wait must not cancel a block still queued for a thread.
                await asyncio.shield(asyncio.wrap_future(in_flight))
        except BaseException:
            if in_flight.done():
                self._in_flight = None
                self._failed = in_flight.cancelled() or in_flight.exception() is not None
            raise
        self._in_flight = None


async def _written(in_flight: concurrent.futures.Future[object]) -> None:
    """Wait until the block's write is over, through cancellations; then raise the first."""
    cancelled: BaseException | None = None
    while not in_flight.done():
        try:
            await asyncio.shield(asyncio.wrap_future(in_flight))
        except asyncio.CancelledError as exc:  # noqa: PERF203 - rare, and must go on waiting
            cancelled = cancelled or exc
        except Exception:  # noqa: BLE001 - the write's own failure: the caller has one
            break
    if cancelled is not None:
        raise cancelled
