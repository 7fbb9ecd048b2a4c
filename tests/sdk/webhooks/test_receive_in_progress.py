"""A repeat that arrives while the first delivery is still being handled is not acknowledged."""

from __future__ import annotations

import threading

from crs_sdk.testing import signed_webhook
from crs_sdk.webhooks import MemoryReplayGuard, WebhookVerifier, handle_webhook

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
