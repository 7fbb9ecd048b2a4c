"""A real mock server over a real socket, for tests that need the network."""

from __future__ import annotations


import re
import subprocess
import sys
from pathlib import Path

import attrs

LISTENING = re.compile(r"listening on (http://\S+)")


@attrs.frozen
class LiveServer:
    """A ``crs-mock serve`` subprocess on an ephemeral loopback port."""

    base_url: str
    client_id: str = "demo-agency"
    client_secret: str = attrs.field(default="demo-secret", repr=False)

    def env(self) -> dict[str, str]:
        """The ``CRS_*`` variables that point the SDK at this server."""
        return {
            "CRS_BASE_URL": self.base_url,
            "CRS_CLIENT_ID": self.client_id,
            "CRS_CLIENT_SECRET": self.client_secret,
        }


def start_server(db: Path | str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m crs_mock serve`` and return it with its base URL, read from its output."""
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "crs_mock", "serve", "--port", "0", "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if match := LISTENING.search(line):
            return process, match.group(1)
    process.wait()
    msg = f"mock server exited before listening: {''.join(seen)}"
    raise RuntimeError(msg)


def stop_server(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
