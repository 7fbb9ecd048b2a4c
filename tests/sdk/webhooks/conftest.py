"""Fixtures for the webhook tests: secrets, a frozen clock, and Event payloads per contract.md."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from crs_sdk.webhooks import MemoryReplayGuard, WebhookVerifier, build_headers

if TYPE_CHECKING:
    from collections.abc import Callable

SECRET = "whsec_" + base64.b64encode(b"current-secret-key-32-bytes-long").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"previous-secret-key-32-bytes-lng").decode()
NOW = datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)
NOW_SECONDS = int(NOW.timestamp())

_REPORT_DATA = {
    "report_id": "rpt_01",
    "client_reference": "CASE-2026-0001",
    "status": "submitted",
    "previous_status": "draft",
}

EVENTS: dict[str, dict[str, Any]] = {
    "report.submitted": {
        "id": "evt_000000000001",
        "type": "report.submitted",
        "timestamp": "2026-11-23T10:15:00Z",
        "data": _REPORT_DATA,
    },
    "report.info_requested": {
        "id": "evt_000000000002",
        "type": "report.info_requested",
        "timestamp": "2026-11-23T11:00:00Z",
        "data": {
            **_REPORT_DATA,
            "status": "info_requested",
            "previous_status": "in_review",
            "info_request": {
                "id": "inf_01",
                "question": "Which account posted the second URL?",
                "requested_at": "2026-11-23T11:00:00Z",
                "due_at": None,
            },
        },
    },
    "report.decided": {
        "id": "evt_000000000003",
        "type": "report.decided",
        "timestamp": "2026-11-24T09:00:00Z",
        "data": {
            **_REPORT_DATA,
            "status": "partially_actioned",
            "previous_status": "in_review",
            "decision": {
                "outcome": "partially_actioned",
                "summary": "One item removed.",
                "decided_at": "2026-11-24T09:00:00Z",
            },
            "items": [
                {
                    "item_id": "itm_01",
                    "url": "https://www.facebook.com/post/1",
                    "decision": {
                        "outcome": "actioned",
                        "actions_taken": ["remove"],
                        "reason": None,
                        "decided_at": "2026-11-24T09:00:00Z",
                    },
                }
            ],
        },
    },
    "evidence.received": {
        "id": "evt_000000000004",
        "type": "evidence.received",
        "timestamp": "2026-11-23T10:20:00Z",
        "data": {
            "report_id": "rpt_01",
            "evidence": {
                "id": "evd_01",
                "report_id": "rpt_01",
                "filename": "screenshot.png",
                "content_type": "image/png",
                "size": 1234,
                "sha256": "a" * 64,
                "relevance": "primary",
                "captured_at": None,
                "received_at": "2026-11-23T10:20:00Z",
            },
        },
    },
    "report.brand_new_type": {
        "id": "evt_000000000005",
        "type": "report.brand_new_type",
        "timestamp": "2026-11-23T10:25:00Z",
        "data": {"anything": [1, 2, 3]},
    },
}


@pytest.fixture
def secret() -> str:
    """The endpoint's current secret."""
    return SECRET


@pytest.fixture
def old_secret() -> str:
    """The secret being rotated out."""
    return OLD_SECRET


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def now_seconds() -> int:
    return NOW_SECONDS


@pytest.fixture
def events() -> dict[str, dict[str, Any]]:
    """One Event payload per kind, by type; ``report.brand_new_type`` is unknown to the SDK."""
    copy: dict[str, dict[str, Any]] = json.loads(json.dumps(EVENTS))  # a deep copy each time
    return copy


@pytest.fixture
def sign_headers() -> Callable[..., dict[str, str]]:
    """``sign_headers(body, webhook_id=..., offset=seconds from NOW, secrets=...)``."""

    def make(
        body: bytes, webhook_id: str = "msg_test", *, offset: int = 0, secrets: Any = SECRET
    ) -> dict[str, str]:
        return build_headers(secrets, webhook_id, body, timestamp=NOW_SECONDS + offset)

    return make


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


@pytest.fixture
def guard() -> MemoryReplayGuard:
    return MemoryReplayGuard()


@pytest.fixture
def verifier(clock: Callable[[], datetime], guard: MemoryReplayGuard) -> WebhookVerifier:
    return WebhookVerifier(SECRET, clock=clock, replay_guard=guard)


@pytest.fixture
def body() -> bytes:
    return json.dumps(EVENTS["report.submitted"]).encode()


@pytest.fixture
def headers(body: bytes) -> dict[str, str]:
    return build_headers(SECRET, "msg_0001", body, timestamp=NOW_SECONDS)
