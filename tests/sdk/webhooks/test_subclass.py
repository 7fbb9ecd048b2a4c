"""A WebhookVerifier subclass that overrides ``verify`` is honoured by every receiving path."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_sdk import structure_event
from crs_sdk.testing import signed_webhook
from crs_sdk.webhooks import (
    HeaderTypes,
    MemoryReplayGuard,
    WebhookASGIApp,
    WebhookVerificationError,
    WebhookVerifier,
    WebhookWSGIApp,
    _receive,
    handle_webhook,
)

if TYPE_CHECKING:
    from crs_sdk import Event

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def event(type_: str = "report.submitted") -> dict[str, Any]:
    return {
        "id": "evt_000000000007",
        "type": type_,
        "timestamp": "2026-11-23T10:15:00Z",
        "data": {
            "report_id": "rpt_1",
            "client_reference": "CP-1",
            "status": "submitted",
            "previous_status": "draft",
        },
    }


class EventTypeRefusedError(WebhookVerificationError):
    code = "event_type_refused"


class AllowListVerifier(WebhookVerifier):
    """Counts its calls, and refuses event types outside an allow-list after verifying."""

    def __init__(self, *args: Any, allowed: frozenset[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allowed = allowed
        self.calls = 0

    def verify(self, body: bytes | str, headers: HeaderTypes) -> Event:
        self.calls += 1
        verified = super().verify(body, headers)
        if verified.type not in self.allowed:
            raise EventTypeRefusedError(f"event type {verified.type} is not handled here")
        return verified


def allow_list(*allowed: str) -> AllowListVerifier:
    return AllowListVerifier(SECRET, replay_guard=MemoryReplayGuard(), allowed=frozenset(allowed))


def test_handle_webhook_calls_the_overriding_verify() -> None:
    verifier = allow_list("report.submitted")
    body, headers = signed_webhook(event(), SECRET, webhook_id="msg_1")
    handled: list[Event] = []
    assert handle_webhook(verifier, body, headers, handled.append).status == 204
    assert verifier.calls == 1
    assert handle_webhook(verifier, body, headers, handled.append).status == 200  # a duplicate
    assert verifier.calls == 2
    assert len(handled) == 1
    assert (id(verifier), "msg_1") not in _receive._in_flight


def test_a_refusal_by_the_override_is_400_and_leaves_the_id_free() -> None:
    verifier = allow_list("report.decided")
    body, headers = signed_webhook(event(), SECRET, webhook_id="msg_2")
    handled: list[Event] = []
    answer = handle_webhook(verifier, body, headers, handled.append)
    assert answer.status == 400
    assert answer.body.startswith("event_type_refused: ")
    assert handled == []
    assert (id(verifier), "msg_2") not in _receive._in_flight
    verifier.allowed = frozenset({"report.submitted"})  # the receiver is reconfigured
    # The id was not kept as accepted: the sender's retry is handled, not called a duplicate.
    assert handle_webhook(verifier, body, headers, handled.append).status == 204
    assert len(handled) == 1


def test_an_override_that_does_not_call_super_is_used_as_it_is() -> None:
    class SignatureOnly(WebhookVerifier):
        def verify(self, body: bytes | str, headers: HeaderTypes) -> Event:
            self.verify_signature_only(body, headers)
            return structure_event(json.loads(body))

    verifier = SignatureOnly(SECRET)
    body, headers = signed_webhook(event(), SECRET, webhook_id="msg_3")
    handled: list[Event] = []
    assert handle_webhook(verifier, body, headers, handled.append).status == 204
    assert [e.id for e in handled] == ["evt_000000000007"]
    assert (id(verifier), "msg_3") not in _receive._in_flight


def test_the_wsgi_application_calls_the_overriding_verify() -> None:
    verifier = allow_list("report.decided")
    handled: list[Event] = []
    app = WebhookWSGIApp(verifier, handled.append)
    body, headers = signed_webhook(event(), SECRET, webhook_id="msg_4")
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://hooks") as client:
        answer = client.post("/", content=body, headers=headers)
    assert answer.status_code == 400
    assert verifier.calls == 1
    assert handled == []


@pytest.mark.anyio
async def test_the_asgi_application_calls_the_overriding_verify() -> None:
    verifier = allow_list("report.decided")
    handled: list[Event] = []

    async def handler(received: Event) -> None:
        handled.append(received)

    app = WebhookASGIApp(verifier, handler)
    body, headers = signed_webhook(event(), SECRET, webhook_id="msg_5")
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
        answer = await client.post("/", content=body, headers=headers)
    assert answer.status_code == 400
    assert verifier.calls == 1
    assert handled == []
