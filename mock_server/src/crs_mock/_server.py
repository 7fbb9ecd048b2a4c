"""`ThreadedServer`: the mock app under uvicorn, on a loopback port, in a background thread.

For test suites that need a real socket (connection faults, clients that cannot take a transport)
without a subprocess: the app and its `MockPlatform` live in the test's process, so the test drives
them through the Python API while clients talk HTTP. The server uses `FaultableH11Protocol`, so
connection faults reset or close the real socket.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from crs_mock._socket_faults import uvicorn_config

if TYPE_CHECKING:
    from types import TracebackType

    from starlette.applications import Starlette
    from typing_extensions import Self

__all__ = ["ThreadedServer"]

_START_TIMEOUT = 30.0


class ThreadedServer:
    """Serve `app` on ``127.0.0.1`` (an ephemeral port by default) until `stop` (or the block ends).

    .. versionadded:: 0.1.0
    """

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(128)
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        config = uvicorn_config(app, lifespan="on", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> Self:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:  # uvicorn offers a flag, not an event
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError("the mock server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (open connections are closed) and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(_START_TIMEOUT)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
