"""The PNG chart: each targeted figure's measured value against its target."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from benchmarks._results import Row

PASS_COLOUR = "#2e7d32"  # noqa: S105 - a colour
MISS_COLOUR = "#c62828"


def write_chart(path: Path, rows: Sequence[Row], *, title: str) -> None:
    """Horizontal bars: the ratio (or, for a limit, the value / limit) and the target as a tick.

    Only rows with a target are drawn. A value checked against an absolute limit (peak RSS under
    64 MiB) is drawn as a fraction of that limit, so every bar reads against its own tick.
    """
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [row for row in rows if row.target is not None and row.checked is not None]
    labels, values, ticks, colours, notes = [], [], [], [], []
    for row in reversed(drawn):
        target = row.target
        checked = row.checked
        if target is None or checked is None:  # pragma: no cover - filtered above
            continue
        if target.on == "candidate":
            values.append(checked / target.bound)
            ticks.append(1.0)
            notes.append(f"{checked:.1f} {target.unit} ({target.text()})")
        else:
            values.append(checked)
            ticks.append(target.bound)
            notes.append(f"{checked:.2f}x ({target.text()})")
        labels.append(row.figure if target.on == "ratio" else f"{row.figure} / limit")
        colours.append(PASS_COLOUR if row.status == "pass" else MISS_COLOUR)
    figure, axes = plt.subplots(figsize=(11, 0.55 * len(drawn) + 1.6), dpi=110)
    positions = range(len(values))
    axes.barh(positions, values, color=colours, height=0.6)
    for position, tick, value, note in zip(positions, ticks, values, notes, strict=True):
        axes.plot([tick, tick], [position - 0.4, position + 0.4], color="black", linewidth=2)
        axes.text(max(value, tick) + 0.03, position, note, va="center", fontsize=8)
    axes.set_yticks(list(positions), labels, fontsize=8)
    axes.set_xlim(0, max([*values, *ticks]) * 1.45)
    axes.set_xlabel("ratio candidate / baseline (black tick: target; green: met, red: missed)")
    axes.set_title(title, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
