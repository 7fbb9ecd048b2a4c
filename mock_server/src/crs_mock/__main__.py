"""``crs-mock serve``: run the mock CRS platform with uvicorn.

The listening socket is bound before uvicorn starts, so ``--port 0`` works: the first line printed
is ``CRS mock server listening on http://HOST:PORT`` with the real port, printed once the app has
started (connections made after it are served). On SIGTERM or SIGINT the server shuts down
gracefully and closes the platform (database, evidence files) before uvicorn re-raises the signal,
so the exit status is that of the signal; with ``--stop-with-stdin`` the end of standard input does
the same (a parent holding the other end of a pipe takes the server with it however it ends). The
demo agency's secret is printed because it is the
mock's well-known test credential, not a secret; secrets given with ``--client`` are never printed.

A ``--db`` that cannot be used (a directory, a file that is not an SQLite database, a path in a
directory that does not exist or is not writable, an evidence directory ``<db>.blobs`` that cannot
be made) is an error of the command line: one line on standard error, ``crs-mock serve: error:
cannot use the database PATH: REASON``, and exit status 2, as argparse does for a wrong option.
The reason is worked out once opening the database failed, so a path that works is never refused;
a database another process keeps locked (for longer than SQLite's busy timeout) says so.
``--stop-with-stdin`` with a terminal for standard input is such an error too (status 2).
So is an address that cannot be listened on (a port in use, a host that does not resolve or is not
one of this machine's): ``crs-mock serve: error: cannot listen on HOST:PORT: REASON``, status 2. The
address is bound before the database is opened, so a port in use leaves no database behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sqlite3
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from crs_mock._app import create_app
from crs_mock._auth import DEFAULT_AGENCIES, MAX_TOKEN_TTL, check_credentials
from crs_mock._evidence_uploads import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_UPLOAD_SIZE,
    MAX_UPLOAD_SIZE_LIMIT,
)
from crs_mock._store import BUSY_TIMEOUT_MS
from crs_mock._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from starlette.applications import Starlette
    from starlette.types import Message, Receive, Scope, Send

__all__ = ["main"]

_N = TypeVar("_N", int, float)

DEFAULT_PORT = 8750
DEFAULT_DB = "crs-mock.sqlite3"


_MAX_PORT = 65535
#: uvicorn's log levels, most to least severe.
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _client(value: str) -> tuple[str, str]:
    client_id, colon, secret = value.partition(":")
    if not (client_id and colon and secret):
        raise argparse.ArgumentTypeError("expected CLIENT_ID:SECRET")
    try:
        check_credentials(client_id, secret)  # what the control API would refuse to seed
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return client_id, secret


def _port(value: str) -> int:
    number = _number(int, value, "an integer")
    if not 0 <= number <= _MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be 0 to {_MAX_PORT}, not {value!r}")
    return number


def _token_ttl(value: str) -> float:
    number = _number(float, value, "a number")
    if not 0 < number <= MAX_TOKEN_TTL:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_TOKEN_TTL:g} seconds, not {value!r}"
        )
    return number


def _idle_timeout(value: str) -> float:
    number = _number(float, value, "a number")
    if not number > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {value!r}")
    return number


def _number(kind: Callable[[str], _N], value: str, noun: str) -> _N:
    """``kind(value)``, or the option's error saying that it must be ``noun``."""
    try:
        return kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {noun}, not {value!r}") from None


_SIZE_UNITS = {"": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def _size(value: str) -> int:
    """Bytes: ``2147483648``, ``512MiB``, ``2GiB`` (binary units, case-insensitive)."""
    text = value.strip().lower()
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits) :].strip()
    if not digits.strip().isdigit() or unit not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError("expected bytes, optionally with KiB, MiB or GiB")
    size = int(digits) * _SIZE_UNITS[unit]
    if not 1 <= size <= MAX_UPLOAD_SIZE_LIMIT:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_UPLOAD_SIZE_LIMIT} bytes")
    return size


def _parser() -> argparse.ArgumentParser:
    # Options are spelled in full (no abbreviations): what a script or ServerProcess passes means
    # the same in every later version, and `--po` cannot slip past ServerProcess's own --port.
    parser = argparse.ArgumentParser(
        prog="crs-mock",
        description="A local mock of the CRS API, for development and CI only.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the mock server", allow_abbrev=False)
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port, 0 for any (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--db", default=DEFAULT_DB, help=f"SQLite file or :memory: (default ./{DEFAULT_DB})"
    )
    serve.add_argument(
        "--client",
        action="append",
        type=_client,
        metavar="ID:SECRET",
        help="an agency's OAuth client (repeatable; replaces the demo agency)",
    )
    serve.add_argument(
        "--token-ttl",
        type=_token_ttl,
        default=3600.0,
        help="access token lifetime in seconds (default 3600; at most ten years)",
    )
    serve.add_argument(
        "--max-upload-size",
        type=_size,
        default=DEFAULT_MAX_UPLOAD_SIZE,
        metavar="BYTES",
        help="largest evidence file accepted, e.g. 512MiB (default 2GiB)",
    )
    serve.add_argument(
        "--upload-idle-timeout",
        type=_idle_timeout,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="how long a PATCH body may go without a byte before the server stops waiting"
        f" (default {DEFAULT_IDLE_TIMEOUT:g}; inf for ever)",
    )
    serve.add_argument(
        "--allow-insecure-webhooks",
        action="store_true",
        help="accept plain http webhook URLs to any host (default: loopback hosts only)",
    )
    serve.add_argument(
        "--no-access-log", dest="access_log", action="store_false", help="no per-request log lines"
    )
    serve.add_argument(
        "--benchmark-sink",
        action="store_true",
        help="add PUT /_mock/bench/sink, a plain upload endpoint for the benchmarks",
    )
    serve.add_argument(
        "--stop-with-stdin",
        action="store_true",
        help="shut down as on SIGTERM when standard input (a pipe) ends, e.g. when the parent"
        " holding the pipe exits; no input at all (/dev/null) stops it at once",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=_LOG_LEVELS,
        help="uvicorn log level (default info)",
    )
    return parser


def _stop_when_input_ends() -> None:
    """Read standard input to its end, then stop the server the way SIGTERM does.

    The file descriptor is read directly: a thread blocked in ``sys.stdin`` would hold its
    buffer's lock, and an interpreter shutting down (after Ctrl-C) aborts on that lock. No input
    at all (``/dev/null``, a closed descriptor) is an end at once.
    """
    with contextlib.suppress(OSError):
        while os.read(_STDIN, _READ_SIZE):
            pass
    os.kill(os.getpid(), signal.SIGTERM)


def _agencies(clients: list[tuple[str, str]] | None) -> dict[str, str]:
    """The ``--client`` agencies (the demo agency without any); an agency given twice is an error
    of the command line: which secret was meant is anyone's guess."""
    if not clients:
        return dict(DEFAULT_AGENCIES)
    agencies: dict[str, str] = {}
    for client_id, secret in clients:
        if client_id in agencies:
            _fail(f"argument --client: {client_id!r} is given twice; give each agency once")
        agencies[client_id] = secret
    return agencies


def _check_stdin_for_stop() -> None:
    """``--stop-with-stdin`` on a terminal would wait for Ctrl-D (or suspend a background job):
    an error of the command line."""
    if os.isatty(_STDIN):
        _fail("--stop-with-stdin needs standard input to be a pipe, not a terminal")


def _fail(message: str) -> NoReturn:
    """End with an error of the command line: one line on standard error, status 2 (argparse's)."""
    sys.stderr.write(f"crs-mock serve: error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def _database_problem(db: str, error: sqlite3.Error | OSError) -> str:
    """Why `db` could not be used, in words (opening it raised `error`)."""
    problem = _path_problem(Path(db))
    if problem is not None:
        return problem
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
        return "the file is not an SQLite database"
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        seconds = BUSY_TIMEOUT_MS / 1000
        return (
            f"another process holds a lock on it (another crs-mock serve, or a program writing to "
            f"it) and still did after {seconds:g} s"
        )
    return str(error)


def _path_problem(path: Path) -> str | None:
    """What is wrong with the place of a database file, if anything."""
    folder = path.absolute().parent
    if path.is_dir():
        return "it is a directory"
    if not folder.exists():
        return f"the directory {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        # Even an existing database needs it: SQLite keeps its -wal and -shm files next to it.
        return f"the directory {folder} is not writable"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return "the file is not readable and writable"
    return None


_STDIN = 0

_READ_SIZE = 64 * 1024


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, or an error of the command line naming the address and the reason."""
    try:
        return _bind(host, port)
    except OSError as exc:
        shown_host = f"[{host}]" if ":" in host else host
        _fail(f"cannot listen on {shown_host}:{port}: {exc.strerror or exc}")


def _banner(sock: socket.socket, db: str, agencies: dict[str, str]) -> list[str]:
    """The lines printed once the app has started, the first one with the real port."""
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    lines = [f"CRS mock server listening on http://{shown_host}:{port}", f"State: {db}"]
    for client_id, secret in agencies.items():
        if DEFAULT_AGENCIES.get(client_id) == secret:
            # The demo secret is the mock's published test credential, safe to show.
            lines.append(f"Agency: client id {client_id!r}, secret {secret!r} (demo credential)")
        else:
            lines.append(f"Agency: client id {client_id!r} (secret as given)")
    lines.append("For development and testing only; this is not the real platform.")
    return lines


def _create_app(arguments: argparse.Namespace, agencies: dict[str, str]) -> Starlette:
    try:
        return create_app(
            db=arguments.db,
            agencies=agencies,
            token_ttl=arguments.token_ttl,
            max_upload_size=arguments.max_upload_size,
            upload_idle_timeout=arguments.upload_idle_timeout,
            allow_insecure_webhooks=arguments.allow_insecure_webhooks,
            benchmark_sink=arguments.benchmark_sink,
        )
    except (sqlite3.Error, OSError) as exc:
        problem = _database_problem(arguments.db, exc)
        _fail(f"cannot use the database {arguments.db}: {problem}")


def _open(
    arguments: argparse.Namespace, agencies: dict[str, str]
) -> tuple[socket.socket, Starlette]:
    """The listening socket, then the app (a port in use leaves no database behind)."""
    sock = _listen(arguments.host, arguments.port)
    try:
        return sock, _create_app(arguments, agencies)
    except BaseException:
        sock.close()
        raise


def serve(arguments: argparse.Namespace) -> None:
    import uvicorn

    from crs_mock._socket_faults import uvicorn_config

    if arguments.stop_with_stdin:
        _check_stdin_for_stop()
    agencies = _agencies(arguments.client)
    sock, app = _open(arguments, agencies)
    lines = _banner(sock, arguments.db, agencies)
    platform = app.state.mock
    closed = False

    def close_platform() -> None:
        nonlocal closed
        if not closed:
            closed = True
            platform.close()

    async def serving(scope: Scope, receive: Receive, send: Send) -> None:
        """The app, announcing itself once started and closing the platform at shutdown (after
        a signal, uvicorn re-raises it once shut down, and no ``finally`` below runs)."""
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_lifespan(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                sys.stdout.write("".join(f"{line}\n" for line in lines))
                sys.stdout.flush()
                if arguments.stop_with_stdin:  # uvicorn's signal handlers are in place by now
                    threading.Thread(
                        target=_stop_when_input_ends, name="crs-mock-stdin", daemon=True
                    ).start()
            elif message["type"] == "lifespan.shutdown.complete":
                close_platform()
            await send(message)

        await app(scope, receive, send_lifespan)

    config = uvicorn_config(
        serving, log_level=arguments.log_level, access_log=arguments.access_log, lifespan="on"
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        close_platform()


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    if arguments.command == "serve":
        serve(arguments)


if __name__ == "__main__":
    main()
