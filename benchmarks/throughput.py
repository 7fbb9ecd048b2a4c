"""Reports created and submitted with `AsyncCRSClient` at concurrency 32, against raw httpx async.

Each report is two writes: ``POST /v1/reports`` and ``POST /v1/reports/{id}/submit``, both with an
``Idempotency-Key`` (the SDK makes its own; the baseline sends a fresh UUID, as a careful raw
client would). 32 workers share one client; the baseline's ``httpx.AsyncClient`` has httpx's
default pool, as the SDK's does. Throughput is reports per second over a round.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

import httpx

from benchmarks._fixtures import check_same_body, new_reference, report_json, report_model
from benchmarks._measure import apaired_rounds
from benchmarks._results import Row, Target
from benchmarks._server import (
    CLIENT_ID,
    CLIENT_SECRET,
    Server,
    StateDirs,
    fetch_token,
    raw_headers,
    running_server,
)
from crs_sdk import AsyncCRSClient

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from benchmarks._measure import Paired
    from benchmarks._scale import Scale

TARGET = Target(">=", 0.90)
CREATED = 201


async def _rate(
    reports: int, concurrency: int, file_one: Callable[[int], Awaitable[None]]
) -> float:
    """Reports per second: ``reports`` calls of ``file_one`` by ``concurrency`` workers."""
    numbers = iter(range(reports))

    async def worker() -> None:
        for number in numbers:
            await file_one(number)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(concurrency):
            tasks.create_task(worker())
    return reports / (time.perf_counter() - started)


async def _measure(server: Server, scale: Scale) -> Paired:
    check_same_body()
    headers = raw_headers(fetch_token(server.base_url))
    async with (
        AsyncCRSClient(server.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as sdk,
        httpx.AsyncClient() as raw,
    ):

        async def with_sdk(_: int) -> None:
            report = await sdk.reports.create(report_model(new_reference("BENCH-SDK")))
            await sdk.reports.submit(report.id)

        async def with_httpx(_: int) -> None:
            created = await raw.post(
                f"{server.base_url}/v1/reports",
                json=report_json(new_reference("BENCH-RAW")),
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )
            if created.status_code != CREATED:
                created.raise_for_status()
                raise RuntimeError(f"expected 201, got {created.status_code}")
            report_id = created.json()["id"]
            submitted = await raw.post(
                f"{server.base_url}/v1/reports/{report_id}/submit",
                json={},
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )
            submitted.raise_for_status()
            submitted.json()

        # Warm up both pools to the working concurrency.
        await _rate(scale.concurrency, scale.concurrency, with_sdk)
        await _rate(scale.concurrency, scale.concurrency, with_httpx)
        return await apaired_rounds(
            scale.report_rounds,
            lambda: _rate(scale.reports, scale.concurrency, with_sdk),
            lambda: _rate(scale.reports, scale.concurrency, with_httpx),
        )


def run(scale: Scale, dirs: StateDirs) -> list[Row]:
    with running_server(dirs.ram / "throughput.sqlite3") as server:
        paired = asyncio.run(_measure(server, scale))
    return [
        Row(
            figure=f"{scale.reports:,} reports created+submitted, async, c={scale.concurrency}",
            candidate=paired.candidate_median,
            baseline=paired.baseline_median,
            unit="reports/s",
            ratio=paired.ratio,
            target=TARGET,
            data={"reports_per_second": paired.as_json()},
        )
    ]
