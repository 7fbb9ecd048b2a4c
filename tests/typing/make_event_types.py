"""Checked by mypy (``nox -s typecheck``), never run: what the public API's types promise.

``make_event`` is overloaded on the event type: ``make_event("report.decided").data.decision`` is
no mypy error (``Event`` is a union, which needed an isinstance check in every typed test).
"""

from __future__ import annotations

from typing_extensions import assert_type

from crs_sdk import EventType, EvidenceReceivedEvent, ReportDecidedEvent, ReportEvent
from crs_sdk.testing import make_event

decided = make_event("report.decided")
assert_type(decided, ReportDecidedEvent)
assert_type(make_event(EventType.EVIDENCE_RECEIVED), EvidenceReceivedEvent)
assert_type(make_event("report.submitted"), ReportEvent)
outcome = decided.data.decision.outcome  # no union to narrow first
