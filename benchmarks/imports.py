"""``import crs_sdk`` against ``import httpx``, each in fresh interpreters.

The time of an import is the wall time of ``python -c "import x"`` minus that of
``python -c "pass"`` (the interpreter's own start-up), medians over many fresh processes. The three
commands take turns, so drift falls on all three. ``crs_sdk`` imports httpx, attrs, cattrs and
tenacity, so its figure includes httpx's.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from benchmarks._results import Row, Target

if TYPE_CHECKING:
    from benchmarks._scale import Scale
    from benchmarks._server import StateDirs

TARGET = Target("<=", 1.5)
MILLISECONDS = 1e3
COMMANDS = {"nothing": "pass", "httpx": "import httpx", "crs_sdk": "import crs_sdk"}


def _wall_time(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def run(scale: Scale, _dirs: StateDirs) -> list[Row]:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for code in COMMANDS.values():  # warm up: bytecode caches, the OS's file cache
        _wall_time(code)
    names = list(COMMANDS)
    for number in range(scale.import_runs):
        for name in names[number % 3 :] + names[: number % 3]:
            times[name].append(_wall_time(COMMANDS[name]))
    start_up = statistics.median(times["nothing"])
    crs_sdk = statistics.median(times["crs_sdk"]) - start_up
    httpx = statistics.median(times["httpx"]) - start_up
    return [
        Row(
            figure="import crs_sdk (fresh interpreter)",
            candidate=crs_sdk * MILLISECONDS,
            baseline=httpx * MILLISECONDS,
            unit="ms",
            ratio=crs_sdk / httpx,
            target=TARGET,
            detail=f"start-up {start_up * MILLISECONDS:.0f} ms excluded",
            data={"wall_seconds": times},
        )
    ]
