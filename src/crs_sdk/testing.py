"""Helpers for testing code that uses the SDK.

Turn retry and polling waits off so that tests run fast, in the style of ``stamina.set_testing``::

    import crs_sdk.testing

    crs_sdk.testing.set_testing(True)  # for a whole test session (e.g. in conftest.py)

    with crs_sdk.testing.no_retry_waits():  # or for one block
        ...

Waits that are skipped still count against deadlines (``RetryPolicy.deadline``, the ``timeout`` of
``reports.wait``, which counts the retry waits of its polls too), so a test of a deadline finishes
at once and behaves as it would in real time.
The hooks and log lines still report the wait the SDK would have made.

Models for tests, realistic and valid, built with the SDK's own converter (random ids and client
references, so calls never collide); keyword arguments override fields::

    report = crs_sdk.testing.make_report(status=ReportStatus.SUBMITTED)
    draft = crs_sdk.testing.make_report_create(priority=Priority.HIGH, escalation_reason="...")
    event = crs_sdk.testing.make_event("report.decided", report_id=report.id)

And signed webhook deliveries, for tests of a receiver::

    body, headers = crs_sdk.testing.signed_webhook(event, "whsec_...")
    response = test_client.post("/crs/webhooks", content=body, headers=headers)

This module imports no test framework and nothing of the mock server.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import TYPE_CHECKING, Any

from crs_sdk._converter import unstructure
from crs_sdk._factories import make_event, make_report, make_report_create
from crs_sdk._retry import is_testing, set_testing
from crs_sdk.webhooks import build_headers

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from datetime import datetime

    from crs_sdk._models import Event

__all__ = [
    "is_testing",
    "make_event",
    "make_report",
    "make_report_create",
    "no_retry_waits",
    "set_testing",
    "signed_webhook",
]


@contextlib.contextmanager
def no_retry_waits() -> Iterator[None]:
    """Turn waits off inside the block and restore the previous setting after it."""
    previous = is_testing()
    set_testing(True)
    try:
        yield
    finally:
        set_testing(previous)


def signed_webhook(
    event: Event | Mapping[str, Any] | bytes | str,
    secret: str | Sequence[str],
    *,
    webhook_id: str | None = None,
    timestamp: int | datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a Standard Webhooks delivery of `event`, signed with `secret`.

    Args:
        event: An SDK event model, its JSON as a dict, or the exact body.
        secret: The endpoint's ``whsec_`` secret, or several (as during a rotation).
        webhook_id: The ``webhook-id``; a new random one if omitted (``None``). An empty one is
            kept, to test a receiver's refusal of it.
        timestamp: The ``webhook-timestamp``; now if omitted.

    Returns:
        The body bytes, and the ``webhook-*`` headers plus ``content-type``.

    .. versionadded:: 0.1.0
    """
    if isinstance(event, bytes):
        body = event
    elif isinstance(event, str):
        body = event.encode()
    else:
        payload = event if isinstance(event, dict) else unstructure(event)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    if webhook_id is None:  # "" is a webhook-id to test a receiver with, not "any id"
        webhook_id = f"msg_{secrets.token_hex(12)}"
    headers = build_headers(secret, webhook_id, body, timestamp)
    return body, {**headers, "content-type": "application/json"}
