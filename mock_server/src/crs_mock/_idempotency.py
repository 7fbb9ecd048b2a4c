"""``Idempotency-Key`` (IETF httpapi idempotency-key draft) for every ``POST`` under ``/v1``.

Keys are scoped to the agency. A completed request's response (any status below 500, so a `422` is
replayed as a `422`) is stored with the request's fingerprint (method, path, SHA-256 of the body)
*in the same transaction as the change it made*: either both are committed or neither is. A repeat
with the same fingerprint replays the stored response with ``Idempotent-Replayed: true``; another
fingerprint is a `422 idempotency_key_reused`; a repeat while the first is still being processed is
a `409 idempotency_key_in_flight` (in-flight keys are held in memory: a crash releases them, and
nothing was committed for them).

Records are kept for 24 hours of *virtual* time, the platform's own clock (the one every other
timestamp uses), and purged after that; advancing the mock's clock past a day forgets them.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from contextlib import contextmanager
from http import HTTPStatus
from typing import TYPE_CHECKING

from crs_mock._headers import single_header
from crs_mock._problems import ProblemError, Reply

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from starlette.requests import Request

    from crs_mock._clock import ReviewClock
    from crs_mock._store import Store, Transaction

__all__ = ["RETENTION_MS", "IdempotencyKeys", "fingerprint", "read_key"]

RETENTION_MS = 24 * 3600 * 1000
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
#: Response headers worth replaying; request-specific ones (X-Request-Id) are made fresh.
_STORED_HEADERS = ("content-type", "location")


def read_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, if any; a `400` problem naming the header if it is
    malformed or sent more than once (which one would be meant is anyone's guess)."""
    key = single_header(request, "Idempotency-Key")
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise ProblemError(
            "invalid_request",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            header="Idempotency-Key",
        )
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{method.upper()} {path}\n{digest}".encode()).hexdigest()


def _reused() -> ProblemError:
    return ProblemError(
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request (method, path or body)",
    )


class IdempotencyKeys:
    """Stored responses, and the keys whose first request is still in progress."""

    def __init__(self, store: Store, clock: ReviewClock) -> None:
        self._store = store
        self._clock = clock
        self._in_flight: dict[tuple[str, str], str] = {}
        self._changed = threading.Condition()

    @contextmanager
    def claim(self, agency_id: str, key: str, request_fingerprint: str) -> Iterator[None]:
        """Hold the key for the duration of the block; `409`/`422` if another request holds it."""
        slot = (agency_id, key)
        with self._changed:
            holder = self._in_flight.get(slot)
            if holder is not None:
                if holder != request_fingerprint:
                    raise _reused()
                raise ProblemError(
                    "idempotency_key_in_flight",
                    "A request with this Idempotency-Key is still being processed; retry later",
                )
            self._in_flight[slot] = request_fingerprint
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                del self._in_flight[slot]
                self._changed.notify_all()

    def wait_for_in_flight(self, agency_id: str, key: str, timeout: float) -> bool:
        """Block until a request holds `key` (for tests that need a request mid-flight)."""
        with self._changed:
            return self._changed.wait_for(lambda: (agency_id, key) in self._in_flight, timeout)

    def lookup(
        self, tx: Transaction, agency_id: str, key: str, request_fingerprint: str
    ) -> Reply | None:
        """The stored response to replay, `None` for a fresh key, `422` for a reused one."""
        row = tx.one(
            "SELECT fingerprint, status, headers, body, created_ms FROM idempotency_records "
            "WHERE agency_id = ? AND key = ?",
            (agency_id, key),
        )
        if row is None:
            return None
        if row["created_ms"] + RETENTION_MS <= self._clock.now_ms():
            tx.execute(
                "DELETE FROM idempotency_records WHERE agency_id = ? AND key = ?", (agency_id, key)
            )
            return None
        if row["fingerprint"] != request_fingerprint:
            raise _reused()
        headers = {**json.loads(row["headers"]), "idempotent-replayed": "true"}
        return Reply(row["status"], bytes(row["body"]), headers)

    def save(
        self, tx: Transaction, agency_id: str, key: str, request_fingerprint: str, reply: Reply
    ) -> None:
        headers = {name: reply.headers[name] for name in _STORED_HEADERS if name in reply.headers}
        tx.execute(
            "INSERT INTO idempotency_records "
            "(agency_id, key, fingerprint, status, headers, body, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                agency_id,
                key,
                request_fingerprint,
                reply.status,
                json.dumps(headers),
                reply.body,
                self._clock.now_ms(),
            ),
        )

    def purge(self) -> int:
        """Forget records older than the retention period; how many were dropped."""
        with self._store.transaction() as tx:
            cursor = tx.execute(
                "DELETE FROM idempotency_records WHERE created_ms <= ?",
                (self._clock.now_ms() - RETENTION_MS,),
            )
            return cursor.rowcount

    def execute(
        self,
        agency_id: str,
        key: str | None,
        request_fingerprint: str,
        operation: Callable[[Transaction], Reply],
        render: Callable[[ProblemError], Reply],
    ) -> Reply:
        """Run a write in one transaction with its idempotency record (call from a worker thread).

        The operation's changes are undone if it raises `ProblemError`; the rendered problem is then
        stored (and replayed) like any other completed response.
        """
        with self._store.transaction() as tx:
            if key is not None:
                stored = self.lookup(tx, agency_id, key, request_fingerprint)
                if stored is not None:
                    return stored
            try:
                with tx.savepoint():
                    reply = operation(tx)
            except ProblemError as problem:
                reply = render(problem)
            if key is not None and reply.status < HTTPStatus.INTERNAL_SERVER_ERROR:
                self.save(tx, agency_id, key, request_fingerprint, reply)
        return reply
