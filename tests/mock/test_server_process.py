"""`ServerProcess`: ``crs-mock serve`` in a child process, stopped, killed and started again."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import ServerProcess

if TYPE_CHECKING:
    from pathlib import Path


def test_start_kill_and_start_again_on_the_same_port_and_database(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "db.sqlite3")
    with pytest.raises(RuntimeError, match="not been started"):
        _ = server.base_url
    with server:
        assert server.running
        first_pid, port = server.pid, server.port
        assert port > 0
        assert server.base_url == f"http://127.0.0.1:{port}"
        token = httpx.post(
            f"{server.base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(server.client_id, server.client_secret),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        server.kill()
        assert not server.running
        with pytest.raises(RuntimeError, match="not running"):
            _ = server.pid
        server.start()
        assert (server.port, server.starts) == (port, 2)
        assert server.pid != first_pid
        # The same database: the token issued before the crash is still known.
        assert httpx.get(f"{server.base_url}/v1/reports", headers=headers).status_code == 200
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    assert not server.running
    assert any("listening on" in line for line in server.output)


def test_stop_is_a_clean_shutdown(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "db.sqlite3") as server:
        process = server._process
        assert process is not None
        server.stop()
        assert process.returncode in {0, -signal.SIGTERM}
        server.restart()  # stopped already: just started again
        assert server.running
        assert server.starts == 2


def test_a_server_that_cannot_start_is_an_error_with_its_output(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "db.sqlite3", "--max-upload-size", "a lot")
    with pytest.raises(RuntimeError, match="did not start listening") as info:
        server.start()
    assert "max-upload-size" in str(info.value)
    assert not server.running


def test_env_and_repr(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "db.sqlite3", client_secret="not-shown") as server:
        assert server.env() == {
            "CRS_BASE_URL": server.base_url,
            "CRS_CLIENT_ID": "demo-agency",
            "CRS_CLIENT_SECRET": "not-shown",
        }
        assert "not-shown" not in repr(server)
        assert "running" in repr(server)
