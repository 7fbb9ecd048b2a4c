"""What happens to fault-rule counts and journal entries when the store is busy as they are made.

"Busy" is deterministic here: a thread of the test holds the store's lock (as another request's
transaction would) until the test lets it go, and the test knows when the code under test asked
for the lock. A "kill" is a second platform opened on the file while the first was never closed;
a "clean stop" is `MockPlatform.close`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from crs_mock import FaultRule, JournalFilter, MockPlatform, ReviewClock, create_app
from crs_mock._faults import RequestInfo
from crs_mock._journal import JournalEntry
from mock.mock_support import AGENCIES, START

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from crs_mock._store import Store

#: Generous: the waits below end as soon as what they wait for happens.
TIMEOUT = 30.0
GET_REPORT = RequestInfo("GET", "/v1/reports/rpt_1", "getReport", "demo-agency")


class _WatchedLock:
    """A store's lock that tells when it is asked for."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.asked = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.asked.set()
        acquired: bool = self.lock.acquire(blocking, timeout)
        return acquired

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@contextmanager
def busy(store: Store) -> Iterator[threading.Event]:
    """Another thread holds `store`'s lock until the block ends; yields an event set once the
    lock is asked for meanwhile."""
    real = store.lock
    watched = _WatchedLock(real)
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with real:
            held.set()
            done.wait(TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(TIMEOUT)
    store.lock = watched  # type: ignore[assignment]
    try:
        yield watched.asked
    finally:
        store.lock = real
        done.set()
        holder.join(TIMEOUT)


@contextmanager
def platform_on(db: Path) -> Iterator[MockPlatform]:
    app = create_app(db=db, agencies=AGENCIES, clock=ReviewClock(start=START, frozen=True))
    platform: MockPlatform = app.state.mock
    try:
        yield platform
    finally:
        platform.close()


def entry(request_id: str) -> JournalEntry:
    return JournalEntry(
        id=request_id,
        method="GET",
        path="/v1/reports",
        query=None,
        request_headers={},
        request_body_size=0,
        operation_id="listReports",
        status_code=200,
        response_body_size=2,
        client_id="demo-agency",
        idempotency_key=None,
        idempotent_replayed=False,
        fault_id=None,
        fault_action=None,
        received_ms=0,
        duration_ms=1.0,
    )


# -- fault rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["kill", "clean"])
def test_a_rule_that_fired_while_the_store_was_busy_does_not_fire_after_a_restart(
    tmp_path: Path, stop: str
) -> None:
    db = tmp_path / "mock.sqlite3"
    with platform_on(db) as first:
        rule = first.faults.add(
            FaultRule(action="error", status=503, operation_id="getReport", next_n=1)
        )
        with ThreadPoolExecutor(1) as pool:
            with busy(first.store) as asked:
                selected = pool.submit(first.faults.select, GET_REPORT)
                assert asked.wait(TIMEOUT)
            fault = selected.result(TIMEOUT)  # the fault is handed out once the store is free
        assert fault is not None
        assert fault.rule_id == rule.id
        if stop == "kill":
            with platform_on(db) as second:
                assert second.faults.select(GET_REPORT) is None
                [restored] = second.faults.list()
                assert (restored.hits, restored.remaining) == (1, 0)
    with platform_on(db) as restarted:
        assert restarted.faults.select(GET_REPORT) is None


def test_matches_counted_while_the_store_was_busy_survive_a_clean_stop(tmp_path: Path) -> None:
    db = tmp_path / "mock.sqlite3"
    with platform_on(db) as first:
        first.faults.add(FaultRule(action="error", status=503, every_nth=2))
        with busy(first.store) as asked:
            assert first.faults.select(GET_REPORT) is None  # match 1: no fault, no waiting
            assert asked.is_set()
    with platform_on(db) as restarted:
        [restored] = restarted.faults.list()
        assert (restored.matches, restored.hits) == (1, 0)
        assert restarted.faults.select(GET_REPORT) is not None  # match 2


# -- the journal --------------------------------------------------------------------------------


def record_while_busy(platform: MockPlatform) -> list[JournalEntry]:
    """One entry written, then three recorded while the store is busy: those three are pending."""
    platform.journal.record(entry("req_written"))
    with busy(platform.store) as asked:
        pending = [platform.journal.record(entry(f"req_pending_{n}")) for n in range(3)]
        assert asked.is_set()
    return pending


def test_entries_recorded_while_the_store_was_busy_survive_a_clean_stop(tmp_path: Path) -> None:
    db = tmp_path / "mock.sqlite3"
    with platform_on(db) as first:
        pending = record_while_busy(first)
    with platform_on(db) as restarted:
        restarted.journal.record(entry("req_after"))
        stored = restarted.journal.query(JournalFilter())
    assert [e.sequence for e in pending] == [2, 3, 4]
    assert [(e.id, e.sequence) for e in stored] == [
        ("req_written", 1),
        *((e.id, e.sequence) for e in pending),
        ("req_after", 5),  # a clean stop gives back the numbers it reserved
    ]


def test_sequence_numbers_are_not_handed_out_again_after_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "mock.sqlite3"
    with platform_on(db) as first:
        lost = record_while_busy(first)
        with platform_on(db) as second:  # the first never wrote its pending entries
            after = second.journal.record(entry("req_after_kill"))
            stored = second.journal.query(JournalFilter())
    assert [e.id for e in stored] == ["req_written", "req_after_kill"]
    assert after.sequence > max(e.sequence for e in lost)
