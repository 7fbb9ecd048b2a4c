"""`BlockWriter`: a body written in blocks on a worker thread while the next block arrives."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import anyio
import pytest

from crs_mock._block_writer import BlockWriter

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.anyio

BLOCK = 4


class GatedFile:
    """Records the blocks written; each write waits until the test opens its gate."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.started = threading.Semaphore(0)
        self.gate = threading.Semaphore(0)
        self.failure: Exception | None = None

    def write(self, block: bytearray) -> None:
        self.started.release()
        if not self.gate.acquire(timeout=10):
            raise TimeoutError("the test never let this write finish")
        if self.failure is not None:
            raise self.failure
        self.blocks.append(bytes(block))


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


async def started(file: GatedFile) -> None:
    """Wait (bounded) until a write has begun on the worker thread."""
    assert await anyio.to_thread.run_sync(lambda: file.started.acquire(timeout=10))


async def test_a_full_block_is_written_while_the_next_one_arrives(
    threads: ThreadPoolExecutor,
) -> None:
    file = GatedFile()
    writer = BlockWriter(file.write, threads, block_size=BLOCK)
    await writer.feed(b"abcd")  # a full block: handed over, not waited for
    await started(file)
    await writer.feed(b"ef")  # taken while the first block is still being written
    assert file.blocks == []
    assert writer.taken == 6
    file.gate.release()
    file.gate.release()
    await writer.finish()
    assert file.blocks == [b"abcd", b"ef"]


async def test_at_most_one_block_is_in_flight(threads: ThreadPoolExecutor) -> None:
    file = GatedFile()
    writer = BlockWriter(file.write, threads, block_size=BLOCK)
    await writer.feed(b"abcd")
    await started(file)
    second_taken = anyio.Event()

    async def feed_second() -> None:
        await writer.feed(b"efgh")  # must wait for the first write before handing this over
        second_taken.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(feed_second)
        await anyio.wait_all_tasks_blocked()
        assert not second_taken.is_set()
        file.gate.release()
        await second_taken.wait()
    assert file.blocks == [b"abcd"]
    file.gate.release()
    await writer.finish()
    assert file.blocks == [b"abcd", b"efgh"]


async def test_finish_writes_the_rest_in_order_and_waits(threads: ThreadPoolExecutor) -> None:
    written: list[bytes] = []
    writer = BlockWriter(lambda block: written.append(bytes(block)), threads, block_size=BLOCK)
    for piece in (b"ab", b"cdefg", b"h", b"ij"):
        await writer.feed(piece)
    await writer.finish()
    assert b"".join(written) == b"abcdefghij"
    assert written[0] == b"abcdefg"  # a block is what had arrived when it was full
    assert writer.taken == 10


async def test_a_failed_write_is_raised_and_nothing_is_left_running(
    threads: ThreadPoolExecutor,
) -> None:
    file = GatedFile()
    file.failure = OSError(28, "No space left on device")
    writer = BlockWriter(file.write, threads, block_size=BLOCK)
    await writer.feed(b"abcd")
    file.gate.release()
    with pytest.raises(OSError, match="No space left"):
        await writer.finish()


async def test_after_a_failed_write_nothing_more_is_written(threads: ThreadPoolExecutor) -> None:
    file = GatedFile()
    file.failure = OSError(28, "No space left on device")
    writer = BlockWriter(file.write, threads, block_size=BLOCK)
    await writer.feed(b"abcd")
    file.gate.release()
    with pytest.raises(OSError, match="No space left"):
        await writer.feed(b"efgh")  # the next full block meets the failure
    file.failure = None
    file.gate.release()  # would let a second write through, if one were started
    await writer.finish()  # drops the rest; the failure was raised already
    assert file.blocks == []
    assert file.started.acquire(timeout=0)  # the first write started
    assert not file.started.acquire(timeout=0)  # and no other


async def test_finish_waits_for_the_write_in_flight_even_when_cancelled(
    threads: ThreadPoolExecutor,
) -> None:
    file = GatedFile()
    writer = BlockWriter(file.write, threads, block_size=BLOCK)
    await writer.feed(b"abcd")
    await started(file)
    finished = anyio.Event()

    async def cancelled_finish() -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await writer.finish()  # shielded: returns only when the thread is done with the file
        finished.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(cancelled_finish)
        await anyio.wait_all_tasks_blocked()
        assert not finished.is_set()
        file.gate.release()
    assert file.blocks == [b"abcd"]


async def test_a_plain_asyncio_cancel_waits_for_the_write_without_blocking_the_loop(
    threads: ThreadPoolExecutor,
) -> None:
    # What uvicorn does to a request task after its graceful-shutdown timeout: task.cancel(),
    # which anyio's shield does not stop.
    file = GatedFile()
    writer = BlockWriter(file.write, threads, block_size=BLOCK)
    await writer.feed(b"abcd")
    await started(file)
    finishing = asyncio.ensure_future(writer.finish())
    await anyio.wait_all_tasks_blocked()
    finishing.cancel()
    await anyio.wait_all_tasks_blocked()  # the loop runs on: nothing blocks it on the write
    assert not finishing.done()  # still waiting for the thread that writes
    file.gate.release()
    with pytest.raises(asyncio.CancelledError):
        await finishing
    assert file.blocks == [b"abcd"]
