"""SQLite persistence: the schema, and transactions that commit before anything is acknowledged.

One connection, guarded by a lock, in autocommit mode with explicit ``BEGIN IMMEDIATE`` /
``COMMIT``: a handler's state change, its events and its idempotency record are written in one
transaction, and the response is sent only after `Store.transaction` has returned (that is, after
``COMMIT``). A file database runs in WAL mode with ``synchronous=FULL`` so a commit is on disk
before it is acknowledged; ``:memory:`` is for tests.

Each module owns the SQL of its tables; this one owns their DDL, in numbered migrations, so later
features (evidence, uploads, webhooks, fault rules, the request journal) add a migration instead of
rebuilding the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

__all__ = ["BUSY_TIMEOUT_MS", "Store", "Transaction"]

#: How long a statement waits for another connection's lock on a database file before it fails
#: with "database is locked" (SQLite's busy timeout).
BUSY_TIMEOUT_MS = 5000

_MIGRATIONS: Sequence[str] = (
    # 1: agencies, tokens, reports, events, review jobs, idempotency records, settings.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE agencies (
        id TEXT PRIMARY KEY,
        secret_salt BLOB NOT NULL,
        secret_hash BLOB NOT NULL,
        configured INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        agency_id TEXT NOT NULL REFERENCES agencies (id) ON DELETE CASCADE,
        scope TEXT,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE reports (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agency_id TEXT NOT NULL,
        client_reference TEXT NOT NULL,
        status TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        info_requests INTEGER NOT NULL DEFAULT 0,
        document TEXT NOT NULL,
        UNIQUE (agency_id, client_reference)
    );
    CREATE INDEX reports_by_agency ON reports (agency_id, seq);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        agency_id TEXT NOT NULL,
        type TEXT NOT NULL,
        report_id TEXT,
        at_ms INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_by_agency ON events (agency_id, seq);
    CREATE INDEX events_by_report ON events (report_id);
    CREATE TABLE review_jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        report_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        due_ms INTEGER NOT NULL
    );
    CREATE INDEX review_jobs_by_due ON review_jobs (due_ms, seq);
    CREATE INDEX review_jobs_by_report ON review_jobs (report_id);
    CREATE TABLE idempotency_records (
        agency_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (agency_id, key)
    );
    CREATE INDEX idempotency_records_by_age ON idempotency_records (created_ms);
    """,
    # 2: evidence and tus uploads.
    """
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        agency_id TEXT NOT NULL,
        report_id TEXT NOT NULL,
        length INTEGER NOT NULL,
        received INTEGER NOT NULL,
        metadata_header TEXT NOT NULL,
        metadata TEXT NOT NULL,
        state TEXT NOT NULL,
        failure TEXT,
        evidence_id TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX uploads_by_report ON uploads (report_id, state);
    CREATE INDEX uploads_by_state ON uploads (state, expires_ms);
    CREATE TABLE evidence (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agency_id TEXT NOT NULL,
        report_id TEXT NOT NULL,
        upload_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        info_request_id TEXT,
        received_ms INTEGER NOT NULL,
        document TEXT NOT NULL,
        UNIQUE (report_id, sha256)
    );
    CREATE INDEX evidence_by_report ON evidence (report_id, seq);
    CREATE INDEX evidence_by_sha256 ON evidence (sha256);
    """,
    # 3: webhook endpoints, secrets and deliveries.
    """
    CREATE TABLE webhook_endpoints (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agency_id TEXT NOT NULL,
        url TEXT NOT NULL,
        event_types TEXT NOT NULL,
        description TEXT,
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        created_ms INTEGER NOT NULL,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        rotation_ends_ms INTEGER
    );
    CREATE INDEX webhook_endpoints_by_agency ON webhook_endpoints (agency_id, seq);
    CREATE TABLE webhook_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id TEXT NOT NULL UNIQUE,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX webhook_messages_by_endpoint ON webhook_messages (endpoint_id);
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        message_seq INTEGER NOT NULL REFERENCES webhook_messages (seq) ON DELETE CASCADE,
        endpoint_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        status_code INTEGER,
        duration_ms INTEGER,
        error TEXT,
        attempted_ms INTEGER NOT NULL,
        next_attempt_ms INTEGER
    );
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);
    CREATE INDEX webhook_deliveries_by_message ON webhook_deliveries (message_seq);
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (attempted_ms)
        WHERE status = 'pending';
    """,
    # 4: fault rules and the request journal.
    """
    CREATE TABLE fault_rules (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agency_id TEXT,
        spec TEXT NOT NULL,
        matches INTEGER NOT NULL DEFAULT 0,
        hits INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        agency_id TEXT,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        operation_id TEXT,
        status_code INTEGER,
        received_ms INTEGER NOT NULL,
        entry TEXT NOT NULL
    );
    CREATE INDEX journal_by_agency ON journal (agency_id, seq);
    """,
)

#: Tables emptied by a full reset (agencies and tokens are handled by the caller).
STATE_TABLES = (
    "reports",
    "events",
    "review_jobs",
    "idempotency_records",
    "webhook_deliveries",
    "webhook_messages",
    "webhook_endpoints",
    "uploads",
    "evidence",
)


class Transaction:
    """An open ``BEGIN IMMEDIATE`` transaction; `after_commit` callbacks run once it committed."""

    def __init__(self, connection: sqlite3.Connection, store: Store) -> None:
        self._connection = connection
        self.store = store
        self._after_commit: list[Callable[[], None]] = []
        self._savepoints = 0

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, parameters)

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._connection.execute(sql, parameters).fetchone()
        return row

    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self._connection.execute(sql, parameters).fetchall())

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction has committed (never if it rolls back)."""
        self._after_commit.append(callback)

    def run_after_commit(self) -> None:
        """Run the after-commit callbacks (the store calls this right after ``COMMIT``)."""
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo what the block wrote if it raises, keeping the rest of the transaction."""
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.execute(f"ROLLBACK TO {name}")
            self.execute(f"RELEASE {name}")
            raise
        self.execute(f"RELEASE {name}")

    def get_meta(self, key: str) -> Any:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )


class Store:
    """The mock's database. `transaction()` is the only way to read or write it."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self.lock = threading.RLock()
        #: Called after a commit that queued webhook deliveries (wakes the delivery worker).
        self.outbox_wakers: list[Callable[[], None]] = []
        self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._connection.row_factory = sqlite3.Row
        self._connection.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = FULL")
            self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._migrate()

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Transaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` if the block raises), under the lock.

        A commit is synced to the disk before it returns (``synchronous = FULL``), so what it
        acknowledged survives a power cut. With ``durable=False`` it is not (``NORMAL``): it still
        survives the process being killed, and the next durable commit syncs it too. For
        records that are not platform state, such as the request journal.
        """
        with self.lock:
            relaxed = not durable and self.path != ":memory:"
            if relaxed:
                self._connection.execute("PRAGMA synchronous = NORMAL")
            try:
                transaction = Transaction(self._connection, self)
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    yield transaction
                except BaseException:
                    self._connection.execute("ROLLBACK")
                    raise
                self._connection.execute("COMMIT")
            finally:
                if relaxed:
                    self._connection.execute("PRAGMA synchronous = FULL")
        transaction.run_after_commit()

    def close(self) -> None:
        with self.lock:
            self._connection.close()

    def _migrate(self) -> None:
        with self.lock:
            version: int = self._connection.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                # executescript commits on its own; the version bump is part of the script.
                self._connection.executescript(
                    f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;"
                )
