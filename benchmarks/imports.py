"""``import crs_sdk`` against ``import httpx``, each in fresh interpreters.

The time of an import is the wall time of ``python -c "import x"`` minus that of
``python -c "pass"`` (the interpreter's own start-up), medians over many fresh processes. The
commands take turns, so drift falls on all of them. ``crs_sdk`` imports httpx and attrs, so its
figure includes httpx's.

``import crs_sdk`` leaves the models, the clients' resources, the uploader and cattrs for first use.
The second figure, with no target, shows what that defers: ``import crs_sdk``, then every public
name (``from crs_sdk import *``), the resource classes and the converter (one encode), against the
same ``import httpx``.

Both sides import from bytecode caches, as installed packages do (pip compiles them on install). An
editable checkout has none, and ``PYTHONDONTWRITEBYTECODE`` (set on some machines) would keep the
warm-up from writing them: every run would then compile the SDK's sources and not httpx's. So the
interpreters run with that variable removed and ``PYTHONPYCACHEPREFIX`` pointing to a temporary
folder (nothing is written into the source tree).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from benchmarks._results import Row, Target

if TYPE_CHECKING:
    from benchmarks._scale import Scale
    from benchmarks._server import StateDirs

TARGET = Target("<=", 1.5)
MILLISECONDS = 1e3
COMMANDS = {
    "nothing": "pass",
    "httpx": "import httpx",
    "crs_sdk": "import crs_sdk",
    "crs_sdk_everything": (
        "from crs_sdk import *; import crs_sdk.resources; unstructure(Health(status='ok'))"
    ),
}


def _wall_time(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - started


def run(scale: Scale, _dirs: StateDirs) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="crs-bench-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        return _measure(scale, env)


def _measure(scale: Scale, env: dict[str, str]) -> list[Row]:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for code in COMMANDS.values():  # warm up: bytecode caches, the OS's file cache
        _wall_time(code, env)
    names = list(COMMANDS)
    for number in range(scale.import_runs):
        turn = number % len(names)
        for name in names[turn:] + names[:turn]:
            times[name].append(_wall_time(COMMANDS[name], env))
    start_up = statistics.median(times["nothing"])
    crs_sdk = statistics.median(times["crs_sdk"]) - start_up
    everything = statistics.median(times["crs_sdk_everything"]) - start_up
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
        ),
        Row(
            figure="import crs_sdk + every public name, resources, converter",
            candidate=everything * MILLISECONDS,
            baseline=httpx * MILLISECONDS,
            unit="ms",
            ratio=everything / httpx,
            detail="what import crs_sdk leaves for first use; no target",
        ),
    ]
