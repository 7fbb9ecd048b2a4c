"""Webhook endpoints and the delivery outbox: the rows behind ``/v1/webhook-endpoints``.

Secrets. An endpoint's signing secret (and, during a rotation, the previous one) is stored in the
database *in the clear*, because the mock must sign with it. A real platform would keep it
encrypted at rest under a key held elsewhere. The mock returns a secret only in the answers of
create and rotate, never logs it, and keeps it out of every ``repr``.

The outbox. `queue_deliveries` runs inside the transaction that appends an event (it is called by
`crs_mock._events.append_event`), so an event and its deliveries are committed together or not at
all. For each enabled endpoint of the agency subscribed to the event's type (or to ``*``) it stores
one *message* (the event's JSON, serialised once exactly as ``GET /v1/events`` returns it; those
bytes are signed and sent on every attempt, under one ``webhook-id``) and its first attempt,
``pending`` and due at the event's timestamp, that is at once. The worker (`crs_mock._delivery`) is
woken when the transaction commits.

Attempts are the rows of ``webhook_deliveries`` (the contract's WebhookDelivery): ``pending`` while
scheduled or in flight, then ``succeeded`` (a 2xx answer) or ``failed``. A failed attempt schedules
the next on the Standard Webhooks schedule (`RETRY_DELAYS`: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
10 h after the first, immediate attempt), counted in virtual time from when the failed attempt fell
due; after the 8th failure the message is given up. Like the review simulation, the schedule is
anchored to due times, and each attempt is stamped (``attempted_at``) with the time it fell due, so
advancing the clock by a day gives the same attempts as waiting a day: the missed ones are made at
once, in order. A ``429`` answer's ``Retry-After`` (virtual seconds, capped at
`MAX_RETRY_AFTER`) lengthens the wait when it is longer than the schedule's. A ``410 Gone`` answer
disables the endpoint and cancels its pending attempts.

Disabling an endpoint (``POST .../disable``) pauses it: its pending attempts are held, not made
and not cancelled (an attempt in flight that fails schedules its successor, held too), and events
appended meanwhile queue nothing for it (they are in the log, ``GET /v1/events``). Enabling it
again (`resume_held`) makes every held attempt due at once, its number kept, and the schedule
carries on from then: re-enabling resumes promptly, and the same way however long the pause was.
After a ``410`` there is nothing held: the receiver said it is gone.

Delivery is at least once (an attempt cut short by a shutdown is made again after a restart) and
not ordered: attempts of different messages run concurrently, and a retried message arrives after
later ones.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crs_mock._clock import format_ms

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    from crs_mock._store import Transaction

__all__ = [
    "MAX_RETRY_AFTER",
    "RETRY_DELAYS",
    "Attempt",
    "Outcome",
    "cancel_pending",
    "delivery_json",
    "endpoint_json",
    "load_attempt",
    "queue_deliveries",
    "record_outcome",
    "resume_held",
    "signing_secrets",
]

#: Seconds to wait after failed attempt n (1-based) before attempt n + 1; none after the 8th.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
#: The longest ``Retry-After`` honoured (seconds); a longer one waits this long.
MAX_RETRY_AFTER = 24 * 3600
GONE_REASON = "The endpoint answered 410 Gone; deliveries stopped. Enable it to resume."
CANCELLED = "Not attempted: the endpoint was disabled."

_DELIVERY_COLUMNS = (
    "d.id, d.endpoint_id, d.attempt, d.status, d.status_code, d.duration_ms, d.error, "
    "d.attempted_ms, d.next_attempt_ms, m.event_id, m.event_type, m.webhook_id"
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


# -- endpoints ----------------------------------------------------------------------------------


def endpoint_json(row: sqlite3.Row, now_ms: int, *, with_secret: bool = False) -> dict[str, Any]:
    """WebhookEndpoint (or WebhookEndpointWithSecret) of an endpoint row."""
    rotation_ends = row["rotation_ends_ms"]
    document: dict[str, Any] = {
        "id": row["id"],
        "url": row["url"],
        "event_types": json.loads(row["event_types"]),
        "description": row["description"],
        "enabled": bool(row["enabled"]),
        "disabled_reason": row["disabled_reason"],
        "created_at": format_ms(row["created_ms"]),
        "secret_rotation_ends_at": (
            format_ms(rotation_ends)
            if rotation_ends is not None and rotation_ends > now_ms
            else None
        ),
    }
    if with_secret:
        document["secret"] = row["secret"]
    return document


def signing_secrets(row: sqlite3.Row, now_ms: int) -> tuple[str, ...]:
    """The current secret, then the previous one while its grace period lasts."""
    previous, ends = row["previous_secret"], row["rotation_ends_ms"]
    if previous is not None and ends is not None and ends > now_ms:
        return (row["secret"], previous)
    return (row["secret"],)


def cancel_pending(tx: Transaction, endpoint_id: str) -> None:
    """Mark the endpoint's pending attempts failed, unmade (it was disabled)."""
    tx.execute(
        "UPDATE webhook_deliveries SET status = 'failed', error = ? "
        "WHERE endpoint_id = ? AND status = 'pending'",
        (CANCELLED, endpoint_id),
    )


def _subscribed(event_types: list[str], event_type: str) -> bool:
    return "*" in event_types or event_type in event_types


# -- the outbox ---------------------------------------------------------------------------------


def queue_deliveries(tx: Transaction, agency_id: str, event: Mapping[str, Any], at_ms: int) -> None:
    """Queue `event` (an Event document) for the agency's enabled endpoints subscribed to it."""
    rows = tx.all(
        "SELECT id, event_types FROM webhook_endpoints WHERE agency_id = ? AND enabled = 1 "
        "ORDER BY seq",
        (agency_id,),
    )
    targets = [
        row["id"] for row in rows if _subscribed(json.loads(row["event_types"]), event["type"])
    ]
    if not targets:
        return
    # The serialisation of every JSON response (`_problems.json_reply`): the body is the event
    # exactly as the log returns it.
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    for endpoint_id in targets:
        cursor = tx.execute(
            "INSERT INTO webhook_messages (webhook_id, endpoint_id, event_id, event_type, body) "
            "VALUES (?, ?, ?, ?, ?)",
            (new_id("msg"), endpoint_id, event["id"], event["type"], body),
        )
        _insert_attempt(tx, cursor.lastrowid, endpoint_id, 1, at_ms)
    for waker in list(tx.store.outbox_wakers):
        tx.after_commit(waker)


def _insert_attempt(
    tx: Transaction, message_seq: int | None, endpoint_id: str, attempt: int, due_ms: int
) -> str:
    delivery_id = new_id("dlv")
    tx.execute(
        "INSERT INTO webhook_deliveries (id, message_seq, endpoint_id, attempt, status, "
        "attempted_ms) VALUES (?, ?, ?, ?, 'pending', ?)",
        (delivery_id, message_seq, endpoint_id, attempt, due_ms),
    )
    return delivery_id


def delivery_json(row: sqlite3.Row) -> dict[str, Any]:
    """WebhookDelivery of a row selected with the delivery columns."""
    next_ms = row["next_attempt_ms"]
    return {
        "id": row["id"],
        "endpoint_id": row["endpoint_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "webhook_id": row["webhook_id"],
        "attempt": row["attempt"],
        "status": row["status"],
        "status_code": row["status_code"],
        "duration_ms": row["duration_ms"],
        "error": row["error"],
        "attempted_at": format_ms(row["attempted_ms"]),
        "next_attempt_at": None if next_ms is None else format_ms(next_ms),
    }


def select_deliveries(where: str) -> str:
    """A SELECT of the delivery columns (`delivery_json`) with a WHERE clause over ``d``/``m``."""
    return (
        f"SELECT d.seq, {_DELIVERY_COLUMNS} FROM webhook_deliveries d "  # noqa: S608 - fixed text
        f"JOIN webhook_messages m ON m.seq = d.message_seq WHERE {where}"
    )


def retry_now(tx: Transaction, delivery_seq: int, now_ms: int) -> str:
    """Schedule an attempt of the delivery's message now; the id of that (pending) attempt.

    A message with a pending attempt has it brought forward; otherwise a new attempt is added.
    """
    row = tx.one(
        "SELECT message_seq, endpoint_id FROM webhook_deliveries WHERE seq = ?", (delivery_seq,)
    )
    if row is None:  # pragma: no cover - the caller loaded it in this transaction
        raise RuntimeError("the delivery vanished")
    message_seq = row["message_seq"]
    pending = tx.one(
        "SELECT id, attempted_ms FROM webhook_deliveries "
        "WHERE message_seq = ? AND status = 'pending'",
        (message_seq,),
    )
    if pending is not None:
        _bring_forward(tx, message_seq, pending, now_ms)
        delivery_id: str = pending["id"]
    else:
        last = tx.one(
            "SELECT max(attempt) AS attempt FROM webhook_deliveries WHERE message_seq = ?",
            (message_seq,),
        )
        attempt = (last["attempt"] if last is not None else 0) + 1
        delivery_id = _insert_attempt(tx, message_seq, row["endpoint_id"], attempt, now_ms)
    for waker in list(tx.store.outbox_wakers):
        tx.after_commit(waker)
    return delivery_id


def resume_held(tx: Transaction, endpoint_id: str, now_ms: int) -> int:
    """The endpoint was enabled again: its held (pending) attempts fall due now; how many.

    An attempt held while the endpoint was disabled keeps its number, so its message gets no more
    attempts than the schedule gives; the schedule carries on from now, not from when the attempt
    first fell due (or every attempt missed meanwhile would be made at once, in a burst).
    """
    held = tx.all(
        "SELECT id, message_seq, attempted_ms FROM webhook_deliveries "
        "WHERE endpoint_id = ? AND status = 'pending' ORDER BY attempted_ms, seq",
        (endpoint_id,),
    )
    for pending in held:
        _bring_forward(tx, pending["message_seq"], pending, now_ms)
    if held:
        for waker in list(tx.store.outbox_wakers):
            tx.after_commit(waker)
    return len(held)


def _bring_forward(tx: Transaction, message_seq: int, pending: sqlite3.Row, now_ms: int) -> None:
    """Make a message's pending attempt due at `now_ms`."""
    # The failed attempt that scheduled it now points at the new time.
    tx.execute(
        "UPDATE webhook_deliveries SET next_attempt_ms = ? "
        "WHERE message_seq = ? AND status != 'pending' AND next_attempt_ms = ?",
        (now_ms, message_seq, pending["attempted_ms"]),
    )
    tx.execute(
        "UPDATE webhook_deliveries SET attempted_ms = ? WHERE id = ?", (now_ms, pending["id"])
    )


# -- attempts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One attempt to make: where, what, signed with which secrets."""

    delivery_seq: int
    delivery_id: str
    endpoint_id: str
    attempt: int
    due_ms: int
    url: str
    webhook_id: str
    body: bytes = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    """What an attempt got: a status code, or an error (timeout, connection error)."""

    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300  # noqa: PLR2004


def due_attempts(tx: Transaction, now_ms: int) -> list[sqlite3.Row]:
    """Pending attempts of enabled endpoints due by `now_ms`, oldest due first (no bodies)."""
    return tx.all(
        "SELECT d.seq, d.endpoint_id FROM webhook_deliveries d "
        "JOIN webhook_endpoints e ON e.id = d.endpoint_id "
        "WHERE d.status = 'pending' AND d.attempted_ms <= ? AND e.enabled = 1 "
        "ORDER BY d.attempted_ms, d.seq",
        (now_ms,),
    )


def next_due_ms(tx: Transaction, excluding: list[int]) -> int | None:
    """When the earliest pending attempt of an enabled endpoint is due, `excluding` some."""
    marks = ", ".join("?" * len(excluding))
    row = tx.one(
        "SELECT min(d.attempted_ms) AS due FROM webhook_deliveries d "  # noqa: S608 - marks only
        "JOIN webhook_endpoints e ON e.id = d.endpoint_id "
        f"WHERE d.status = 'pending' AND e.enabled = 1 AND d.seq NOT IN ({marks})",
        excluding,
    )
    return None if row is None else row["due"]


def load_attempt(tx: Transaction, delivery_seq: int, now_ms: int) -> Attempt:
    row = tx.one(
        "SELECT d.id, d.attempt, d.attempted_ms, m.webhook_id, m.body, e.id AS endpoint_id, "
        "e.url, e.secret, e.previous_secret, e.rotation_ends_ms FROM webhook_deliveries d "
        "JOIN webhook_messages m ON m.seq = d.message_seq "
        "JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.seq = ?",
        (delivery_seq,),
    )
    if row is None:  # pragma: no cover - selected in the same transaction
        raise RuntimeError("the delivery vanished")
    return Attempt(
        delivery_seq=delivery_seq,
        delivery_id=row["id"],
        endpoint_id=row["endpoint_id"],
        attempt=row["attempt"],
        due_ms=row["attempted_ms"],
        url=row["url"],
        webhook_id=row["webhook_id"],
        body=bytes(row["body"]),
        secrets=signing_secrets(row, now_ms),
    )


def record_outcome(tx: Transaction, attempt: Attempt, outcome: Outcome) -> None:
    """Store an attempt's outcome, and schedule the next attempt or disable the endpoint."""
    endpoint = tx.one(
        "SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = ?",
        (attempt.endpoint_id,),
    )
    if endpoint is None:  # deleted (or reset) while the attempt was in flight
        return
    next_ms = None
    if outcome.status_code == 410:  # noqa: PLR2004 - Gone
        tx.execute(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?",
            (GONE_REASON, attempt.endpoint_id),
        )
        cancel_pending(tx, attempt.endpoint_id)
    elif (
        not outcome.succeeded
        and endpoint["disabled_reason"] != GONE_REASON  # else held, like the attempts of a pause
        and attempt.attempt <= len(RETRY_DELAYS)
    ):
        delay = float(RETRY_DELAYS[attempt.attempt - 1])
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
        next_ms = attempt.due_ms + math.ceil(delay * 1000)
        message = tx.one(
            "SELECT message_seq FROM webhook_deliveries WHERE seq = ?", (attempt.delivery_seq,)
        )
        if message is None:  # pragma: no cover - the endpoint exists, so does the message
            return
        _insert_attempt(
            tx, message["message_seq"], attempt.endpoint_id, attempt.attempt + 1, next_ms
        )
    tx.execute(
        "UPDATE webhook_deliveries SET status = ?, status_code = ?, duration_ms = ?, error = ?, "
        "next_attempt_ms = ? WHERE seq = ?",
        (
            "succeeded" if outcome.succeeded else "failed",
            outcome.status_code,
            outcome.duration_ms,
            outcome.error,
            next_ms,
            attempt.delivery_seq,
        ),
    )
