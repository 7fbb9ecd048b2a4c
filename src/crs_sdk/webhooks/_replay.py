"""Replay protection: remembering which ``webhook-id`` values were already accepted.

Why the default TTL is what it is: see "Replay protection" in :mod:`crs_sdk.webhooks`.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import sqlite3
import threading
import time
import weakref
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "DEFAULT_REPLAY_TTL",
    "DEFAULT_TOLERANCE",
    "MemoryReplayGuard",
    "ReplayGuard",
    "SQLiteReplayGuard",
    "duration",
]

DEFAULT_TOLERANCE: Final = timedelta(minutes=5)
_CLOCK_SKEW_MARGIN: Final = timedelta(minutes=1)
DEFAULT_REPLAY_TTL: Final = 2 * DEFAULT_TOLERANCE + _CLOCK_SKEW_MARGIN
_WAL_RETRY_PAUSE: Final = 0.01


@runtime_checkable
class ReplayGuard(Protocol):
    """Remembers accepted ``webhook-id`` values for a while.

    Implementations must make :meth:`seen` atomic: of several concurrent calls with the same id,
    exactly one returns ``False``.
    """

    def seen(self, webhook_id: str, now: datetime) -> bool:
        """Return ``True`` if ``webhook_id`` was recorded and has not expired at ``now``; otherwise
        record it (until ``now + ttl``) and return ``False``."""
        ...

    def forget(self, webhook_id: str) -> None:
        """Drop ``webhook_id``, so that its next delivery is accepted again.

        Called when a delivery was verified but not processed (its body did not parse, or the
        handler failed), so the sender's retry is not mistaken for a replay.
        """
        ...


def duration(value: timedelta | float, name: str) -> timedelta:
    """``value`` (a `timedelta`, or seconds) as a `timedelta`.

    Raises:
        TypeError: ``value`` is neither a `timedelta` nor a number.
        ValueError: ``value`` is ``nan``, infinite, or beyond what a `timedelta` holds; the
            message names ``name``.
    """
    if isinstance(value, timedelta):
        return value
    given: object = value  # what the caller passed, whatever its annotation says
    if not isinstance(given, (int, float)) or isinstance(given, bool):
        raise TypeError(f"{name} must be a timedelta or seconds, not {type(given).__name__}")
    try:
        return timedelta(seconds=value)
    except (ValueError, OverflowError):  # nan, infinite, more than 999,999,999 days
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}") from None


def _check_ttl(ttl: timedelta | float) -> timedelta:
    value = duration(ttl, "replay guard ttl")
    if value <= timedelta(0):
        raise ValueError("replay guard ttl must be positive")
    return value


class MemoryReplayGuard:
    """A :class:`ReplayGuard` in this process's memory; thread-safe.

    Expired ids are purged on every call, so memory holds at most the ids accepted during one
    ``ttl``. Use :class:`SQLiteReplayGuard` when several processes receive webhooks.

    Args:
        ttl: How long an id is remembered (a :class:`~datetime.timedelta` or seconds). The default,
            ``2 x tolerance + 1 min`` for the default tolerance, is explained under "Replay
            protection" in :mod:`crs_sdk.webhooks`.
    """

    def __init__(self, ttl: timedelta | float = DEFAULT_REPLAY_TTL) -> None:
        self._ttl = _check_ttl(ttl)
        self._lock = threading.Lock()
        self._expiry: dict[str, datetime] = {}
        self._queue: list[tuple[datetime, str]] = []

    @property
    def ttl(self) -> timedelta:
        """How long an accepted id is remembered."""
        return self._ttl

    def __repr__(self) -> str:
        return f"MemoryReplayGuard(ttl={self._ttl!r}, ids={len(self._expiry)})"

    def seen(self, webhook_id: str, now: datetime) -> bool:
        """Return ``True`` if ``webhook_id`` is remembered at ``now``, else remember it."""
        with self._lock:
            self._purge(now)
            expires_at = self._expiry.get(webhook_id)
            if expires_at is not None and expires_at > now:
                return True
            expires_at = now + self._ttl
            self._expiry[webhook_id] = expires_at
            heapq.heappush(self._queue, (expires_at, webhook_id))
            return False

    def forget(self, webhook_id: str) -> None:
        """Drop ``webhook_id``."""
        with self._lock:
            self._expiry.pop(webhook_id, None)

    def _purge(self, now: datetime) -> None:
        while self._queue and self._queue[0][0] <= now:
            expires_at, webhook_id = heapq.heappop(self._queue)
            # The id may have been forgotten, or forgotten and recorded again with a later expiry.
            if self._expiry.get(webhook_id) == expires_at:
                del self._expiry[webhook_id]


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS webhook_ids (
    webhook_id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_ids_expires_at ON webhook_ids (expires_at);
"""


def _enable_wal(connection: sqlite3.Connection, timeout: float) -> None:
    # Switching a new database to WAL needs an exclusive lock, and SQLite reports "locked" at once,
    # without its busy handler, while another process creates the same file; so wait here.
    deadline = time.monotonic() + timeout
    while not _try_enable_wal(connection, give_up=time.monotonic() > deadline):
        time.sleep(_WAL_RETRY_PAUSE)


def _try_enable_wal(connection: sqlite3.Connection, *, give_up: bool) -> bool:
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) or give_up:
            raise
        return False
    return True


class SQLiteReplayGuard:
    """A :class:`ReplayGuard` in an SQLite file, shared by every process that opens the same file.

    One row per id. :meth:`seen` runs ``DELETE`` (of expired rows) and ``INSERT OR IGNORE`` in one
    ``BEGIN IMMEDIATE`` transaction, so across threads and processes exactly one caller records a
    given id. The database uses write-ahead logging. Use it as a context manager, or call
    :meth:`close`.

    A guard made before the process forks (a module-level guard under ``gunicorn --preload``)
    works in parent and children alike: an SQLite connection must not cross ``fork()``, so the
    guard closes its connection just before the fork (waiting for a call in progress) and each
    process opens its own on first use afterwards.

    Args:
        path: The database file (created if missing); ``":memory:"`` for a private in-memory one.
        ttl: How long an id is remembered (a :class:`~datetime.timedelta` or seconds). The default,
            ``2 x tolerance + 1 min`` for the default tolerance, is explained under "Replay
            protection" in :mod:`crs_sdk.webhooks`.
        timeout: Seconds to wait for another process's lock before raising
            :class:`sqlite3.OperationalError`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        ttl: timedelta | float = DEFAULT_REPLAY_TTL,
        timeout: float = 30.0,
    ) -> None:
        self._ttl = _check_ttl(ttl)
        self._path = str(path)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = self._open()
        _GUARDS.add(self)

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            _enable_wal(connection, self._timeout)
            connection.execute("PRAGMA synchronous=NORMAL")
            with _transaction(connection):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
        except BaseException:
            connection.close()
            raise
        return connection

    def _before_fork(self) -> None:
        """Just before ``fork()``: no call in progress, and no file connection to inherit."""
        self._lock.acquire()
        if self._path != ":memory:" and self._connection is not None:  # memory is copied whole
            connection, self._connection = self._connection, None
            connection.close()

    def _after_fork_in_parent(self) -> None:
        self._lock.release()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the inherited one is held (by `_before_fork`)

    def _current(self) -> sqlite3.Connection:
        """The connection (under `_lock`), opened again after a fork."""
        if self._connection is None:
            self._connection = self._open()
        return self._connection

    @property
    def ttl(self) -> timedelta:
        """How long an accepted id is remembered."""
        return self._ttl

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    def __repr__(self) -> str:
        return f"SQLiteReplayGuard({self._path!r}, ttl={self._ttl!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection; the guard cannot be used afterwards."""
        with self._lock:
            connection, self._connection = self._connection, None
            self._closed = True
            if connection is not None:
                connection.close()

    def seen(self, webhook_id: str, now: datetime) -> bool:
        """Return ``True`` if ``webhook_id`` is remembered at ``now``, else remember it."""
        stamp = now.timestamp()
        with self._lock, self._transaction() as connection:
            connection.execute("DELETE FROM webhook_ids WHERE expires_at <= ?", (stamp,))
            cursor = connection.execute(
                "INSERT OR IGNORE INTO webhook_ids (webhook_id, expires_at) VALUES (?, ?)",
                (webhook_id, stamp + self._ttl.total_seconds()),
            )
            return cursor.rowcount == 0

    def forget(self, webhook_id: str) -> None:
        """Drop ``webhook_id``."""
        with self._lock, self._transaction() as connection:
            connection.execute("DELETE FROM webhook_ids WHERE webhook_id = ?", (webhook_id,))

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return _transaction(self._current())

    _closed = False


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


#: Every guard of this process, closed around a ``fork()``.
_GUARDS: weakref.WeakSet[SQLiteReplayGuard] = weakref.WeakSet()
#: The guards `_before_fork` locked, in the order it locked them.
_FORKING: list[SQLiteReplayGuard] = []


def _before_fork() -> None:
    _FORKING[:] = list(_GUARDS)
    for guard in _FORKING:
        guard._before_fork()  # noqa: SLF001 - the module's own class


def _after_fork_in_parent() -> None:
    for guard in reversed(_FORKING):
        guard._after_fork_in_parent()  # noqa: SLF001
    _FORKING.clear()


def _after_fork_in_child() -> None:
    for guard in _FORKING:
        guard._after_fork_in_child()  # noqa: SLF001
    _FORKING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
