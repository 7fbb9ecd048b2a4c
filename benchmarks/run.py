"""Run the benchmarks and print one table: ``python -m benchmarks.run [--quick]``.

``nox -s bench`` runs this; ``nox -s bench -- --quick`` is the short run that CI does. Every figure
is measured side by side with its baseline in the same run (see ``benchmarks/README.md``). The
figures and every round's values go to ``benchmarks/results/latest.json``; a full run also draws
``docs/_static/benchmarks.png``. A missed target is printed, not fatal, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import imports, overhead, server, throughput, upload, webhooks
from benchmarks._results import Row, table, write_json
from benchmarks._scale import FULL, QUICK, SMOKE
from benchmarks._server import StateDirs, ram_parent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from benchmarks._scale import Scale

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
CHART = ROOT / "docs" / "_static" / "benchmarks.png"

Figure = Callable[["Scale", StateDirs], list[Row]]
FIGURES: dict[str, Figure] = {
    "overhead": overhead.run,
    "throughput": throughput.run,
    "upload": upload.run,
    "webhooks": webhooks.run,
    "server": server.run,
    "imports": imports.run,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_const", const=QUICK, dest="scale", help="the short CI run"
    )
    size.add_argument(
        "--smoke", action="store_const", const=SMOKE, dest="scale", help="smallest sizes (tests)"
    )
    parser.set_defaults(scale=FULL)
    parser.add_argument(
        "--only", action="append", choices=sorted(FIGURES), help="run only these (repeatable)"
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument(
        "--chart", type=Path, default=None, help=f"PNG to draw (default in a full run: {CHART})"
    )
    parser.add_argument("--no-chart", action="store_true", help="draw no chart")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    return parser


def _state_dirs(stack: ExitStack) -> StateDirs:
    disk = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crs-bench-")))
    parent = ram_parent()
    if parent is None:
        return StateDirs(disk=disk, ram=disk)
    ram = stack.enter_context(tempfile.TemporaryDirectory(prefix="crs-bench-", dir=parent))
    return StateDirs(disk=disk, ram=Path(ram))


def measure(scale: Scale, names: Sequence[str]) -> list[Row]:
    """Run the named figures at ``scale``; their rows, in order."""
    rows: list[Row] = []
    with ExitStack() as stack:
        dirs = _state_dirs(stack)
        for name in names:
            started = time.perf_counter()
            print(f"[bench] {name} ...", flush=True)
            rows += FIGURES[name](scale, dirs)
            print(f"[bench] {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    scale: Scale = arguments.scale
    names = arguments.only or list(FIGURES)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    print(f"[bench] {scale.name} run on {os.cpu_count()} CPUs, load average {load:.2f}", flush=True)
    rows = measure(scale, names)
    seconds = time.perf_counter() - started
    print()
    print(table(rows))
    print(f"\n{scale.name} run: {seconds:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    write_json(arguments.json, rows, mode=scale.name, seconds=seconds)
    print(f"figures: {arguments.json}")
    chart = arguments.chart or (CHART if scale is FULL else None)
    if chart is not None and not arguments.no_chart:
        from benchmarks._chart import write_chart

        title = f"crs-sdk benchmarks ({scale.name} run, {os.cpu_count()} CPUs)"
        write_chart(chart, rows, title=title)
        print(f"chart: {chart}")
    missed = [row.figure for row in rows if row.status == "miss"]
    if missed:
        print(f"missed targets: {len(missed)} ({'; '.join(missed)})")
    return 1 if missed and arguments.strict else 0


if __name__ == "__main__":
    sys.exit(main())
