"""The review simulation: scheduled status changes on the virtual clock, and scenario outcomes.

Every status change goes through `Review.move`, which records it (history, row, event) and replaces
the report's pending review job with the one its new status calls for. Jobs are rows with a virtual
``due_ms``; `Review.run_due` applies every job that is due, oldest first, one transaction each,
stamping each change with its *due* time (not the time it was noticed), so advancing the clock by an
hour gives the same history as waiting an hour.

Default timings (`ReviewTimings`), seconds of virtual time after entering the status:

==============  ============  ============  =========
priority        submitted →   acknowledged  in_review
                acknowledged  → in_review   → decided
==============  ============  ============  =========
``standard``    1             1             3
``high``        0.5           0.5           1.5
``urgent``      0.25          0.25          0.5
==============  ============  ============  =========

A ``draft`` not updated for ``draft_expiry`` (24 h) becomes ``expired``. An open information request
has no deadline (``due_at`` is ``null``); the report waits for the response.

Scenario markers, matched case-insensitively anywhere in an item's URL:

- ``needs-info``: the report goes to ``info_requested`` once instead of being decided; after the
  response it is reviewed again and decided.
- ``no-violation`` -> item ``no_action``; ``unavailable`` -> ``content_unavailable``; ``reject`` ->
  ``rejected`` (checked in that order); anything else -> ``actioned``.

The report's outcome: if every item has the same outcome, that outcome; otherwise
``partially_actioned`` if any item was actioned; otherwise the most common item outcome, ties going
to the first of ``no_action``, ``rejected``, ``content_unavailable``.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crs_mock._clock import ReviewClock, format_ms
from crs_mock._lifecycle import (
    StoredReport,
    load_report,
    new_id,
    record_transition,
    require_status,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from crs_mock._store import Store, Transaction

__all__ = [
    "FORCIBLE",
    "ITEM_OUTCOMES",
    "MAX_DELAY",
    "Review",
    "ReviewTimings",
    "StageDelays",
    "clear_decisions",
    "derive_outcome",
    "scenario_outcome",
]

ITEM_OUTCOMES = ("actioned", "no_action", "rejected", "content_unavailable")
_TIE_ORDER = ("no_action", "rejected", "content_unavailable")
_SCENARIOS = (
    ("no-violation", "no_action"),
    ("unavailable", "content_unavailable"),
    ("reject", "rejected"),
)
_REASONS = {
    "actioned": "The content breaks the platform's policies or the law cited; the requested "
    "actions were taken.",
    "no_action": "No breach of the platform's policies or of the law cited was found.",
    "rejected": "The report could not be accepted for this item.",
    "content_unavailable": "The content was no longer available when it was reviewed.",
}
NEEDS_INFO_QUESTION = (
    "Please explain how the reported content relates to the category and legal basis given, "
    "and add any evidence that shows it."
)
#: Statuses a forced decision or information request may start from, and the steps to get there.
FORCIBLE = frozenset({"submitted", "acknowledged", "in_review"})


#: The longest finite delay of a review stage or of a draft's life (seconds): ten years.
MAX_DELAY = 10 * 365 * 24 * 3600.0


def _check_delay(name: str, value: float) -> None:
    if not (0 <= value <= MAX_DELAY or value == math.inf):  # also refuses nan
        raise ValueError(
            f"{name} must be 0 to {MAX_DELAY:g} seconds, or math.inf for never; not {value!r}"
        )


@dataclass(frozen=True)
class StageDelays:
    """Seconds of virtual time spent in each review stage: 0 to ten years, or `math.inf` for a
    stage the review never leaves by itself (a forced decision or information request still
    moves it on).

    Raises:
        ValueError: A delay is negative, NaN, or finite and over ten years.
    """

    acknowledge: float
    start_review: float
    decide: float

    def __post_init__(self) -> None:
        for name in ("acknowledge", "start_review", "decide"):
            _check_delay(name, getattr(self, name))


@dataclass(frozen=True)
class ReviewTimings:
    """Review stage delays per priority, and how long an untouched draft lives (`draft_expiry`:
    0 to ten years, or `math.inf` for drafts that never expire).

    Raises:
        ValueError: `draft_expiry` is negative, NaN, or finite and over ten years.
    """

    standard: StageDelays = field(default_factory=lambda: StageDelays(1.0, 1.0, 3.0))
    high: StageDelays = field(default_factory=lambda: StageDelays(0.5, 0.5, 1.5))
    urgent: StageDelays = field(default_factory=lambda: StageDelays(0.25, 0.25, 0.5))
    draft_expiry: float = 24 * 3600.0

    def __post_init__(self) -> None:
        _check_delay("draft_expiry", self.draft_expiry)

    def for_priority(self, priority: str) -> StageDelays:
        delays: StageDelays = getattr(self, priority, self.standard)
        return delays


def scenario_outcome(url: str) -> str:
    """The item outcome a URL's scenario marker asks for (``actioned`` without one)."""
    lowered = url.lower()
    return next((outcome for marker, outcome in _SCENARIOS if marker in lowered), "actioned")


def derive_outcome(item_outcomes: list[str]) -> str:
    """The report's decided status for its items' outcomes (rule in the module docstring)."""
    distinct = set(item_outcomes)
    if len(distinct) == 1:
        return item_outcomes[0]
    if "actioned" in distinct:
        return "partially_actioned"
    counts = Counter(item_outcomes)
    return max(_TIE_ORDER, key=lambda outcome: (counts[outcome], -_TIE_ORDER.index(outcome)))


def _summary(item_outcomes: list[str]) -> str:
    counts = Counter(item_outcomes)
    parts = [f"{counts[o]} {o.replace('_', ' ')}" for o in ITEM_OUTCOMES if counts[o]]
    noun = "item" if len(item_outcomes) == 1 else "items"
    return f"Decision on {len(item_outcomes)} {noun}: {', '.join(parts)}."


class Review:
    """Schedules and applies the review of submitted reports."""

    def __init__(self, store: Store, clock: ReviewClock, timings: ReviewTimings) -> None:
        self._store = store
        self._clock = clock
        self.timings = timings
        #: Never later than the earliest due job (None: no jobs); read without the store lock.
        self.next_due_ms: int | None = None
        self._wakers: list[Callable[[], None]] = []
        self._run_lock = threading.Lock()
        self.refresh()

    def add_waker(self, waker: Callable[[], None]) -> None:
        """Call `waker` whenever a job may have become due earlier than before."""
        self._wakers.append(waker)

    def remove_waker(self, waker: Callable[[], None]) -> None:
        self._wakers.remove(waker)

    def refresh(self) -> None:
        with self._store.transaction() as tx:
            self._refresh_hint(tx)

    def _refresh_hint(self, tx: Transaction) -> None:
        row = tx.one("SELECT min(due_ms) AS due FROM review_jobs")
        self.next_due_ms = None if row is None else row["due"]

    # -- status changes ---------------------------------------------------------------------------

    def move(
        self,
        tx: Transaction,
        report: StoredReport,
        *,
        to: str,
        at_ms: int,
        event_type: str,
        note: str | None = None,
        event_data: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the transition and schedule what the new status leads to."""
        record_transition(
            tx, report, to=to, at_ms=at_ms, event_type=event_type, note=note, event_data=event_data
        )
        self._schedule(tx, report, at_ms)

    def schedule_new(self, tx: Transaction, report: StoredReport, at_ms: int) -> None:
        """Schedule the first job of a report just created."""
        self._schedule(tx, report, at_ms)

    def _schedule(self, tx: Transaction, report: StoredReport, at_ms: int) -> None:
        tx.execute("DELETE FROM review_jobs WHERE report_id = ?", (report.id,))
        delays = self.timings.for_priority(report.document["priority"])
        plan = {
            "draft": ("expire", self.timings.draft_expiry),
            "submitted": ("acknowledge", delays.acknowledge),
            "acknowledged": ("start_review", delays.start_review),
            "in_review": ("decide", delays.decide),
        }.get(report.status)
        if plan is None:
            return
        kind, delay = plan
        if delay == math.inf:  # this stage is never left by itself
            return
        due_ms = at_ms + math.ceil(delay * 1000)
        tx.execute(
            "INSERT INTO review_jobs (report_id, kind, due_ms) VALUES (?, ?, ?)",
            (report.id, kind, due_ms),
        )
        if self.next_due_ms is None or due_ms < self.next_due_ms:
            self.next_due_ms = due_ms
            for waker in self._wakers:
                tx.after_commit(waker)

    def request_info(
        self,
        tx: Transaction,
        report: StoredReport,
        *,
        at_ms: int,
        question: str,
        due_ms: int | None = None,
    ) -> None:
        info_request = {
            "id": new_id("inf"),
            "question": question,
            "requested_at": format_ms(at_ms),
            "due_at": None if due_ms is None else format_ms(due_ms),
        }
        report.document["info_request"] = info_request
        report.info_requests += 1
        self.move(
            tx,
            report,
            to="info_requested",
            at_ms=at_ms,
            event_type="report.info_requested",
            note=question,
            event_data={"info_request": info_request},
        )

    def decide(
        self,
        tx: Transaction,
        report: StoredReport,
        *,
        at_ms: int,
        outcomes: Mapping[str, str] | None = None,
        summary: str | None = None,
    ) -> None:
        """Decide every item and the report.

        Items take their outcome from `outcomes` (item id -> outcome), else from their URL's
        scenario marker; the report's outcome follows from the items (rule in the module docstring).
        """
        decided_at = format_ms(at_ms)
        items = report.document["items"]
        chosen = [
            (outcomes or {}).get(item["id"]) or scenario_outcome(item["url"]) for item in items
        ]
        for item, outcome in zip(items, chosen, strict=True):
            item["decision"] = {
                "outcome": outcome,
                "actions_taken": list(report.document["requested_actions"])
                if outcome == "actioned"
                else [],
                "reason": _REASONS[outcome],
                "decided_at": decided_at,
            }
        decision = {
            "outcome": derive_outcome(chosen),
            "summary": summary or _summary(chosen),
            "decided_at": decided_at,
        }
        report.document["decision"] = decision
        report.document["info_request"] = None
        self.move(
            tx,
            report,
            to=decision["outcome"],
            at_ms=at_ms,
            event_type="report.decided",
            note=decision["summary"],
            event_data={
                "decision": decision,
                "items": [
                    {"item_id": item["id"], "url": item["url"], "decision": item["decision"]}
                    for item in items
                ],
            },
        )

    def bring_to_review(self, tx: Transaction, report: StoredReport, *, at_ms: int) -> None:
        """Walk a submitted or acknowledged report through the stages it skips, to ``in_review``."""
        require_status(report, FORCIBLE, "force a review outcome on")
        if report.status == "submitted":
            self.move(tx, report, to="acknowledged", at_ms=at_ms, event_type="report.acknowledged")
        if report.status == "acknowledged":
            self.move(tx, report, to="in_review", at_ms=at_ms, event_type="report.in_review")

    # -- applying due jobs ------------------------------------------------------------------------

    def run_due(self) -> int:
        """Apply every job due by now, oldest first; the number applied."""
        hint = self.next_due_ms
        now = self._clock.now_ms()
        if hint is None or hint > now:
            return 0
        applied = 0
        with self._run_lock:
            while True:
                with self._store.transaction() as tx:
                    job = tx.one(
                        "SELECT seq, report_id, kind, due_ms FROM review_jobs WHERE due_ms <= ? "
                        "ORDER BY due_ms, seq LIMIT 1",
                        (now,),
                    )
                    if job is None:
                        self._refresh_hint(tx)
                        return applied
                    tx.execute("DELETE FROM review_jobs WHERE seq = ?", (job["seq"],))
                    self._apply(tx, job["kind"], job["report_id"], job["due_ms"])
                applied += 1

    def _apply(self, tx: Transaction, kind: str, report_id: str, at_ms: int) -> None:
        report = load_report(tx, report_id, None)
        if kind == "acknowledge" and report.status == "submitted":
            self.move(tx, report, to="acknowledged", at_ms=at_ms, event_type="report.acknowledged")
        elif kind == "start_review" and report.status == "acknowledged":
            self.move(tx, report, to="in_review", at_ms=at_ms, event_type="report.in_review")
        elif kind == "decide" and report.status == "in_review":
            wants_info = any(
                "needs-info" in item["url"].lower() for item in report.document["items"]
            )
            if wants_info and report.info_requests == 0:
                self.request_info(tx, report, at_ms=at_ms, question=NEEDS_INFO_QUESTION)
            else:
                self.decide(tx, report, at_ms=at_ms)
        elif kind == "expire" and report.status == "draft":
            self._expire(tx, report, at_ms)

    def _expire(self, tx: Transaction, report: StoredReport, at_ms: int) -> None:
        row = tx.one("SELECT updated_ms FROM reports WHERE id = ?", (report.id,))
        if row is None:  # pragma: no cover - loaded just before, in the same transaction
            raise RuntimeError(f"report {report.id} vanished")
        if self.timings.draft_expiry == math.inf:  # a job of a run with other timings
            return
        if row["updated_ms"] + math.ceil(self.timings.draft_expiry * 1000) > at_ms:
            self._schedule(tx, report, row["updated_ms"])  # touched since: wait again
            return
        self.move(tx, report, to="expired", at_ms=at_ms, event_type="report.expired")


def clear_decisions(report: StoredReport) -> None:
    report.document["decision"] = None
    for item in report.document["items"]:
        item["decision"] = None
