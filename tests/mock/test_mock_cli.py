"""``crs-mock serve``: arguments, the printed start-up lines, state kept across restarts."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import ServerProcess
from crs_mock.__main__ import _parser

if TYPE_CHECKING:
    from pathlib import Path


def test_defaults() -> None:
    arguments = _parser().parse_args(["serve"])
    assert (arguments.host, arguments.port, arguments.db) == ("127.0.0.1", 8750, "crs-mock.sqlite3")
    assert arguments.client is None
    assert arguments.token_ttl == 3600


def test_clients_and_validation(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = _parser().parse_args(["serve", "--client", "a:b:c", "--client", "x:y"])
    assert arguments.client == [("a", "b:c"), ("x", "y")]
    for bad in (["serve", "--client", "nocolon"], ["serve", "--token-ttl", "0"], []):
        with pytest.raises(SystemExit):
            _parser().parse_args(bad)
    capsys.readouterr()


@pytest.mark.timeout(60)
def test_serve_prints_its_port_and_keeps_state(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    with ServerProcess(db) as server:
        base_url = server.base_url
        assert base_url.startswith("http://127.0.0.1:")
        assert not base_url.endswith(":0")
        frozen = httpx.post(f"{base_url}/_mock/clock/freeze").json()
        advanced = httpx.post(f"{base_url}/_mock/clock/advance", json={"seconds": 86400}).json()
        assert advanced["now"] > frozen["now"]
    with ServerProcess(db) as server:
        assert httpx.get(f"{server.base_url}/_mock/clock").json() == advanced


@pytest.mark.timeout(60)
def test_banner_names_only_the_demo_secret(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "crs_mock", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--client" in process.stdout
    demo = "".join(running_output(tmp_path / "a.sqlite3"))
    assert "demo-agency" in demo
    assert "demo-secret" in demo  # the mock's published test credential
    custom = "".join(running_output(tmp_path / "b.sqlite3", "--client", "unit-7:hush-hush"))
    assert "unit-7" in custom
    assert "hush-hush" not in custom
    assert "demo-agency" not in custom


def running_output(db: Path, *extra: str) -> list[str]:
    """What the server printed before it was asked to stop (after it served one request)."""
    with ServerProcess(db, *extra) as server:
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        server.stop()
    return server.output
