"""A ``crs-mock serve`` subprocess on a SQLite file (`crs_mock.ServerProcess`), and what the
benchmarks ask of it."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

import crs_sdk
from crs_mock import ServerProcess

if TYPE_CHECKING:
    from collections.abc import Iterator

CLIENT_ID = "demo-agency"
CLIENT_SECRET = "demo-secret"  # noqa: S105 - the mock server's published demo credential


@dataclass
class Server:
    """A running mock server: its process (with everything it printed) and base URL."""

    process: ServerProcess

    @property
    def base_url(self) -> str:
        return self.process.base_url

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
    """Run ``python -m crs_mock serve --port 0 --db DB`` with its clock frozen; stop it on exit."""
    with ServerProcess(db, *extra) as process:
        server = Server(process)
        server.freeze_clock()
        yield server


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
