"""Developer tasks: the one entry point (``nox -l`` lists them).

The README's two commands are ``nox -s demo`` (the main job) and
``nox -s lint typecheck docs tests`` (everything CI checks).
"""

from __future__ import annotations

from pathlib import Path

import nox

# nox.project.dependency_groups (used below) first came with nox 2025.02.09; 2024.10.09 lacks it.
nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def install_project(session: nox.Session, *groups: str) -> None:
    """Install both distributions (editable) and the named dependency groups."""
    requirements: list[str] = []
    for group in groups:
        requirements += nox.project.dependency_groups(PYPROJECT, group)
    session.install("-e", ".", "-e", "./mock_server", *requirements)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The default test suite (without the `slow` and `chaos` markers)."""
    install_project(session, "tests")
    session.run(
        "pytest",
        "-m",
        "not slow and not chaos",
        "--numprocesses",
        "auto",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """The long-running tests (marked ``slow``), kept out of the default run: the limits at their
    real defaults (a 2 GiB upload over a real socket), about a minute. CI runs them too."""
    install_project(session, "tests")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session(python=PYTHON)
def chaos(session: nox.Session) -> None:
    """The reliability suite: faults, crashes, contract fuzzing, hostile input, isolation, secrets.

    Size knob: ``nox -s chaos -- --chaos-flows=300`` (or ``CRS_CHAOS_FLOWS``; full size 2000).
    """
    install_project(session, "tests", "chaos")
    session.run("pytest", "tests/chaos", "-m", "chaos", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over both packages."""
    install_project(session, "typing", "tests")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation (html and doctest) with warnings as errors."""
    install_project(session, "docs")
    for builder in ("html", "doctest"):
        session.run(
            "sphinx-build",
            "-n",
            "-W",
            "--keep-going",
            "-b",
            builder,
            "docs",
            f"docs/_build/{builder}",
        )


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: start the mock server, run the end-to-end flow, stop the server."""
    session.install(".", "./mock_server")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against their baselines, one table (``-- --quick`` for the short CI run)."""
    session.install(".", "./mock_server", *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "-m", "benchmarks.run", *session.posargs)
