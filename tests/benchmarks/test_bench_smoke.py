"""The benchmarks run, at their smallest sizes, and produce their figures.

Nothing here looks at a timing: only that every figure is there and its numbers are finite.
Each figure runs in its own ``python -m benchmarks.run --smoke --only NAME`` process, as
``nox -s bench`` would run it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ["overhead", "throughput", "upload", "webhooks", "server", "imports"]


def _run(name: str, results: Path) -> dict[str, object]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--only", name, "--json", results],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "figure" in done.stdout
    assert "candidate" in done.stdout
    document: dict[str, object] = json.loads(results.read_text())
    return document


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_produced(name: str, tmp_path: Path) -> None:
    document = _run(name, tmp_path / "latest.json")
    assert document["mode"] == "smoke"
    figures = document["figures"]
    assert isinstance(figures, list)
    assert figures
    for figure in figures:
        assert math.isfinite(figure["candidate"]), figure
        assert figure["candidate"] > 0, figure
        if figure["ratio"] is not None:
            assert math.isfinite(figure["ratio"]), figure
            assert figure["ratio"] > 0, figure
        if figure["target"] is None:
            assert figure["status"] == "info"
        else:
            assert figure["status"] in {"pass", "miss"}


def test_table_and_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks._chart import write_chart
    from benchmarks._results import Row, Target, table

    rows = [
        Row("faster", candidate=1.0, baseline=1.1, unit="ms", ratio=0.91, target=Target("<=", 1.1)),
        Row("slower", candidate=2.0, baseline=1.0, unit="ms", ratio=2.0, target=Target("<=", 1.1)),
        Row("memory", candidate=40.0, unit="MiB", target=Target("<", 64, "candidate", "MiB")),
        Row("rate", candidate=900.0, unit="req/s", detail="p50 1 ms"),
    ]
    assert [row.status for row in rows] == ["pass", "miss", "pass", "info"]
    text = table(rows)
    assert "<= 1.10x" in text
    assert "< 64 MiB" in text
    assert "900 req/s (p50 1 ms)" in text
    assert table(rows, markdown=True).startswith("| figure |")
    write_chart(tmp_path / "chart.png", rows, title="test")
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
