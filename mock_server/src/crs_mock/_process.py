"""`ServerProcess`: ``crs-mock serve`` in a child process, that a test can stop, kill and restart.

`ThreadedServer` runs the app in the test's own process; this runs it in its own, so a test can do
to it what happens to a real server: stop it (SIGTERM), kill it (SIGKILL: no shutdown, no flush),
start it again on the same port and database, and check that the client carried on. The process
is this interpreter running ``-m crs_mock serve``; it is ready when it prints the line
``CRS mock server listening on http://HOST:PORT``, which it does once the app has started.
Everything it prints is kept in `output`. A server still running when this process exits
normally is stopped then (SIGTERM; SIGKILL after 10 s). The server's standard input is a pipe
from this process (``--stop-with-stdin``): should this process end without cleaning up
(``os._exit``, a SIGKILL, a crash), the pipe closes and the server shuts down by itself instead of
holding its port, unless a child forked from this process (without ``exec``) still holds the
pipe: then the server ends with that child.

The port. A restart must come back on the port clients know, but a port is free while the server
is down, and the kernel hands free ports out: to another program binding port 0, or as the local
port of any outgoing connection. On Linux, this process therefore reserves the port from the first
start until `ServerProcess.close` (the end of the ``with`` block): a socket bound to it, with
``SO_REUSEADDR``, that never listens. The kernel hands such a port out to no one, and another
program's bind of it fails (``EADDRINUSE``; unless that program sets ``SO_REUSEADDR`` as well),
but the server, which binds with ``SO_REUSEADDR``, can bind and listen on it. While the server is
down, connections are refused as by any stopped server (nothing listens). Elsewhere (macOS,
Windows: ``SO_REUSEADDR`` means other things there) nothing is reserved, and a restart fails
should another program take the port meanwhile.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["ServerProcess"]

_LISTENING = re.compile(r"listening on (http://\S+)")
#: Options `ServerProcess` sets itself (from `port` and `db`): not to be passed in `args`.
_OWN_OPTIONS = frozenset({"--port", "--db"})
#: What a client connects to when the server listens on every interface.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}  # noqa: S104 - a comparison, not a bind


class ServerProcess:
    """``crs-mock serve --db DB`` in a child process, on a loopback port.

    Args:
        db: The SQLite file (kept across restarts, so state survives them; a relative path is
            taken from the current directory now, not at each start). ``:memory:`` works, but
            each start begins empty.
        args: More ``crs-mock serve`` options (``--client``, ``--host``, ``--benchmark-sink``,
            ...); not ``--port`` or ``--db`` (`ValueError`: pass `port` and `db`).
        port: The port; ``0`` (the default) takes a free one on the first start, and every
            restart binds the same one again. On Linux it is reserved for this object from the
            first start until `close` (the end of the ``with`` block), so no other program can
            take it while the server is stopped or killed; elsewhere, should another program take
            it meanwhile, the restart fails (see the module documentation).
        env: Variables added to this process's environment (`os.environ` as it is at each
            start) for the child, overriding those of the same name.
        inherit_env: With `False`, `env` is the child's whole environment instead (no variable
            of this process is passed on; none at all without `env`), as
            ``subprocess.Popen(env=...)`` takes it: to leave a variable out, pass
            ``{k: v for k, v in os.environ.items() if k != NAME}``.
        start_timeout: Seconds to wait for the server to be ready.
        client_id: The agency `env` points the SDK at: the demo agency by default (pass the one
            given with ``--client`` if you replaced it).
        client_secret: Its secret (never shown in ``repr()``).

    Use it as a context manager (started on entry, closed on exit) or call `start`, `stop` and,
    once done with it, `close`.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        db: str | Path,
        *args: str,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        start_timeout: float = 60.0,
        client_id: str = "demo-agency",
        client_secret: str = "demo-secret",  # noqa: S107 - the mock's published demo credential
    ) -> None:
        taken = [arg for arg in args if arg.split("=", 1)[0] in _OWN_OPTIONS]
        if taken:
            # The server would listen or keep its state elsewhere than `port`, `db` and
            # `base_url` say, and a restart would not come back where clients expect it.
            raise ValueError(f"{taken[0]}: pass the port and database as port= and db=")
        self.db: str | Path = db if str(db) == ":memory:" else Path(db).resolve()
        self.client_id = client_id
        self.client_secret = client_secret
        self.args: Sequence[str] = args
        self.port = port
        self.start_timeout = start_timeout
        self._env = dict(env or {})
        self.inherit_env = inherit_env
        #: Every line the server printed, across restarts.
        self.output: list[str] = []
        #: How many times the server was started.
        self.starts = 0
        self._url: str | None = None
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[str]], ServerProcess] | None = None
        #: The bound, non-listening socket that holds `port` between starts (Linux), or None.
        self._reservation: socket.socket | None = None
        self._reservation_finalizer: weakref.finalize[[], ServerProcess] | None = None
        #: The exit status of the last server process that ended (``-15`` after `stop`: the
        #: server shuts down cleanly, then ends by the signal), or None.
        self.returncode: int | None = None

    @property
    def base_url(self) -> str:
        """The URL the server printed (``http://127.0.0.1:PORT`` by default; a wildcard host is
        given as its loopback address). Known once the server was started."""
        if self._url is None:
            raise RuntimeError("the server has not been started yet")
        return self._url

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def env(self) -> dict[str, str]:
        """The ``CRS_*`` variables that point the SDK at this server, as `client_id`."""
        return {
            "CRS_BASE_URL": self.base_url,
            "CRS_CLIENT_ID": self.client_id,
            "CRS_CLIENT_SECRET": self.client_secret,
        }

    def start(self) -> None:
        """Start the server and wait until it listens.

        A first start that fails gives up the port it reserved; a restart that fails keeps it.

        Raises:
            RuntimeError: it is already running, or it exited or stayed silent for
                ``start_timeout`` seconds before listening (its output is in the message).
        """
        if self.running:
            raise RuntimeError("the server is already running")
        self._end(signal.SIGKILL)  # one that ended by itself: collect it
        first = self._reservation is None
        if first:
            self._reserve()
        try:
            self._launch()
        except BaseException:
            if first:  # a server that never listened gives its port up again
                self.close()
            raise

    def _launch(self) -> None:
        command = [
            *(sys.executable, "-m", "crs_mock", "serve", "--host", "127.0.0.1"),
            *("--port", str(self.port), "--db", str(self.db)),
            *("--no-access-log", "--log-level", "warning", "--stop-with-stdin", *self.args),
        ]
        process = subprocess.Popen(  # noqa: S603 - this interpreter and our own module
            command,
            stdin=subprocess.PIPE,  # never written: it closes when this process ends
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **self._env} if self.inherit_env else dict(self._env),
        )
        listening = threading.Event()
        found: list[str] = []

        def read() -> None:  # keeps reading, so the server never blocks on a full pipe
            for line in process.stdout or ():
                self.output.append(line)
                if not found and (match := _LISTENING.search(line)):
                    found.append(match.group(1))
                    listening.set()
            listening.set()  # the pipe closed: the process ended

        reader = threading.Thread(target=read, name="crs-mock-process-output", daemon=True)
        reader.start()
        self._process, self._reader = process, reader
        self._finalizer = weakref.finalize(self, _stop, process)
        if not listening.wait(self.start_timeout) or not found or process.poll() is not None:
            self._end(signal.SIGKILL)
            output = "".join(self.output[-50:])
            raise RuntimeError(f"the mock server did not start listening:\n{output}")
        scheme, _, address = found[0].partition("://")
        host, _, port = address.rpartition(":")
        self._url = f"{scheme}://{_WILDCARDS.get(host, host)}:{port}"
        self.port = int(port)
        self.starts += 1

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, the way a service manager stops it: a graceful shutdown that closes the
        database. After ``timeout`` seconds, SIGKILL. Returns the exit status (`returncode`)."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        """SIGKILL: no shutdown, no flush, the way a crash or the OOM killer stops it. Returns
        the exit status (`returncode`)."""
        return self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Stop the server if it runs, then start it again on the same port and database."""
        self.stop()
        self.start()

    def close(self) -> None:
        """`stop` the server if it runs, and give up its port (see `port`). `start` may still be
        called: it binds the same port again, if it is still free."""
        self.stop()
        reservation, self._reservation = self._reservation, None
        if self._reservation_finalizer is not None:
            self._reservation_finalizer.detach()
            self._reservation_finalizer = None
        if reservation is not None:
            reservation.close()

    def _reserve(self) -> None:
        reservation = _reserve(_host(self.args), self.port)
        if reservation is not None:
            self._reservation = reservation
            self._reservation_finalizer = weakref.finalize(self, reservation.close)
            self.port = reservation.getsockname()[1]

    def _end(self, how: signal.Signals, timeout: float = 20.0) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return self.returncode
        if self._finalizer is not None:
            self._finalizer.detach()
        _signal(process, how, timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        self.returncode = process.returncode
        return self.returncode

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ServerProcess {state} port={self.port} db={os.fspath(self.db)!r}>"


def _host(args: Sequence[str]) -> str:
    """The ``--host`` the server binds: the last one in `args` (as argparse takes it), else ours."""
    host = "127.0.0.1"
    for index, arg in enumerate(args):
        if arg == "--host" and index + 1 < len(args):
            host = args[index + 1]
        elif arg.startswith("--host="):
            host = arg.partition("=")[2]
    return host


def _reserve(host: str, port: int) -> socket.socket | None:
    """A socket bound to `port` (a free one for 0) that never listens, or None: not on Linux, or
    the port cannot be bound (the server will say why when it tries)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        reservation = socket.socket(family, kind, proto)
    except OSError:
        return None
    try:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reservation.bind(address)
    except OSError:
        reservation.close()
        return None
    return reservation


def _signal(process: subprocess.Popen[str], how: signal.Signals, timeout: float) -> None:
    """Send ``how`` and wait for the end; SIGKILL after ``timeout`` seconds. Close its input."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdin is not None:
        process.stdin.close()


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop a server that outlived its `ServerProcess` (at interpreter exit, or collected)."""
    _signal(process, signal.SIGTERM, 10.0)
