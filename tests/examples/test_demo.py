"""``examples/demo.py``, the README's main job (``nox -s demo``): it runs to a decision, and however
it ends it leaves no server running and, unless killed outright, no webhook endpoint behind."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crs_mock import ServerProcess
from crs_sdk import CRSClient

if TYPE_CHECKING:
    from collections.abc import Iterator

DEMO = Path(__file__).parents[2] / "examples" / "demo.py"
LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)(?: \(pid (\d+)\))?")


class Demo:
    """The demo in a child process, its output read line by line with a deadline."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and example
            # Unbuffered: the test reacts to lines as the demo prints them. Through a pipe Python
            # buffers its output, and the lines would arrive together when the demo ends.
            [sys.executable, "-u", str(DEMO)],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout or ():
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(f"the demo never printed {text!r}:\n{''.join(self.lines)}")

    def output(self) -> str:
        while (line := self._queue.get(timeout=30)) is not None:
            self.lines.append(line)
        return "".join(self.lines)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    started = Demo(tmp_path)
    try:
        yield started
    finally:
        if started.process.poll() is None:
            started.process.kill()
        started.process.wait(30)
        if started.process.stdout is not None:
            started.process.stdout.close()


def listening(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError:
        return False
    return True


def ended(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` (the demo's server: not our child, ``wait`` cannot reach it) has
    ended, waiting at most ``timeout`` seconds for it to.

    On Linux a pidfd becomes readable when the process ends: the wait is for that. Elsewhere it
    is a bounded poll of the process's existence, as there is nothing to wait on.
    """
    try:
        if not hasattr(os, "pidfd_open"):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # ProcessLookupError once it is gone
                time.sleep(0.1)  # the poll's interval
            os.kill(pid, 0)
            return False
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(readable)


def webhook_endpoints(db: Path) -> list[str]:
    with ServerProcess(db) as server, CRSClient(**server_credentials(server)) as client:
        return [endpoint.id for endpoint in client.webhook_endpoints.list()]


def server_credentials(server: ServerProcess) -> dict[str, str]:
    return {
        "base_url": server.base_url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
    }


def test_the_demo_runs_to_a_decision(demo: Demo, tmp_path: Path) -> None:
    assert demo.process.wait(180) == 0, demo.output()
    output = demo.output()
    assert f"State: {tmp_path / 'crs-mock.sqlite3'}" in output
    assert "Decision: partially_actioned" in output
    assert "9 of 9 delivery attempts succeeded" in output
    assert output.rstrip().endswith("Demo finished.")
    assert webhook_endpoints(tmp_path / "crs-mock.sqlite3") == []


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_stopped_demo_leaves_no_server_behind(
    demo: Demo, tmp_path: Path, how: signal.Signals
) -> None:
    found = LISTENING.search(demo.wait_for("listening on"))
    assert found is not None, demo.lines
    assert found.group(3) is not None, "the demo did not print its server's pid"
    address, server_pid = (found.group(1), int(found.group(2))), int(found.group(3))
    demo.wait_for("Registered webhook endpoint")

    demo.process.send_signal(how)
    status = demo.process.wait(60)
    assert status == (128 + how if how == signal.SIGTERM else -how), (status, demo.output())
    try:
        assert ended(server_pid, timeout=30), "the demo's mock server outlived it"
        assert not listening(address), "the demo's mock server's port is still open"
    finally:
        if not ended(server_pid, timeout=0):  # the demo's server: do not leave it running
            with contextlib.suppress(ProcessLookupError):
                os.kill(server_pid, signal.SIGKILL)
    if how == signal.SIGTERM:  # it cleaned up on its way out
        assert webhook_endpoints(tmp_path / "crs-mock.sqlite3") == [], demo.output()
