"""``crs-mock serve``: arguments, the printed start-up lines, state kept across restarts."""

from __future__ import annotations

import errno
import math
import os
import pty
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_mock import ServerProcess, create_app
from crs_mock.__main__ import _database_problem, _parser, main
from crs_mock._auth import MAX_TOKEN_TTL
from crs_mock._evidence_uploads import DEFAULT_IDLE_TIMEOUT, MAX_UPLOAD_SIZE_LIMIT

if TYPE_CHECKING:
    from collections.abc import Callable


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


def test_an_agency_given_twice_is_an_error_of_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two secrets for one client id: the last one used to win silently (and the banner named
    the agency once), so a typo in a CI script went unnoticed until authentication failed.
    Checked before the database is opened (the one here could not be)."""
    clients = ["--client", "unit-7:first", "--client", "unit-7:second"]
    db = tmp_path / "missing" / "db.sqlite3"
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--db", str(db), "--port", "0", *clients])
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "crs-mock serve: error: argument --client: 'unit-7' is given twice; give each agency once\n"
    )
    assert "second" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        # getaddrinfo takes a port modulo 65536: 65536 would listen on a random port.
        ("--port", "65536", "must be 0 to 65535"),
        ("--port", "99999", "must be 0 to 65535"),
        ("--port", "-1", "must be 0 to 65535"),
        ("--port", "http", "must be an integer, not 'http'"),
        ("--token-ttl", "an hour", "must be a number, not 'an hour'"),
        ("--token-ttl", "inf", "at most 3.1536e+08 seconds"),
        ("--token-ttl", "nan", "at most 3.1536e+08 seconds"),
        # The expiry in milliseconds would not fit an SQLite integer: every token a 500.
        ("--token-ttl", "1e17", "at most 3.1536e+08 seconds"),
        ("--max-upload-size", "9223372036854775808", "must be 1 to 9223372036854775807 bytes"),
        ("--max-upload-size", "99999999999GiB", "must be 1 to 9223372036854775807 bytes"),
        ("--log-level", "bogus", "invalid choice: 'bogus'"),
        ("--client", "unit 7\t:s3cret", "agency 'unit 7\\t': client_id: Must be a single line"),
        ("--client", "unit-7:" + "s" * 501, "client_secret: Must be at most 500 characters long"),
        ("--upload-idle-timeout", "0", "must be more than 0 seconds, not '0'"),
        ("--upload-idle-timeout", "nan", "must be more than 0 seconds, not 'nan'"),
        ("--upload-idle-timeout", "soon", "must be a number, not 'soon'"),
    ],
)
def test_values_the_server_cannot_use_are_errors_of_the_command_line(
    capsys: pytest.CaptureFixture[str], option: str, value: str, says: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(["serve", option, value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(f"crs-mock serve: error: argument {option}: ")
    assert says in error


@pytest.mark.parametrize("abbreviated", ["--po", "--max-upload", "--cl"])
def test_options_are_spelled_in_full(capsys: pytest.CaptureFixture[str], abbreviated: str) -> None:
    """An abbreviation would mean another option once a new one shares its prefix, and let
    ``--po`` past `ServerProcess`, which sets ``--port`` itself."""
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(["serve", abbreviated, "8000"])
    assert stopped.value.code == 2
    assert f"unrecognized arguments: {abbreviated} 8000" in capsys.readouterr().err


def test_the_limits_themselves_are_taken() -> None:
    arguments = _parser().parse_args(
        [
            "serve",
            *("--port", "65535", "--token-ttl", str(MAX_TOKEN_TTL), "--log-level", "WARNING"),
            *("--max-upload-size", str(MAX_UPLOAD_SIZE_LIMIT)),
        ]
    )
    assert (arguments.port, arguments.token_ttl) == (65535, MAX_TOKEN_TTL)
    assert (arguments.log_level, arguments.max_upload_size) == ("warning", MAX_UPLOAD_SIZE_LIMIT)


def test_upload_idle_timeout() -> None:
    assert _parser().parse_args(["serve"]).upload_idle_timeout == DEFAULT_IDLE_TIMEOUT == 30
    for value, seconds in (("0.25", 0.25), ("inf", math.inf)):
        arguments = _parser().parse_args(["serve", "--upload-idle-timeout", value])
        assert arguments.upload_idle_timeout == seconds


@pytest.mark.parametrize("seconds", [0, -1, math.nan])
def test_create_app_refuses_an_idle_timeout_that_is_no_wait(seconds: float) -> None:
    with pytest.raises(ValueError, match="idle_timeout must be more than 0 seconds"):
        create_app(upload_idle_timeout=seconds)


@pytest.mark.parametrize("token_ttl", [0, -1, math.inf, math.nan, MAX_TOKEN_TTL + 1])
def test_create_app_refuses_a_token_lifetime_it_cannot_keep(token_ttl: float) -> None:
    with pytest.raises(ValueError, match="token_ttl must be more than 0 and at most"):
        create_app(token_ttl=token_ttl)


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ({"max_upload_size": 0}, "max_size must be 1"),
        ({"upload_idle_timeout": 0}, "idle_timeout must be more than 0"),
        ({"token_ttl": 0}, "token_ttl must be more than 0"),
    ],
)
def test_a_refused_argument_leaves_an_existing_database_as_it_was(
    tmp_path: Path, option: dict[str, float], says: str
) -> None:
    """Configuring the agencies (here one that replaces the demo agency) ran before the upload
    limits were checked: a refused app retired the demo agency of a database it never served."""
    db = tmp_path / "state.sqlite3"
    create_app(db=db).state.mock.close()
    with pytest.raises(ValueError, match=says):
        create_app(db=db, agencies={"unit-7": "s3cret"}, **option)
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT id, configured, length(secret_hash) FROM agencies")
        assert sorted(rows) == [("demo-agency", 1, 32)]  # a retired agency's hash is empty
    finally:
        connection.close()


def test_a_refused_upload_limit_leaves_no_connection_open(tmp_path: Path) -> None:
    """The database was left open (its -wal and -shm files stayed until garbage collection)."""
    db = tmp_path / "state.sqlite3"
    with pytest.raises(ValueError, match="max_size must be 1"):
        create_app(db=db, max_upload_size=0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.sqlite3"]


@pytest.mark.parametrize("size", [0, MAX_UPLOAD_SIZE_LIMIT + 1])
def test_create_app_refuses_an_upload_size_it_cannot_store(size: int) -> None:
    with pytest.raises(ValueError, match="max_size must be 1 to 9223372036854775807 bytes"):
        create_app(max_upload_size=size)


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


def _serve(*extra: str, **popen: Any) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "crs_mock", "serve", "--port", "0", "--db", ":memory:"]
    return subprocess.Popen(  # noqa: S603 - this interpreter and our own module
        [*command, "--log-level", "warning", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


@pytest.mark.timeout(60)
def test_the_access_log_redacts_secrets_in_query_strings() -> None:
    """A client that puts its secret or token in the URL must not have it written to the log
    (the journal redacts them the same way)."""
    with _serve("--log-level", "info", "--stop-with-stdin", stdin=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        base_url = None
        while base_url is None:
            line = process.stdout.readline()
            assert line, "the server ended before it listened"
            if match := re.search(r"listening on (http://\S+)", line):
                base_url = match.group(1)
        query = "client_id=demo-agency&client_secret=hush-hush&grant_type=client_credentials"
        httpx.post(f"{base_url}/oauth/token?{query}")
        httpx.get(f"{base_url}/v1/reports?access_token=tok-hush&limit=5")
        process.stdin.close()  # the server stops
        output = process.stdout.read()
    assert "hush" not in output
    assert (
        '"POST /oauth/token?client_id=demo-agency&client_secret=%5Bredacted%5D'
        '&grant_type=client_credentials HTTP/1.1" 400' in output
    )
    assert '"GET /v1/reports?access_token=%5Bredacted%5D&limit=5 HTTP/1.1" 401' in output


def test_stop_with_stdin_and_no_input_at_all_stops_at_once() -> None:
    process = _serve("--stop-with-stdin", stdin=subprocess.DEVNULL)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGTERM  # a graceful shutdown, as on SIGTERM
    assert "listening on" in output


def test_stop_with_stdin_refuses_a_terminal() -> None:
    terminal, other_end = pty.openpty()
    try:
        process = _serve("--stop-with-stdin", stdin=other_end)
        output, _ = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(other_end)
    assert process.returncode == 2
    assert output == (
        "crs-mock serve: error: --stop-with-stdin needs standard input to be a pipe, not a "
        "terminal\n"
    )


def test_ctrl_c_while_waiting_for_the_end_of_input_is_a_clean_shutdown(tmp_path: Path) -> None:
    """The input is read from its file descriptor: a thread blocked in ``sys.stdin`` would make
    the interpreter abort at exit (a fatal error on the buffer's lock) after Ctrl-C."""
    with ServerProcess(tmp_path / "db.sqlite3") as server:
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        returncode = server._end(signal.SIGINT)
    # Killed by the re-raised SIGINT, or a normal exit where SIGINT is ignored (as under xdist).
    assert returncode in {-signal.SIGINT, 0}
    assert "Fatal Python error" not in "".join(server.output)
    assert not (tmp_path / "db.sqlite3-wal").exists()  # closed before the end


def _serve_db(db: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "crs_mock", "serve", "--port", "0", "--db", str(db)]
    return subprocess.run(  # noqa: S603 - this interpreter and our own module
        [*command, *options, "--log-level", "warning", "--stop-with-stdin"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda tmp: tmp, "it is a directory", id="a-directory"),
        pytest.param(
            lambda tmp: _written(tmp / "notes.txt", b"not a database\n" * 100),
            "the file is not an SQLite database",
            id="not-sqlite",
        ),
        pytest.param(
            lambda tmp: tmp / "missing" / "db.sqlite3",
            "the directory {tmp}/missing does not exist",
            id="no-such-directory",
        ),
        pytest.param(
            lambda tmp: _written(tmp / "file", b"") / "db.sqlite3",
            "{tmp}/file is not a directory",
            id="under-a-file",
        ),
        pytest.param(
            lambda tmp: _written(tmp / "db.sqlite3.blobs", b"") and tmp / "db.sqlite3",
            "Not a directory: {tmp}/db.sqlite3.blobs/uploads",
            id="evidence-directory-is-a-file",
        ),
    ],
)
def test_an_unusable_database_is_one_line_and_status_2(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    db = make(tmp_path)
    done = _serve_db(db)
    assert done.returncode == 2, done.stderr
    expected = f"crs-mock serve: error: cannot use the database {db}: " + reason.format(
        tmp=tmp_path
    )
    assert done.stderr == expected + "\n"
    assert done.stdout == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory")
def test_a_database_in_a_directory_that_is_not_writable(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        done = _serve_db(folder / "db.sqlite3")
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2
    assert done.stderr.endswith(f"the directory {folder} is not writable\n")


def test_the_reason_for_a_directory_that_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as the test above, where it cannot run (as root, every directory is writable)."""
    monkeypatch.setattr(os, "access", lambda path, _mode: Path(path) != tmp_path)
    error = sqlite3.OperationalError("unable to open database file")
    problem = _database_problem(str(tmp_path / "db.sqlite3"), error)
    assert problem == f"the directory {tmp_path} is not writable"
    monkeypatch.setattr(os, "access", lambda path, _mode: Path(path) == tmp_path)
    (tmp_path / "db.sqlite3").touch()
    problem = _database_problem(str(tmp_path / "db.sqlite3"), error)
    assert problem == "the file is not readable and writable"
    monkeypatch.setattr(os, "access", lambda _path, _mode: True)
    locked = sqlite3.OperationalError("database is locked")
    assert _database_problem(str(tmp_path / "db.sqlite3"), locked) == LOCKED


LOCKED = (
    "another process holds a lock on it (another crs-mock serve, or a program writing to it) and "
    "still did after 5 s"
)


@pytest.mark.timeout(60)
def test_a_locked_database_is_one_line_and_status_2(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    create_app(db=db).state.mock.close()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        done = _serve_db(db)
    finally:
        holder.close()
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"crs-mock serve: error: cannot use the database {db}: {LOCKED}\n"
    assert done.stdout == ""


def test_a_port_in_use_is_one_line_and_status_2(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve_db(db, "--host", "127.0.0.1", "--port", str(port))
    assert done.returncode == 2, done.stderr
    reason = os.strerror(errno.EADDRINUSE)
    assert done.stderr == f"crs-mock serve: error: cannot listen on 127.0.0.1:{port}: {reason}\n"
    assert done.stdout == ""
    assert not db.exists()  # the address is checked first: nothing was made


def _written(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path
