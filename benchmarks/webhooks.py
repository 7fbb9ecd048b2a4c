"""Webhook verification rate: `WebhookVerifier` against the ``standardwebhooks`` reference library.

Both verify the same real deliveries: ``report.decided`` events of about 1 KiB, signed now with
one secret, each with its own ``webhook-id``. Two figures:

- verification proper: the headers, the timestamp's tolerance and the HMAC-SHA256 signature
  (constant-time compare), nothing else: ``verify_signature_only`` against the reference's
  ``verify(..., json_parse=False)``;
- verification and decoding, what a receiver calls: ``verify``, which returns a typed event,
  against the reference's ``verify``, which returns ``json.loads`` of the body. Reported without
  a target: decoding into typed classes is more work than ``json.loads``.

The SDK's replay guard is off (the reference has none).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from standardwebhooks import Webhook

from benchmarks._measure import paired_rounds
from benchmarks._results import Row, Target
from crs_sdk import ReportDecidedEvent
from crs_sdk.webhooks import WebhookVerifier, build_headers, generate_secret

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from benchmarks._scale import Scale
    from benchmarks._server import StateDirs

TARGET = Target(">=", 1.0)
#: Distinct deliveries; a round verifies them over and over.
DELIVERIES = 256

Delivery = tuple[bytes, dict[str, str]]


def _event(number: int) -> bytes:
    """A ``report.decided`` event of about 1 KiB, as the platform sends it."""
    decided_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    event = {
        "id": f"evt_{number:020d}",
        "type": "report.decided",
        "timestamp": decided_at,
        "data": {
            "report_id": f"rpt_{number:020x}",
            "client_reference": f"CP-2026-{number:06d}",
            "status": "partially_actioned",
            "previous_status": "in_review",
            "decision": {
                "outcome": "partially_actioned",
                "summary": "One item was removed under the child safety policy and preserved "
                "for law enforcement; the other item is no longer available on the platform.",
                "decided_at": decided_at,
            },
            "items": [
                {
                    "item_id": f"itm_{number:016x}{item:04x}",
                    "url": f"https://www.instagram.com/p/C7q{number:08d}{item}/",
                    "decision": {
                        "outcome": outcome,
                        "actions_taken": actions,
                        "reason": reason,
                        "decided_at": decided_at,
                    },
                }
                for item, (outcome, actions, reason) in enumerate(
                    [
                        ("actioned", ["remove", "preserve"], "Child sexual exploitation policy"),
                        ("content_unavailable", [], "Deleted by its owner before review"),
                    ]
                )
            ],
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def deliveries(secret: str, count: int = DELIVERIES) -> list[Delivery]:
    """``count`` signed deliveries, timestamped now."""
    signed = []
    for number in range(count):
        body = _event(number)
        signed.append((body, build_headers(secret, f"msg_{number:024d}", body)))
    return signed


def _rate(
    verify: Callable[[bytes, dict[str, str]], object], batch: Sequence[Delivery], n: int
) -> Callable[[], float]:
    """A round: ``n`` verifications, cycling through ``batch``; verifications per second."""

    def measure() -> float:
        started = time.perf_counter()
        for number in range(n):
            body, headers = batch[number % len(batch)]
            verify(body, headers)
        return n / (time.perf_counter() - started)

    return measure


def run(scale: Scale, _dirs: StateDirs) -> list[Row]:
    secret = generate_secret()
    batch = deliveries(secret)
    verifier = WebhookVerifier(secret)
    reference = Webhook(secret)
    # The two agree on every delivery before anything is timed.
    for body, headers in batch:
        event = verifier.verify(body, headers)
        if not isinstance(event, ReportDecidedEvent) or reference.verify(body, headers) is None:
            raise AssertionError("the deliveries do not verify")
    size = sum(len(body) for body, _ in batch) / len(batch)

    def reference_signature_only(body: bytes, headers: dict[str, str]) -> object:
        return reference.verify(body, headers, json_parse=False)

    signature = paired_rounds(
        scale.webhook_rounds,
        _rate(verifier.verify_signature_only, batch, scale.webhooks),
        _rate(reference_signature_only, batch, scale.webhooks),
    )
    decoded = paired_rounds(
        scale.webhook_rounds,
        _rate(verifier.verify, batch, scale.webhooks),
        _rate(reference.verify, batch, scale.webhooks),
    )
    return [
        Row(
            figure=f"webhook verification ({size / 1024:.1f} KiB events)",
            candidate=signature.candidate_median,
            baseline=signature.baseline_median,
            unit="/s",
            ratio=signature.ratio,
            target=TARGET,
            data={"verifications_per_second": signature.as_json(), "body_bytes": size},
        ),
        Row(
            figure="webhook verification + decoding (typed event vs dict)",
            candidate=decoded.candidate_median,
            baseline=decoded.baseline_median,
            unit="/s",
            ratio=decoded.ratio,
            detail="not the same work (typed attrs event vs json.loads); no target",
            data={"verifications_per_second": decoded.as_json(), "body_bytes": size},
        ),
    ]
