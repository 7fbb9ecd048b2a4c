"""Side-by-side measurement: interleaved rounds of a candidate and its baseline, and medians.

A round measures the candidate and the baseline back to back; the order alternates from round to
round, so a slow drift of the machine (page cache, SQLite growing, a noisy neighbour) falls on both
alike. Where single calls are timed, the two take turns call by call (`alternating_calls`). The
figure's ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence


@dataclass(frozen=True)
class Paired:
    """The values measured round by round (seconds per call, or a rate)."""

    candidate: list[float]
    baseline: list[float]

    @property
    def ratios(self) -> list[float]:
        return [c / b for c, b in zip(self.candidate, self.baseline, strict=True)]

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios candidate / baseline."""
        return statistics.median(self.ratios)

    @property
    def candidate_median(self) -> float:
        return statistics.median(self.candidate)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    def as_json(self) -> dict[str, list[float]]:
        return {"candidate": self.candidate, "baseline": self.baseline, "ratios": self.ratios}


def paired_rounds(
    rounds: int, candidate: Callable[[], float], baseline: Callable[[], float]
) -> Paired:
    """Run ``rounds`` rounds of both, alternating which goes first."""
    measured: dict[str, list[float]] = {"candidate": [], "baseline": []}
    for number in range(rounds):
        order = [("baseline", baseline), ("candidate", candidate)]
        if number % 2:
            order.reverse()
        for name, run in order:
            gc.collect()
            measured[name].append(run())
    return Paired(measured["candidate"], measured["baseline"])


async def apaired_rounds(
    rounds: int,
    candidate: Callable[[], Awaitable[float]],
    baseline: Callable[[], Awaitable[float]],
) -> Paired:
    """`paired_rounds` for coroutines, in the running event loop."""
    measured: dict[str, list[float]] = {"candidate": [], "baseline": []}
    for number in range(rounds):
        order = [("baseline", baseline), ("candidate", candidate)]
        if number % 2:
            order.reverse()
        for name, run in order:
            gc.collect()
            measured[name].append(await run())
    return Paired(measured["candidate"], measured["baseline"])


def alternating_calls(
    calls: int, candidate: Callable[[], object], baseline: Callable[[], object]
) -> tuple[float, float]:
    """The median seconds of one call of each, over ``calls`` calls each, made turn by turn."""
    times: tuple[list[float], list[float]] = ([], [])
    pair = ((0, candidate), (1, baseline))
    for number in range(calls):
        for side, body in pair if number % 2 else reversed(pair):
            started = time.perf_counter()
            body()
            times[side].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


async def aalternating_calls(
    calls: int,
    candidate: Callable[[], Awaitable[object]],
    baseline: Callable[[], Awaitable[object]],
) -> tuple[float, float]:
    """`alternating_calls` for coroutines."""
    times: tuple[list[float], list[float]] = ([], [])
    pair = ((0, candidate), (1, baseline))
    for number in range(calls):
        for side, body in pair if number % 2 else reversed(pair):
            started = time.perf_counter()
            await body()
            times[side].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def rounds_of(measured: Sequence[tuple[float, float]]) -> Paired:
    """`Paired` from (candidate, baseline) values, one pair per round."""
    return Paired([c for c, _ in measured], [b for _, b in measured])


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]
