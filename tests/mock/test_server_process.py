"""`ServerProcess`: ``crs-mock serve`` in a child process, stopped, killed and started again."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import psutil
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


def test_stop_is_a_clean_shutdown_that_closes_the_database(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with ServerProcess(db) as server:
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        assert db.with_name("db.sqlite3-wal").exists()  # WAL mode, open
        # The platform was closed before the process ended by the signal uvicorn re-raises.
        assert server.stop() == -signal.SIGTERM
        assert server.returncode == -signal.SIGTERM
        assert not db.with_name("db.sqlite3-wal").exists()
        server.restart()  # stopped already: just started again
        assert server.running
        assert server.starts == 2
    assert server.kill() == -signal.SIGTERM  # nothing left to kill: the last status


def test_a_relative_database_path_is_taken_from_where_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server = ServerProcess("state.sqlite3")
    monkeypatch.chdir(tmp_path.parent)
    with server:
        assert (tmp_path / "state.sqlite3").exists()
    assert server.db == tmp_path / "state.sqlite3"


def test_the_base_url_is_the_one_the_server_printed(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "db.sqlite3", "--host", "0.0.0.0") as server:  # noqa: S104
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--max-upload-size", "a lot"), "max-upload-size"),  # refused by the command line
        (("--log-level", "loud"), "loud"),  # refused by uvicorn, before the app starts
    ],
)
def test_a_server_that_cannot_start_is_an_error_with_its_output(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    server = ServerProcess(tmp_path / "db.sqlite3", *args)
    with pytest.raises(RuntimeError, match="did not start listening") as info:
        server.start()
    assert said in str(info.value)
    assert not server.running
    assert server.returncode not in {None, 0}
    with socket.socket() as other:  # a server that never listened keeps no port reserved
        other.bind(("127.0.0.1", server.port))


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (("--port", "8799"), "--port"),
        (("--db", "other.sqlite3"), "--db"),
        (("--client", "a:b", "--db=other.sqlite3"), "--db=other.sqlite3"),
    ],
)
def test_the_port_and_database_are_not_options(
    tmp_path: Path, args: tuple[str, ...], refused: str
) -> None:
    """They were passed on: the server then listened, or kept its state, elsewhere than `port`
    and `db` said (a restart of a ``--port`` one came back on it, not on the reserved port)."""
    with pytest.raises(ValueError, match=f"^{refused}: pass the port and database as port= and"):
        ServerProcess(tmp_path / "db.sqlite3", *args)


def test_env_and_repr(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "db.sqlite3", client_secret="not-shown") as server:
        assert server.env() == {
            "CRS_BASE_URL": server.base_url,
            "CRS_CLIENT_ID": "demo-agency",
            "CRS_CLIENT_SECRET": "not-shown",
        }
        assert "not-shown" not in repr(server)
        assert "running" in repr(server)


def test_a_server_stops_by_itself_when_the_process_that_started_it_dies(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    parent = f"""
import os
from crs_mock import ServerProcess

server = ServerProcess({str(db)!r})
server.start()
print(server.pid, flush=True)
os._exit(0)  # no clean-up of any kind: as after a SIGKILL or a crash
"""
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=120, check=True
    )
    server = psutil.Process(int(done.stdout.split()[0]))
    try:
        # Its input pipe closed with the parent: it shuts down as on SIGTERM (raises if not).
        server.wait(timeout=60)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            server.kill()  # never leave it behind, should it still run
    assert not db.with_name("db.sqlite3-wal").exists()  # the database was closed cleanly


def test_the_end_of_input_stops_the_server_as_sigterm_does(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    server = ServerProcess(db)
    with server:
        process = server._process
        assert process is not None
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=60) == -signal.SIGTERM
    assert server.returncode == -signal.SIGTERM
    assert not db.with_name("db.sqlite3-wal").exists()


def test_env_is_added_to_this_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRS_TEST_INHERITED", "from the parent")
    monkeypatch.setenv("CRS_TEST_OVERRIDDEN", "from the parent")
    env = {"CRS_TEST_OVERRIDDEN": "given", "CRS_TEST_ADDED": "given"}
    with ServerProcess(tmp_path / "db.sqlite3", env=env) as server:
        seen = psutil.Process(server.pid).environ()
    assert seen["CRS_TEST_INHERITED"] == "from the parent"
    assert seen["CRS_TEST_OVERRIDDEN"] == "given"
    assert seen["CRS_TEST_ADDED"] == "given"


def test_env_without_inheriting_is_the_whole_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRS_TEST_LEFT_OUT", "from the parent")
    env = {name: value for name, value in os.environ.items() if name != "CRS_TEST_LEFT_OUT"}
    server = ServerProcess(tmp_path / "db.sqlite3", env=env, inherit_env=False)
    with server:
        seen = psutil.Process(server.pid).environ()
    assert "CRS_TEST_LEFT_OUT" not in seen
    assert seen["PATH"] == os.environ["PATH"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the port is reserved on Linux")
def test_the_port_stays_reserved_while_the_server_is_down(tmp_path: Path) -> None:
    """No other program can take the port between a stop (or a kill) and the next start."""
    with ServerProcess(tmp_path / "db.sqlite3") as server:
        port = server.port
        for end in (server.kill, server.stop):
            end()
            with pytest.raises(httpx.ConnectError):  # refused, as by any server that is down
                httpx.get(f"{server.base_url}/healthz")
            for host in ("127.0.0.1", "0.0.0.0"):  # noqa: S104 - a bind that must fail
                with socket.socket() as other, pytest.raises(OSError) as info:
                    other.bind((host, port))
                assert info.value.errno == errno.EADDRINUSE
            server.start()
            assert server.port == port
            assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        server.restart()
        assert (server.port, server.starts) == (port, 4)
    assert server._reservation is None  # released at the end of the block
