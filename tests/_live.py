"""A real mock server over a real socket (``python -m crs_mock serve``), for tests that need one."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class Server:
    """A ``crs-mock serve`` subprocess: its base URL and everything it printed so far."""

    process: subprocess.Popen[str]
    base_url: str
    output: list[str]
    client_id: str = "demo-agency"
    client_secret: str = field(default="demo-secret", repr=False)

    def env(self) -> dict[str, str]:
        """The ``CRS_*`` variables that point the SDK at this server."""
        return {
            "CRS_BASE_URL": self.base_url,
            "CRS_CLIENT_ID": self.client_id,
            "CRS_CLIENT_SECRET": self.client_secret,
        }


@contextmanager
def running_server(db: Path | str, *extra: str) -> Iterator[Server]:
    """Run ``crs-mock serve --port 0``; its base URL is read from the line it prints when ready."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            *(sys.executable, "-m", "crs_mock", "serve", "--port", "0", "--db", str(db)),
            *("--no-access-log", "--log-level", "warning", *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    base_url = None
    for line in process.stdout:
        output.append(line)
        if match := LISTENING.search(line):
            base_url = match.group(1)
            break
    if base_url is None:
        process.wait()
        msg = f"mock server exited before listening: {''.join(output)}"
        raise RuntimeError(msg)
    # Keep reading so the server never blocks on a full pipe.
    drain = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    drain.start()
    try:
        yield Server(process, base_url, output)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        drain.join(timeout=10)
        process.stdout.close()
