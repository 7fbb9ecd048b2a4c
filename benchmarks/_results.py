"""Figures, their targets, the printed table and the JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

MIB = 1024 * 1024

Comparison = Literal["<=", ">=", "<"]


@dataclass(frozen=True)
class Target:
    """What a figure should reach: its ``ratio`` (or the ``candidate`` value) against a bound."""

    op: Comparison
    bound: float
    on: Literal["ratio", "candidate"] = "ratio"
    unit: str = "x"

    def met(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.bound
        if self.op == ">=":
            return value >= self.bound
        return value < self.bound

    def text(self) -> str:
        if self.unit == "x":
            return f"{self.op} {self.bound:.2f}x"
        return f"{self.op} {self.bound:g} {self.unit}"


@dataclass(frozen=True)
class Row:
    """One line of the table.

    ``candidate`` and ``baseline`` are in ``unit`` (``scale`` divides the raw value for display,
    e.g. seconds shown as microseconds); ``ratio`` is candidate / baseline (median of the
    per-round ratios where there are rounds). ``detail`` follows the candidate's value.
    """

    figure: str
    candidate: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: Target | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def checked(self) -> float | None:
        """The value the target applies to."""
        if self.target is None:
            return None
        return self.ratio if self.target.on == "ratio" else self.candidate

    @property
    def status(self) -> str:
        value = self.checked
        if self.target is None or value is None:
            return "info"
        if not math.isfinite(value):
            return "miss"
        return "pass" if self.target.met(value) else "miss"

    def cells(self) -> list[str]:
        candidate = f"{_number(self.candidate)} {self.unit}"
        if self.detail:
            candidate += f" ({self.detail})"
        baseline = "-" if self.baseline is None else f"{_number(self.baseline)} {self.unit}"
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        target = "report" if self.target is None else self.target.text()
        return [self.figure, candidate, baseline, ratio, target, self.status]


HEADER = ["figure", "candidate", "baseline", "ratio", "target", "result"]


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: Sequence[Row], *, markdown: bool = False) -> str:
    """The figures as a plain-text table, or as a Markdown one."""
    lines = [HEADER, *(row.cells() for row in rows)]
    if markdown:
        out = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines[1:]]
        return "\n".join(out)
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(HEADER))]
    rule = "  ".join("-" * width for width in widths)
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        for cells in lines
    ]
    return "\n".join([text[0], rule, *text[1:]])


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:  # noqa: PTH123
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(path: Path, rows: Sequence[Row], *, mode: str, seconds: float) -> None:
    """Write the run's figures (and every round's values) to ``path``."""
    document = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "seconds": round(seconds, 1),
        "machine": machine(),
        "figures": [
            {**asdict(row), "status": row.status, "target": _target_json(row.target)}
            for row in rows
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n", encoding="utf-8")


def _target_json(target: Target | None) -> dict[str, Any] | None:
    if target is None:
        return None
    return {**asdict(target), "text": target.text()}
