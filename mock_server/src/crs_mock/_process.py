"""`ServerProcess`: ``crs-mock serve`` in a child process, that a test can stop, kill and restart.

`ThreadedServer` runs the app in the test's own process; this runs it in its own, so a test can do
to it what happens to a real server: stop it (SIGTERM), kill it (SIGKILL: no shutdown, no flush),
start it again on the same port and database, and check that the client carried on. The process
is this interpreter running ``-m crs_mock serve``; it is ready when it prints the line
``CRS mock server listening on http://HOST:PORT`` (its socket is bound before that, so nothing
sent afterwards is refused). Everything it prints is kept in `output`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["ServerProcess"]

_LISTENING = re.compile(r"listening on (http://\S+)")


class ServerProcess:
    """``crs-mock serve --db DB`` in a child process, on a loopback port.

    Args:
        db: The SQLite file (kept across restarts, so state survives them).
        args: More ``crs-mock serve`` options (``--agency``, ``--benchmark-sink``, ...).
        port: The port; ``0`` (the default) takes a free one on the first start, and every
            restart binds the same one again.
        env: The child's environment (default: this process's).
        start_timeout: Seconds to wait for the server to be ready.
        client_id: The agency `env` points the SDK at: the demo agency by default (pass the one
            given with ``--client`` if you replaced it).
        client_secret: Its secret (never shown in ``repr()``).

    Use it as a context manager (started on entry, stopped on exit) or call `start` and `stop`.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        db: str | Path,
        *args: str,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        client_id: str = "demo-agency",
        client_secret: str = "demo-secret",  # noqa: S107 - the mock's published demo credential
    ) -> None:
        self.db = db
        self.client_id = client_id
        self.client_secret = client_secret
        self.args: Sequence[str] = args
        self.port = port
        self.start_timeout = start_timeout
        self._env = dict(env) if env is not None else None
        #: Every line the server printed, across restarts.
        self.output: list[str] = []
        #: How many times the server was started.
        self.starts = 0
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (known once the server was started)."""
        if not self.port:
            raise RuntimeError("the server has not been started yet")
        return f"http://127.0.0.1:{self.port}"

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

        Raises:
            RuntimeError: it is already running, or it exited or stayed silent for
                ``start_timeout`` seconds before listening (its output is in the message).
        """
        if self.running:
            raise RuntimeError("the server is already running")
        command = [
            *(sys.executable, "-m", "crs_mock", "serve", "--host", "127.0.0.1"),
            *("--port", str(self.port), "--db", str(self.db)),
            *("--no-access-log", "--log-level", "warning", *self.args),
        ]
        process = subprocess.Popen(  # noqa: S603 - this interpreter and our own module
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self._env,
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
        if not listening.wait(self.start_timeout) or not found:
            self._end(signal.SIGKILL)
            output = "".join(self.output[-50:])
            raise RuntimeError(f"the mock server did not start listening:\n{output}")
        self.port = int(found[0].rsplit(":", 1)[1])
        self.starts += 1

    def stop(self) -> None:
        """SIGTERM, the way a service manager stops it (a clean shutdown); SIGKILL after 20 s."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, the way a crash or the OOM killer stops it."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Stop the server if it runs, then start it again on the same port and database."""
        self.stop()
        self.start()

    def _end(self, how: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(how)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ServerProcess {state} port={self.port} db={os.fspath(self.db)!r}>"
