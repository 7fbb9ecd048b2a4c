"""A repeat that arrives while the first delivery is still being handled is not acknowledged."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone

import pytest

from crs_sdk.testing import signed_webhook
from crs_sdk.webhooks import MemoryReplayGuard, WebhookVerifier, _receive, handle_webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENT = {
    "id": "evt_000000000007",
    "type": "report.submitted",
    "timestamp": "2026-11-23T10:15:00Z",
    "data": {
        "report_id": "rpt_1",
        "client_reference": "CP-1",
        "status": "submitted",
        "previous_status": "draft",
    },
}


def test_a_repeat_during_the_handler_is_409_and_is_handled_after_a_failure() -> None:
    verifier = WebhookVerifier(SECRET, replay_guard=MemoryReplayGuard())
    body, headers = signed_webhook(EVENT, SECRET, webhook_id="msg_in_progress")
    inside = threading.Event()
    let_go = threading.Event()
    calls: list[str] = []
    answers: dict[str, int] = {}

    def slow_failing_handler(event: object) -> None:
        calls.append("first")
        inside.set()
        assert let_go.wait(10)
        raise RuntimeError("database down")

    first = threading.Thread(
        target=lambda: answers.__setitem__(
            "first", handle_webhook(verifier, body, headers, slow_failing_handler).status
        )
    )
    first.start()
    assert inside.wait(10)
    repeat = handle_webhook(verifier, body, headers, lambda event: calls.append("repeat"))
    let_go.set()
    first.join(10)

    assert repeat.status == 409
    assert answers["first"] == 500
    retry = handle_webhook(verifier, body, headers, lambda event: calls.append("retry"))
    assert retry.status == 204
    assert calls == ["first", "retry"]
    again = handle_webhook(verifier, body, headers, lambda event: calls.append("again"))
    assert again.status == 200
    assert calls == ["first", "retry"]


class _PausingGuard(MemoryReplayGuard):
    """Pauses the first delivery right after recording its id, before the handler runs."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded = threading.Event()
        self.let_go = threading.Event()

    def seen(self, webhook_id: str, now: datetime) -> bool:
        replay = super().seen(webhook_id, now)
        if not replay and not self.recorded.is_set():
            self.recorded.set()
            assert self.let_go.wait(10)
        return replay


def test_a_repeat_after_the_id_is_recorded_but_before_the_handler_runs_is_409() -> None:
    """The id is held in progress before the guard records it: no window for a 200."""
    guard = _PausingGuard()
    verifier = WebhookVerifier(SECRET, replay_guard=guard)
    body, headers = signed_webhook(EVENT, SECRET, webhook_id="msg_just_recorded")
    calls: list[str] = []
    answers: dict[str, int] = {}

    def failing_handler(event: object) -> None:
        calls.append("first")
        raise RuntimeError("database down")

    first = threading.Thread(
        target=lambda: answers.__setitem__(
            "first", handle_webhook(verifier, body, headers, failing_handler).status
        )
    )
    first.start()
    assert guard.recorded.wait(10)
    repeat = handle_webhook(verifier, body, headers, lambda event: calls.append("repeat"))
    guard.let_go.set()
    first.join(10)

    assert repeat.status == 409
    assert answers["first"] == 500
    retry = handle_webhook(verifier, body, headers, lambda event: calls.append("retry"))
    assert retry.status == 204
    assert calls == ["first", "retry"]


class _PausingClock:
    """The verifier's clock, which pauses the requests of one thread while they are verified."""

    def __init__(self) -> None:
        self.paused_thread: threading.Thread | None = None
        self.inside = threading.Event()
        self.let_go = threading.Event()

    def __call__(self) -> datetime:
        if threading.current_thread() is self.paused_thread:
            self.inside.set()
            assert self.let_go.wait(10)
        return datetime.now(timezone.utc)


@pytest.mark.parametrize(
    "forgery",
    [
        {"webhook-signature": "v1,AAAA"},
        {"webhook-signature": "v2,AAAA"},
        {"webhook-timestamp": "1"},  # signed long ago
    ],
    ids=["bad-signature", "no-v1-signature", "stale"],
)
def test_a_forged_request_with_a_real_id_leaves_a_genuine_repeat_alone(
    forgery: dict[str, str],
) -> None:
    """The id is held in progress only once the signature and timestamp checked out."""
    clock = _PausingClock()
    verifier = WebhookVerifier(SECRET, replay_guard=MemoryReplayGuard(), clock=clock)
    body, headers = signed_webhook(EVENT, SECRET, webhook_id="msg_forged")
    calls: list[str] = []
    first = handle_webhook(verifier, body, headers, lambda event: calls.append("first"))
    assert first.status == 204
    answers: dict[str, int] = {}
    forger = threading.Thread(
        target=lambda: answers.__setitem__(
            "forged",
            handle_webhook(
                verifier, b"{}", {**headers, **forgery}, lambda event: calls.append("forged")
            ).status,
        )
    )
    clock.paused_thread = forger
    forger.start()
    assert clock.inside.wait(10)  # the forged request is being verified
    repeat = handle_webhook(verifier, body, headers, lambda event: calls.append("repeat"))
    clock.let_go.set()
    forger.join(10)

    assert repeat.status == 200  # a duplicate of a delivery that was handled, not "in progress"
    assert answers["forged"] == 400
    assert calls == ["first"]
    assert (id(verifier), "msg_forged") not in _receive._in_flight


def test_refused_and_duplicate_deliveries_leave_nothing_in_progress() -> None:
    verifier = WebhookVerifier(SECRET, replay_guard=MemoryReplayGuard())
    body, headers = signed_webhook(EVENT, SECRET, webhook_id="msg_counted")
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    assert handle_webhook(verifier, body, forged, lambda event: None).status == 400
    assert handle_webhook(verifier, body, headers, lambda event: None).status == 204
    assert handle_webhook(verifier, body, headers, lambda event: None).status == 200
    assert handle_webhook(verifier, b"{}", forged, lambda event: None).status == 400
    assert handle_webhook(verifier, body, headers, lambda event: None).status == 200
    assert (id(verifier), "msg_counted") not in _receive._in_flight


def test_a_failing_replay_guard_leaves_nothing_in_progress() -> None:
    class BrokenGuard(MemoryReplayGuard):
        def seen(self, webhook_id: str, now: datetime) -> bool:
            raise sqlite3.OperationalError("database is locked")

    verifier = WebhookVerifier(SECRET, replay_guard=BrokenGuard())
    body, headers = signed_webhook(EVENT, SECRET, webhook_id="msg_locked")
    with pytest.raises(sqlite3.OperationalError):
        handle_webhook(verifier, body, headers, lambda event: None)
    assert (id(verifier), "msg_locked") not in _receive._in_flight
