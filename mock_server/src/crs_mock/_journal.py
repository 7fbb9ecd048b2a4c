"""The request journal: what each agency sent and what it got, for tests to assert on.

Every request outside ``/_mock/`` becomes one `JournalEntry` (method, path, query, redacted
headers, body sizes, status, timing, the fault applied, the agency, the operation id, the request
id), kept in SQLite, the last `Journal.limit` per agency. Bodies are never kept, and secrets are
never stored: the ``Authorization`` and ``Cookie`` headers, and every header or query parameter
whose name contains ``secret`` or ``token``, are replaced with ``[redacted]``.

`Journal.wait` and `Journal.wait_blocking` return as soon as a matching entry is recorded: the
writer wakes the waiters (an ``asyncio.Event`` per async waiter, set thread-safely; a
``threading.Event`` per blocking one), nobody polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode

import anyio
import anyio.to_thread

from crs_mock._clock import format_ms
from crs_mock._operations import PathPattern, faultable_operations

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from crs_mock._store import Store

__all__ = [
    "DEFAULT_JOURNAL_LIMIT",
    "InvalidFilterError",
    "Journal",
    "JournalEntry",
    "JournalFilter",
    "redact_headers",
]

#: Entries kept per agency (requests without an agency count as one more "agency").
DEFAULT_JOURNAL_LIMIT: Final = 10_000
REDACTED: Final = "[redacted]"
#: What a journal ``method`` filter may be: an HTTP method (RFC 9110 section 9.1: a token). The
#: journal keeps every request outside ``/_mock/``, those with a method no operation has (answered
#: ``405``) too, so any method may be looked for.
_METHOD_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ALWAYS_SECRET: Final = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: Sequence numbers reserved at a time. A block is committed before any of its numbers is handed
#: out, so a restart, even after a kill, starts past every number handed out before it.
_SEQUENCE_BLOCK: Final = 1000
#: The ``meta`` key of the highest sequence number reserved.
_SEQUENCE_META: Final = "journal_sequence"


def _is_secret(name: str) -> bool:
    name = name.lower()
    return name in _ALWAYS_SECRET or "secret" in name or "token" in name


def redact_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as a dict of lower-case names (repeats joined with ``, ``), secrets redacted."""
    result: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = REDACTED if _is_secret(name) else raw_value.decode("latin-1")
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


def _row(entry: JournalEntry) -> tuple[Any, ...]:
    return (
        entry.sequence,
        entry.id,
        entry.client_id,
        entry.method,
        entry.path,
        entry.operation_id,
        entry.status_code,
        entry.received_ms,
        json.dumps(asdict(entry)),
    )


def redact_query(query: str) -> str | None:
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_is_secret(name) for name, _ in pairs):
        return query
    return urlencode([(name, REDACTED if _is_secret(name) else value) for name, value in pairs])


@dataclass(frozen=True, kw_only=True)
class JournalEntry:
    """One journaled request: the contract's ``JournalEntry`` (``sequence`` 0 until recorded)."""

    id: str
    method: str
    path: str
    query: str | None
    request_headers: dict[str, str]
    request_body_size: int
    operation_id: str | None
    status_code: int | None
    response_body_size: int | None
    client_id: str | None
    idempotency_key: str | None
    idempotent_replayed: bool
    fault_id: str | None
    fault_action: str | None
    received_ms: int
    duration_ms: float
    sequence: int = 0

    @property
    def agency_id(self) -> str | None:
        """The calling agency (the same as `client_id`)."""
        return self.client_id

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        del body["received_ms"]
        body["received_at"] = format_ms(self.received_ms)
        return body


class InvalidFilterError(ValueError):
    """A `JournalFilter` field whose value could never match, named by `name` (the same name as
    the query parameter of ``GET /_mock/requests``)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True, kw_only=True)
class JournalFilter:
    """Which entries to return; unset fields match everything.

    ``method`` matches whatever its case (``get`` is ``GET``), any method a request may have.

    Raises:
        InvalidFilterError: a filter that could never match: a ``method`` that is not an HTTP
            method (a token of RFC 9110), an ``operation_id`` that is not an operation outside
            ``/_mock/`` (only those are journaled).
    """

    agency_id: str | None = None
    method: str | None = None
    path: str | None = None
    operation_id: str | None = None
    status: Sequence[int] = ()
    since_ms: int | None = None
    after: int = 0
    _pattern: PathPattern | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.method is not None and not _METHOD_TOKEN.fullmatch(self.method):
            msg = f"method must be an HTTP method (a token of RFC 9110), not {self.method!r}"
            raise InvalidFilterError("method", msg)
        if self.operation_id is not None and self.operation_id not in faultable_operations():
            msg = "operation_id must be the operationId of an operation outside /_mock/"
            raise InvalidFilterError("operation_id", msg)
        if self.path is not None:
            object.__setattr__(self, "_pattern", PathPattern(self.path))

    def matches(self, entry: JournalEntry) -> bool:
        return (
            (self.agency_id is None or entry.client_id == self.agency_id)
            and (self.since_ms is None or entry.received_ms >= self.since_ms)
            and (self.method is None or entry.method.upper() == self.method.upper())
            and (self._pattern is None or self._pattern.matches(entry.path))
            and (self.operation_id is None or entry.operation_id == self.operation_id)
            and (not self.status or entry.status_code in self.status)
        )


class Journal:
    """The journal of one platform (thread-safe).

    Recording does not wait for another request's transaction: the entry gets its `sequence` at
    once and joins a pending list, written to SQLite at once if the store's lock is free, else by
    the next `record`, `query` or `close`. Readers see pending entries as well as written ones.

    What survives the end of the server: `close` (a clean stop) writes every pending entry. A kill
    loses the entries still pending, those recorded while the store was busy and not written
    since; every written entry survives it. Sequence numbers are never handed out twice, a kill
    included: they are reserved in blocks committed before use, so after a kill the numbers of
    the lost entries (and the rest of their block) are skipped, never reused.
    """

    def __init__(self, store: Store, *, limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
        self._store = store
        self.limit = limit
        self._listeners: set[Callable[[], None]] = set()
        self._listeners_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: list[JournalEntry] = []
        with store.transaction() as tx:
            row = tx.one("SELECT max(seq) AS seq FROM journal")
            reserved = int(tx.get_meta(_SEQUENCE_META) or 0)
        written = int(row["seq"] or 0) if row is not None else 0
        self._sequence = max(written, reserved)  # numbers up to a reservation may have been used
        self._reserved = self._sequence
        self._reserve()

    # -- writing ---------------------------------------------------------------------------------

    def record(self, entry: JournalEntry) -> JournalEntry:
        """Journal `entry` (dropping the agency's oldest beyond `limit`) and wake the waiters."""
        while True:
            with self._lock:
                if self._sequence < self._reserved:
                    self._sequence += 1
                    entry = replace(entry, sequence=self._sequence)
                    self._pending.append(entry)
                    break
            self._reserve()
        self._flush(blocking=False)
        self._wake()
        return entry

    def close(self) -> None:
        """Write the pending entries and give back the unused reserved numbers (a clean stop: the
        next start goes on from the last number handed out)."""
        with self._store.lock:
            self._flush(blocking=True)
            with self._store.transaction() as tx, self._lock:
                tx.set_meta(_SEQUENCE_META, self._sequence)
                self._reserved = self._sequence

    def _reserve(self) -> None:
        """Commit the next block of sequence numbers (waits for the store, once per block)."""
        with self._store.lock:
            with self._lock:
                if self._sequence < self._reserved:
                    return  # another thread reserved one meanwhile
                reserved = self._sequence + _SEQUENCE_BLOCK
            with self._store.transaction() as tx:
                tx.set_meta(_SEQUENCE_META, reserved)
            with self._lock:
                self._reserved = reserved

    def _flush(self, *, blocking: bool) -> None:
        """Write the pending entries, unless (`blocking` False) the store is busy."""
        if not self._store.lock.acquire(blocking=blocking):
            return
        try:
            # Not synced: the journal is a record of the traffic, not platform state. A written
            # entry survives the server being killed; only a power cut could lose the latest ones.
            with self._store.transaction(durable=False) as tx:
                with self._lock:
                    batch, self._pending = self._pending, []
                for entry in batch:
                    tx.execute(
                        "INSERT INTO journal (seq, id, agency_id, method, path, operation_id, "
                        "status_code, received_ms, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        _row(entry),
                    )
                for agency_id in {entry.client_id for entry in batch}:
                    tx.execute(
                        "DELETE FROM journal WHERE agency_id IS ? AND seq <= (SELECT seq "
                        "FROM journal WHERE agency_id IS ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                        (agency_id, agency_id, self.limit),
                    )
        finally:
            self._store.lock.release()

    def reset(self, agency_id: str | None = None) -> None:
        """Forget everything, or one agency's entries."""
        with self._store.transaction() as tx:
            with self._lock:
                self._pending = [
                    entry
                    for entry in self._pending
                    if agency_id is not None and entry.client_id != agency_id
                ]
            if agency_id is None:
                tx.execute("DELETE FROM journal")
            else:
                tx.execute("DELETE FROM journal WHERE agency_id = ?", (agency_id,))

    # -- reading ---------------------------------------------------------------------------------

    def latest_sequence(self) -> int:
        """The position of the newest entry (0 for an empty journal): a cursor for "from now"."""
        with self._lock:
            return self._sequence

    def query(self, where: JournalFilter, *, limit: int | None = None) -> list[JournalEntry]:
        """Matching entries after ``where.after``, oldest first (at most `limit`)."""
        self._flush(blocking=True)
        sql = "SELECT seq, entry FROM journal WHERE seq > ?"
        parameters: list[Any] = [where.after]
        if where.agency_id is not None:
            sql += " AND agency_id = ?"
            parameters.append(where.agency_id)
        if where.since_ms is not None:
            sql += " AND received_ms >= ?"
            parameters.append(where.since_ms)
        with self._store.transaction() as tx:
            rows = tx.all(f"{sql} ORDER BY seq", parameters)
            with self._lock:
                pending = list(self._pending)
        stored = (
            JournalEntry(**{**json.loads(row["entry"]), "sequence": row["seq"]}) for row in rows
        )
        entries: list[JournalEntry] = []
        for entry in itertools.chain(stored, pending):
            if entry.sequence > where.after and where.matches(entry):
                entries.append(entry)
                if limit is not None and len(entries) >= limit:
                    break
        return entries

    async def wait(
        self, where: JournalFilter, *, seconds: float, limit: int | None = None
    ) -> list[JournalEntry]:
        """Matching entries after ``where.after`` (at most `limit`, oldest first) as soon as there
        are any; else ``[]`` after `seconds`.

        Entries already journaled are answered whatever `seconds` is (``0`` included): the
        timeout bounds only the waiting for new ones.
        """
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()
        query = functools.partial(self.query, where, limit=limit)

        def wake() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(arrived.set)

        with self._listening(wake):
            found = await anyio.to_thread.run_sync(query)
            with anyio.move_on_after(seconds):
                while not found:
                    await arrived.wait()
                    arrived.clear()
                    found = await anyio.to_thread.run_sync(query)
        return found

    def wait_blocking(self, where: JournalFilter, *, seconds: float) -> list[JournalEntry]:
        """`wait` for synchronous callers (tests in another thread than the server)."""
        arrived = threading.Event()
        deadline = time.monotonic() + seconds
        with self._listening(arrived.set):
            while True:
                arrived.clear()
                found = self.query(where)
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                arrived.wait(left)

    @contextlib.contextmanager
    def _listening(self, listener: Callable[[], None]) -> Iterator[None]:
        """Call `listener` after each new entry while the block runs."""
        with self._listeners_lock:
            self._listeners.add(listener)
        try:
            yield
        finally:
            with self._listeners_lock:
                self._listeners.discard(listener)

    def _wake(self) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
