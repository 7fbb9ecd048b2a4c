"""A ``crs-mock serve`` subprocess on a SQLite file, and what the benchmarks ask of it.

The same approach as ``tests/_live.py`` (which benchmarks must not import): start the server on
port 0, read its base URL from the line it prints when ready, keep draining its output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

import crs_sdk

if TYPE_CHECKING:
    from collections.abc import Iterator

LISTENING = re.compile(r"listening on (http://\S+)")
CLIENT_ID = "demo-agency"
CLIENT_SECRET = "demo-secret"  # noqa: S105 - the mock server's published demo credential


@dataclass
class Server:
    """A running mock server: its process, base URL and everything it printed."""

    process: subprocess.Popen[str]
    base_url: str
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """The server's CPU time so far (user and system, every thread), in seconds."""
        return cpu_seconds(self.pid)

    def peak_rss(self) -> int:
        """The server's resident-set high-water mark (``VmHWM``), in bytes."""
        return vm_hwm(self.pid)

    def freeze_clock(self) -> None:
        """Stop the review simulation's clock, so no background review work skews a figure."""
        response = httpx.post(f"{self.base_url}/_mock/clock/freeze", timeout=30)
        response.raise_for_status()


@dataclass(frozen=True)
class StateDirs:
    """Where the servers keep their SQLite files and evidence bytes.

    ``disk`` is a temporary folder on the machine's default temporary file system; ``ram`` one on
    a RAM-backed file system (``/dev/shm``), or the same as ``disk`` where there is none. The
    SDK-versus-httpx figures use ``ram``: a disk flush takes milliseconds, varies from one to the
    next, and would drown the client's own costs that those figures are about (both sides talk to
    the same server, so a faster server makes the ratios stricter, not looser). The mock server's
    own figures use ``disk``.
    """

    disk: Path
    ram: Path

    @property
    def has_ram(self) -> bool:
        return self.ram != self.disk


RAM_FILE_SYSTEM = Path("/dev/shm")  # noqa: S108 - only temporary folders made with tempfile


def ram_parent() -> Path | None:
    """A RAM-backed folder to make temporary folders in, if the machine has one."""
    if RAM_FILE_SYSTEM.is_dir() and os.access(RAM_FILE_SYSTEM, os.W_OK):
        return RAM_FILE_SYSTEM
    return None


def vm_hwm(pid: int) -> int:
    """The ``VmHWM`` (peak resident set size) of a process, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far, all threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_server(db: Path, *extra: str) -> Iterator[Server]:
    """Run ``python -m crs_mock serve --port 0 --db DB``; stop it on exit."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "crs_mock", "serve", "--port", "0", "--db", str(db)),
            *("--no-access-log", "--log-level", "warning", *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if process.stdout is None:  # pragma: no cover - stdout=PIPE
        raise RuntimeError("no pipe to the server")
    output: list[str] = []
    base_url = None
    for line in process.stdout:
        output.append(line)
        if match := LISTENING.search(line):
            base_url = match.group(1)
            break
    if base_url is None:
        process.wait()
        raise RuntimeError(f"mock server exited before listening: {''.join(output)}")
    # Keep reading so the server never blocks on a full pipe.
    drain = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    drain.start()
    try:
        server = Server(process, base_url, output)
        server.freeze_clock()
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        drain.join(timeout=10)
        process.stdout.close()


def user_agent() -> str:
    """The SDK's ``User-Agent``, so that the raw httpx baselines send the same headers."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"crs-sdk/{crs_sdk.__version__} python/{python} httpx/{httpx.__version__}"


def fetch_token(base_url: str) -> str:
    """A bearer token for the demo agency, fetched the plain OAuth 2.0 way."""
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=30,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def raw_headers(token: str) -> dict[str, str]:
    """The headers the SDK sends with every API call: bearer token, accept and user agent."""
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": user_agent(),
    }
