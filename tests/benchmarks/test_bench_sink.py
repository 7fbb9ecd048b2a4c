"""``PUT /_mock/bench/sink``: the upload benchmark's baseline endpoint, only when asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

SINK = "/_mock/bench/sink"

pytestmark = pytest.mark.anyio


async def _chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for number in range(count):
        yield bytes([number % 256]) * size


async def test_the_sink_takes_a_streamed_body_and_keeps_nothing(tmp_path: Path) -> None:
    app = create_app(blob_dir=tmp_path, benchmark_sink=True)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
            streamed = await http.put(SINK, content=_chunks(40, 64 * 1024))
            posted = await http.post(SINK, content=b"abc")
    finally:
        app.state.mock.close()
    assert streamed.status_code == 200
    assert streamed.json() == {"received": 40 * 64 * 1024}
    assert posted.json() == {"received": 3}
    assert list((tmp_path / "bench-sink").iterdir()) == []


async def test_there_is_no_sink_by_default(tmp_path: Path) -> None:
    app = create_app(blob_dir=tmp_path)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
            answer = await http.put(SINK, content=b"abc")
    finally:
        app.state.mock.close()
    assert answer.status_code == 404


def test_the_command_line_flag_adds_it() -> None:
    from crs_mock.__main__ import _parser

    assert _parser().parse_args(["serve", "--benchmark-sink"]).benchmark_sink is True
    assert _parser().parse_args(["serve"]).benchmark_sink is False


async def test_the_sink_treats_the_page_cache_as_evidence_uploads_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crs_mock import _bench_sink
    from crs_mock._block_writer import FLUSH_BYTES

    handed: list[int] = []
    monkeypatch.setattr(_bench_sink, "drop_cached", lambda file, start: handed.append(file.tell()))
    app = create_app(blob_dir=tmp_path, benchmark_sink=True)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
            answer = await http.put(SINK, content=_chunks(48, 64 * 1024))
    finally:
        app.state.mock.close()
    assert answer.json() == {"received": 3 * FLUSH_BYTES}
    assert handed == [FLUSH_BYTES, 2 * FLUSH_BYTES, 3 * FLUSH_BYTES]  # after each block
