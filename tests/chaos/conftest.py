"""The reliability suite's size knob and its figures.

``--chaos-flows N`` (or ``CRS_CHAOS_FLOWS``; default 2,000) is the number of full flows run under
injected faults; the other checks scale with it (fuzzing examples per operation, uploads cut by
crashes), unless ``--chaos-examples`` (``CRS_CHAOS_EXAMPLES``) names the examples per operation.
At the end of the session each check's figures are printed, one line per check. The options
exist when ``tests/chaos`` is named on the command line (as ``nox -s chaos`` does); the
environment variables work always.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

import pytest

from chaos.chaos_support import FIGURES_KEY, Figures

if TYPE_CHECKING:
    from collections.abc import Callable

    from _pytest.terminal import TerminalReporter

FULL_FLOWS = 2000
FULL_EXAMPLES = 100

# schemathesis comes with the `chaos` dependency group only; other sessions collect this folder too.
collect_ignore = [] if importlib.util.find_spec("schemathesis") else ["test_contract_fuzz.py"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "the reliability suite (-m chaos)")
    group.addoption(
        "--chaos-flows",
        type=int,
        default=None,
        help=f"flows under faults (env CRS_CHAOS_FLOWS; default {FULL_FLOWS})",
    )
    group.addoption(
        "--chaos-examples",
        type=int,
        default=None,
        help="contract fuzzing examples per operation (env CRS_CHAOS_EXAMPLES; default scales "
        f"with the flows, {FULL_EXAMPLES} at full size)",
    )


def _knob(config: pytest.Config, option: str, variable: str) -> int | None:
    try:
        value = config.getoption(option)
    except ValueError:  # this conftest was not loaded at start-up: no such option
        value = None
    if value is None and os.environ.get(variable):
        value = int(os.environ[variable])
    return None if value is None else int(value)


@pytest.fixture(scope="session")
def chaos_flows(pytestconfig: pytest.Config) -> int:
    flows = _knob(pytestconfig, "--chaos-flows", "CRS_CHAOS_FLOWS") or FULL_FLOWS
    assert flows > 0
    return flows


@pytest.fixture(scope="session")
def chaos_scale(chaos_flows: int) -> float:
    """How big this run is compared with the full size (1.0 at 2,000 flows)."""
    return chaos_flows / FULL_FLOWS


@pytest.fixture(scope="session")
def chaos_examples(pytestconfig: pytest.Config, chaos_scale: float) -> int:
    examples = _knob(pytestconfig, "--chaos-examples", "CRS_CHAOS_EXAMPLES")
    return examples or max(10, round(FULL_EXAMPLES * min(chaos_scale, 1.0)))


@pytest.fixture
def figures(pytestconfig: pytest.Config) -> Callable[[str], Figures]:
    """``figures("faults")`` gives the `Figures` of a check; fill in its ``values``."""

    def record(name: str) -> Figures:
        found = Figures(name)
        pytestconfig.stash.setdefault(FIGURES_KEY, {})[name] = found
        return found

    return record


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    recorded = config.stash.get(FIGURES_KEY, {})
    if not recorded:
        return
    terminalreporter.section("reliability figures")
    for figures in recorded.values():
        terminalreporter.write_line(figures.line())
