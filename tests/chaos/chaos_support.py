"""What the reliability suite shares: a mock server process it can kill and restart on the same
port, read-only looks at that server's SQLite file, and the figures each check reports."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import crs_mock

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path


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


class ServerProcess(crs_mock.ServerProcess):
    """`crs_mock.ServerProcess` on a SQLite file, without the test process's allocation tracing
    (``PYTHONTRACEMALLOC``): the server need not pay for it."""

    def __init__(self, db: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONTRACEMALLOC"}
        super().__init__(db, *args, env=env, inherit_env=False)
        self.db: Path = db


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
