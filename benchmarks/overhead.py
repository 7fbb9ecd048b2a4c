"""SDK overhead per call: ``reports.get`` against raw httpx, sync and async, on one live server.

Both sides fetch the same report from the same loopback server, one call at a time, on a warm
connection with a token already in hand, taking turns call by call. The raw httpx baseline sends
the SDK's headers (bearer token, ``Accept``, ``User-Agent``), checks the status and decodes the
JSON, which is the least a caller needs; the SDK also builds the call's retry state and turns the
JSON into a typed `Report`. What is left between the two is the SDK's own cost per call.

A round's figure is the median time of its calls (the server's flushes make the mean noisy); the
ratio is the median of the rounds' ratios.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from benchmarks._fixtures import new_reference, report_model
from benchmarks._measure import aalternating_calls, alternating_calls, rounds_of
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
from crs_sdk import AsyncCRSClient, CRSClient

if TYPE_CHECKING:
    from benchmarks._measure import Paired
    from benchmarks._scale import Scale

TARGET = Target("<=", 1.10)
MICROSECONDS = 1e6
WARM_UP = 20


def _sync(server: Server, scale: Scale) -> Paired:
    headers = raw_headers(fetch_token(server.base_url))
    with (
        CRSClient(server.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as sdk,
        httpx.Client() as raw,
    ):
        report_id = sdk.reports.create(report_model(new_reference("BENCH-GET"))).id
        url = f"{server.base_url}/v1/reports/{report_id}"

        def candidate() -> object:
            return sdk.reports.get(report_id)

        def baseline() -> object:
            response = raw.get(url, headers=headers)
            response.raise_for_status()
            return response.json()

        alternating_calls(WARM_UP, candidate, baseline)  # token, connection, caches
        return rounds_of(
            [
                alternating_calls(scale.overhead_calls, candidate, baseline)
                for _ in range(scale.overhead_rounds)
            ]
        )


async def _async(server: Server, scale: Scale) -> Paired:
    headers = raw_headers(fetch_token(server.base_url))
    async with (
        AsyncCRSClient(server.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as sdk,
        httpx.AsyncClient() as raw,
    ):
        report_id = (await sdk.reports.create(report_model(new_reference("BENCH-GET")))).id
        url = f"{server.base_url}/v1/reports/{report_id}"

        async def candidate() -> object:
            return await sdk.reports.get(report_id)

        async def baseline() -> object:
            response = await raw.get(url, headers=headers)
            response.raise_for_status()
            return response.json()

        await aalternating_calls(WARM_UP, candidate, baseline)
        return rounds_of(
            [
                await aalternating_calls(scale.overhead_calls, candidate, baseline)
                for _ in range(scale.overhead_rounds)
            ]
        )


def _row(figure: str, paired: Paired) -> Row:
    candidate = paired.candidate_median * MICROSECONDS
    baseline = paired.baseline_median * MICROSECONDS
    return Row(
        figure=figure,
        candidate=candidate,
        baseline=baseline,
        unit="us/call",
        ratio=paired.ratio,
        target=TARGET,
        detail=f"+{candidate - baseline:.0f} us",
        data={"median_seconds_per_call": paired.as_json()},
    )


def run(scale: Scale, dirs: StateDirs) -> list[Row]:
    """The sync and the async figure, each on its own fresh server."""
    with running_server(dirs.ram / "overhead-sync.sqlite3") as server:
        sync = _sync(server, scale)
    with running_server(dirs.ram / "overhead-async.sqlite3") as server:
        async_ = asyncio.run(_async(server, scale))
    return [
        _row("SDK overhead: reports.get, sync", sync),
        _row("SDK overhead: reports.get, async", async_),
    ]
