"""``PUT /_mock/bench/sink``: a plain upload endpoint, the baseline of the upload benchmark.

Only there when asked for (``create_app(benchmark_sink=True)``, ``crs-mock serve
--benchmark-sink``), and not part of the contract. It takes a streamed body of any size and does
what the tus ``PATCH`` handler does with a chunk's bytes, minus the protocol: it writes them as
they arrive (the same `BlockWriter`: blocks of ``FLUSH_BYTES`` from a worker thread) to a file on
the same file system as the evidence, each handed to the disk and dropped from the page cache as
the evidence's are (`drop_cached`), fsyncs the file once at the end, and deletes it. The
answer is ``{"received": n}``.
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import IO, TYPE_CHECKING

import anyio.to_thread
from starlette.routing import Route

from crs_mock._blobs import drop_cached
from crs_mock._block_writer import BlockWriter
from crs_mock._platform import to_response
from crs_mock._problems import json_reply

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from crs_mock._platform import MockPlatform

__all__ = ["SINK_PATH", "sink_routes"]

SINK_PATH = "/_mock/bench/sink"


def _write(file: IO[bytes], block: bytearray) -> None:
    file.write(block)
    drop_cached(file, 0)


def _sync(file: IO[bytes]) -> None:
    file.flush()
    os.fsync(file.fileno())


async def sink(request: Request) -> Response:
    platform: MockPlatform = request.app.state.mock
    folder = platform.uploads.blobs.root / "bench-sink"
    folder.mkdir(exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as file:
            writer = BlockWriter(functools.partial(_write, file), platform.uploads.writer_threads)
            try:
                async for data in request.stream():
                    await writer.feed(data)
            finally:
                await writer.finish()
            received = writer.taken
            await anyio.to_thread.run_sync(_sync, file)
    finally:
        os.unlink(name)  # noqa: PTH108 - a name from mkstemp
    return to_response(json_reply(200, {"received": received}))


def sink_routes() -> list[Route]:
    """The benchmark-only routes."""
    return [Route(SINK_PATH, sink, methods=["PUT", "POST"])]
