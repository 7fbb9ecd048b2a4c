"""What the reliability suite shares: a mock server process it can kill and restart on the same
port, read-only looks at that server's SQLite file, and the figures each check reports."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from typing_extensions import Self

LISTENING = re.compile(r"listening on http://[^:\s]+:(\d+)")
DEMO = ("demo-agency", "demo-secret")

#: Where each check's figures are kept until the terminal summary prints them.
FIGURES_KEY = pytest.StashKey[dict[str, "Figures"]]()

#: Tables whose rows are the platform's state; the journal, fault counters, tokens and the clock
#: record traffic rather than state, and change with every request by design.
STATE_TABLES = (
    "agencies",
    "reports",
    "events",
    "review_jobs",
    "idempotency_records",
    "uploads",
    "evidence",
    "webhook_endpoints",
    "webhook_messages",
    "webhook_deliveries",
)


class ServerProcess:
    """``crs-mock serve`` on a SQLite file, killable (SIGKILL) and restartable on the same port.

    The first start binds ``--port 0``; every restart binds the port it got. Readiness is the line
    the server prints once its socket listens (connections made before uvicorn accepts are queued).
    """

    def __init__(self, db: Path, *extra: str) -> None:
        self.db = db
        self.extra = extra
        self.port = 0
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.starts = 0
        self._drain: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            *(sys.executable, "-m", "crs_mock", "serve", "--host", "127.0.0.1"),
            *("--port", str(self.port), "--db", str(self.db), "--no-access-log"),
            *("--log-level", "warning", *self.extra),
        ]
        # The server need not pay for the test process's allocation tracing, if any.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONTRACEMALLOC"}
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            if match := LISTENING.search(line):
                self.port = int(match.group(1))
                break
        else:
            process.wait()
            process.stdout.close()
            raise RuntimeError(f"mock server exited before listening: {''.join(self.output)}")
        self.process = process
        self.starts += 1
        self._drain = threading.Thread(
            target=lambda: self.output.extend(process.stdout or ()), daemon=True
        )
        self._drain.start()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, the way a machine or an OOM killer stops it."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def restart(self) -> None:
        self.start()

    def _end(self, how: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(how)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._drain is not None:
            self._drain.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def access_token(base_url: str, client: tuple[str, str] = DEMO) -> str:
    response = httpx.post(
        f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=client
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@contextmanager
def read_only(db: Path) -> Iterator[sqlite3.Connection]:
    """The server's database, opened read-only (safe while it runs: WAL readers never block)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as connection:
        connection.row_factory = sqlite3.Row
        yield connection


def rows(db: Path, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
    with read_only(db) as connection:
        return connection.execute(sql, parameters).fetchall()


@dataclass(frozen=True)
class Snapshot:
    """A digest of every state table and the head of the event log: equal snapshots, same state."""

    counts: dict[str, int]
    digests: dict[str, str]
    event_head: int

    @classmethod
    def take(cls, db: Path) -> Snapshot:
        counts: dict[str, int] = {}
        digests: dict[str, str] = {}
        with read_only(db) as connection:
            for table in STATE_TABLES:
                found = connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
                counts[table] = len(found)
                text = json.dumps([list(row) for row in found], default=repr, sort_keys=True)
                digests[table] = hashlib.sha256(text.encode()).hexdigest()
            head = connection.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        return cls(counts, digests, int(head))

    def changes(self, other: Snapshot) -> list[str]:
        """The tables (and the event head) that differ, empty when nothing changed."""
        changed = [t for t in STATE_TABLES if self.digests[t] != other.digests[t]]
        if self.event_head != other.event_head:
            changed.append(f"event head {self.event_head} -> {other.event_head}")
        return changed


@dataclass
class Figures:
    """One check's figures, printed as one line at the end of the session."""

    name: str
    values: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.name}: " + ", ".join(f"{key} {value}" for key, value in self.values.items())
