"""The mock server's throughput and latency: ``GET`` and ``POST`` report at concurrency 32.

The load comes from a lean HTTP/1.1 client written on asyncio streams (32 keep-alive connections,
one request in flight on each), so that on a two-core machine the client takes as little CPU as
possible from the server it measures. Every ``POST`` creates a new report (its own
``client_reference`` and ``Idempotency-Key``). Latency is from writing the request to reading the
last byte of the answer.

The server keeps its state in a SQLite file, as ``crs-mock serve`` does: once on the machine's
disk (the default temporary folder), and once on a RAM-backed file system, which shows how much
of the time is the disk's flushes (SQLite runs with ``synchronous=FULL``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from benchmarks._fixtures import new_reference, report_json
from benchmarks._measure import percentile
from benchmarks._results import Row
from benchmarks._server import fetch_token, raw_headers, running_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from benchmarks._scale import Scale
    from benchmarks._server import Server, StateDirs

MILLISECONDS = 1e3
WARM_UP = 64


class LoadError(RuntimeError):
    """The server answered something unexpected."""


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise LoadError(f"no Content-Length in the answer: {lines[0]}")
    return status, await reader.readexactly(length)


async def _connection(
    host: str, port: int, requests: Iterator[bytes], expect: int, latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in requests:
            started = time.perf_counter()
            writer.write(request)
            status, body = await _answer(reader)
            latencies.append(time.perf_counter() - started)
            if status != expect:
                raise LoadError(f"expected {expect}, got {status}: {body[:200]!r}")
    finally:
        writer.close()
        await writer.wait_closed()


async def _load(
    base_url: str, requests: Iterator[bytes], concurrency: int, expect: int
) -> tuple[float, list[float]]:
    """Requests per second and each request's latency."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    latencies: list[float] = []
    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(concurrency):
            tasks.create_task(_connection(host, port, requests, expect, latencies))
    return len(latencies) / (time.perf_counter() - started), latencies


def _request(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _gets(headers: dict[str, str], report_id: str, count: int) -> Iterator[bytes]:
    request = _request("GET", f"/v1/reports/{report_id}", headers)
    return (request for _ in range(count))


def _posts(headers: dict[str, str], count: int) -> Iterator[bytes]:
    for _ in range(count):
        body = json.dumps(report_json(new_reference("BENCH-LOAD"))).encode()
        post_headers = {
            **headers,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        yield _request("POST", "/v1/reports", post_headers, body)


async def _measure(server: Server, scale: Scale) -> dict[str, tuple[float, list[float]]]:
    headers = {
        "Host": urlsplit(server.base_url).netloc,
        **raw_headers(fetch_token(server.base_url)),
    }
    base_url, concurrency, count = server.base_url, scale.concurrency, scale.server_requests
    await _load(base_url, _posts(headers, WARM_UP), concurrency, 201)
    report_id = await _first_report_id(base_url, headers)
    await _load(base_url, _gets(headers, report_id, WARM_UP), concurrency, 200)
    results = {"GET": await _load(base_url, _gets(headers, report_id, count), concurrency, 200)}
    results["POST"] = await _load(base_url, _posts(headers, count), concurrency, 201)
    return results


async def _first_report_id(base_url: str, headers: dict[str, str]) -> str:
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(_request("GET", "/v1/reports?limit=1", headers))
        status, body = await _answer(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    if status != 200:
        raise LoadError(f"cannot list reports: {status}")
    report_id: str = json.loads(body)["data"][0]["id"]
    return report_id


def _rows(where: str, results: dict[str, tuple[float, list[float]]], scale: Scale) -> list[Row]:
    rows = []
    for method, (rate, latencies) in results.items():
        p50 = percentile(latencies, 0.50) * MILLISECONDS
        p99 = percentile(latencies, 0.99) * MILLISECONDS
        rows.append(
            Row(
                figure=f"mock server: {method} report, c={scale.concurrency}, {where}",
                candidate=rate,
                unit="req/s",
                detail=f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                data={"requests": len(latencies), "p50_ms": p50, "p99_ms": p99},
            )
        )
    return rows


def _one(db: Path, scale: Scale) -> dict[str, tuple[float, list[float]]]:
    with running_server(db) as server:
        return asyncio.run(_measure(server, scale))


def run(scale: Scale, dirs: StateDirs) -> list[Row]:
    sides = [("SQLite on disk", dirs.disk)]
    if dirs.has_ram:
        sides.append(("SQLite on tmpfs", dirs.ram))
    rows = []
    for where, folder in sides:
        rows += _rows(where, _one(folder / "server.sqlite3", scale), scale)
    return rows
