"""Replay guards: TTL, purging, forgetting, threads, and processes sharing one SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from crs_sdk.webhooks import (
    DEFAULT_REPLAY_TTL,
    DEFAULT_TOLERANCE,
    MemoryReplayGuard,
    ReplayedWebhookError,
    ReplayGuard,
    SQLiteReplayGuard,
    WebhookVerifier,
    build_headers,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

T0 = datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite"])
def make_guard(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., ReplayGuard]]:
    opened: list[SQLiteReplayGuard] = []

    def make(ttl: timedelta | float = DEFAULT_REPLAY_TTL) -> ReplayGuard:
        if request.param == "memory":
            return MemoryReplayGuard(ttl=ttl)
        guard = SQLiteReplayGuard(tmp_path / f"ids-{len(opened)}.sqlite3", ttl=ttl)
        opened.append(guard)
        return guard

    yield make
    for guard in opened:
        guard.close()


def test_default_ttl_covers_both_tolerance_windows() -> None:
    assert timedelta(minutes=5) == DEFAULT_TOLERANCE
    assert timedelta(minutes=11) == DEFAULT_REPLAY_TTL
    assert DEFAULT_REPLAY_TTL > 2 * DEFAULT_TOLERANCE


def test_guards_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryReplayGuard(), ReplayGuard)
    with SQLiteReplayGuard(tmp_path / "ids.sqlite3") as guard:
        assert isinstance(guard, ReplayGuard)


def test_seen_records_then_detects(make_guard: Callable[..., ReplayGuard]) -> None:
    guard = make_guard()
    assert guard.seen("msg_1", T0) is False
    assert guard.seen("msg_1", T0 + timedelta(seconds=1)) is True
    assert guard.seen("msg_2", T0) is False


def test_ids_expire_after_the_ttl(make_guard: Callable[..., ReplayGuard]) -> None:
    guard = make_guard(ttl=60)
    assert guard.seen("msg_1", T0) is False
    assert guard.seen("msg_1", T0 + timedelta(seconds=59)) is True
    assert guard.seen("msg_1", T0 + timedelta(seconds=60)) is False  # expired, recorded again
    assert guard.seen("msg_1", T0 + timedelta(seconds=61)) is True


def test_forget_releases_an_id(make_guard: Callable[..., ReplayGuard]) -> None:
    guard = make_guard()
    assert guard.seen("msg_1", T0) is False
    guard.forget("msg_1")
    guard.forget("msg_never_seen")
    assert guard.seen("msg_1", T0) is False
    assert guard.seen("msg_1", T0) is True


@pytest.mark.parametrize("ttl", [0, -1, timedelta(0)])
def test_ttl_must_be_positive(ttl: float, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        MemoryReplayGuard(ttl=ttl)
    with pytest.raises(ValueError, match="positive"):
        SQLiteReplayGuard(tmp_path / "ids.sqlite3", ttl=ttl)


@pytest.mark.parametrize(
    ("ttl", "error", "says"),
    [
        (float("nan"), ValueError, "ttl must be a finite number of seconds, got nan"),
        (float("inf"), ValueError, "ttl must be a finite number of seconds, got inf"),
        (1e20, ValueError, "ttl must be a finite number of seconds, got 1e"),
        ("660", TypeError, "ttl must be a timedelta or seconds, not str"),
    ],
)
def test_a_ttl_that_is_no_duration_is_named(
    ttl: Any, error: type[Exception], says: str, tmp_path: Path
) -> None:
    """Before the fix: ``cannot convert float NaN to integer`` and the like, from timedelta."""
    with pytest.raises(error, match=says):
        MemoryReplayGuard(ttl=ttl)
    with pytest.raises(error, match=says):
        SQLiteReplayGuard(tmp_path / "ids.sqlite3", ttl=ttl)


def test_memory_guard_purges_expired_ids() -> None:
    guard = MemoryReplayGuard(ttl=60)
    for index in range(1000):
        guard.seen(f"msg_{index}", T0)
    assert "ids=1000" in repr(guard)
    guard.seen("msg_late", T0 + timedelta(seconds=61))
    assert list(guard._expiry) == ["msg_late"]
    assert len(guard._queue) == 1
    assert "ids=1" in repr(guard)


def test_memory_guard_purge_skips_forgotten_and_rerecorded_ids() -> None:
    guard = MemoryReplayGuard(ttl=60)
    guard.seen("msg_1", T0)
    guard.forget("msg_1")
    guard.seen("msg_1", T0 + timedelta(seconds=30))  # expires at T0 + 90 s
    guard.seen("msg_other", T0 + timedelta(seconds=61))  # purges the stale T0 + 60 s entry
    assert guard.seen("msg_1", T0 + timedelta(seconds=89)) is True


def test_sqlite_guard_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ids.sqlite3"
    with SQLiteReplayGuard(path) as guard:
        assert guard.seen("msg_1", T0) is False
        assert guard.path == str(path)
        assert "ids.sqlite3" in repr(guard)
    with SQLiteReplayGuard(path) as guard:
        assert guard.seen("msg_1", T0) is True


def test_sqlite_guard_in_memory() -> None:
    with SQLiteReplayGuard(":memory:") as guard:
        assert guard.seen("msg_1", T0) is False
        assert guard.seen("msg_1", T0) is True


def test_sqlite_guard_purges_old_rows(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "ids.sqlite3"
    with SQLiteReplayGuard(path, ttl=60) as guard:
        for index in range(50):
            guard.seen(f"msg_{index}", T0)
        guard.seen("msg_late", T0 + timedelta(minutes=5))
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT webhook_id FROM webhook_ids").fetchall()
        mode = connection.execute("PRAGMA journal_mode").fetchone()
    assert rows == [("msg_late",)]
    assert mode == ("wal",)


def test_guards_are_atomic_across_threads(make_guard: Callable[..., ReplayGuard]) -> None:
    guard = make_guard()
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        for index in range(100):
            outcome = guard.seen(f"msg_{index}", T0)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(False) == 100  # each id claimed exactly once
    assert results.count(True) == 700


def started_together(scripts: list[list[str]]) -> list[subprocess.Popen[str]]:
    """Python processes running ``scripts`` (``-c`` and its arguments), past their start-up.

    Each script prints ``ready`` once it has imported what it needs, then waits for a line on
    its standard input: every process is sent that line once all of them are ready, so their
    work starts at the same moment, however slow the start-up of one of them. (The scripts
    write nothing else before ``go``, so ``communicate`` later reads the rest of their output
    from the pipe: the ``ready`` line read here left nothing else buffered.)
    """
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", *script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for script in scripts
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n", "a process died before it was ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    return processes


_CLAIMER = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime, timezone
    from crs_sdk.webhooks import SQLiteReplayGuard

    path, count = sys.argv[1], int(sys.argv[2])
    now = datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)
    print("ready", flush=True)
    sys.stdin.readline()  # start together, to contend for the file and the ids
    with SQLiteReplayGuard(path) as guard:
        won = [i for i in range(count) if not guard.seen(f"msg_{i}", now)]
    print(json.dumps(won))
    """
)


def test_sqlite_guard_is_atomic_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"  # created by the processes, concurrently
    processes = started_together([[_CLAIMER, str(path), "200"]] * 4)
    won: list[int] = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        won += json.loads(out)
    assert sorted(won) == list(range(200))  # every id claimed, by exactly one process


def test_two_processes_same_delivery_exactly_one_succeeds(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from datetime import datetime, timezone
        from crs_sdk.webhooks import (
            ReplayedWebhookError, SQLiteReplayGuard, WebhookVerifier, build_headers,
        )

        secret = "whsec_" + "QUJD" * 8
        body = sys.argv[2].encode()
        now = datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)
        headers = build_headers(secret, "msg_shared", body, timestamp=int(now.timestamp()))
        with SQLiteReplayGuard(sys.argv[1]) as guard:
            verifier = WebhookVerifier(secret, clock=lambda: now, replay_guard=guard)
            print("ready", flush=True)
            sys.stdin.readline()  # both deliveries at the same moment
            try:
                verifier.verify(body, headers)
            except ReplayedWebhookError:
                print("replayed")
            else:
                print("accepted")
        """
    )
    path = tmp_path / "shared.sqlite3"
    body = json.dumps(
        {"id": "evt_1", "type": "report.x", "timestamp": "2026-11-23T10:15:00Z", "data": {}}
    )
    SQLiteReplayGuard(path).close()
    processes = started_together([[script, str(path), body]] * 2)
    outcomes = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    assert sorted(outcomes) == ["accepted", "replayed"]


def test_verifier_with_sqlite_guard_refuses_replay(tmp_path: Path) -> None:
    secret = "whsec_" + "QUJD" * 8
    body = b'{"id": "evt_1", "type": "report.x", "timestamp": "2026-11-23T10:15:00Z", "data": {}}'
    headers = build_headers(secret, "msg_1", body, timestamp=int(T0.timestamp()))
    with SQLiteReplayGuard(tmp_path / "ids.sqlite3") as guard:
        verifier = WebhookVerifier(secret, clock=lambda: T0, replay_guard=guard)
        verifier.verify(body, headers)
        with pytest.raises(ReplayedWebhookError):
            verifier.verify(body, headers)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_guard_made_before_a_fork_loses_nothing(tmp_path: Path) -> None:
    """A guard made before ``fork()`` (gunicorn ``--preload``): an SQLite connection must not cross
    the fork. The parent closing its guard while the child goes on (SQLite would checkpoint and
    delete the WAL under the child's feet if they shared one) loses none of the child's ids."""
    path = tmp_path / "ids.sqlite3"
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    guard = SQLiteReplayGuard(path)
    assert guard.seen("msg_parent", now) is False
    parent_reads, child_writes = os.pipe()
    child_reads, parent_writes = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report, then leave without any clean-up
        try:
            answers = [guard.seen("msg_child_1", now)]
            os.write(child_writes, b"1")  # it has used its connection
            os.read(child_reads, 1)  # the parent has closed its guard
            answers += [guard.seen("msg_child_2", now), guard.seen("msg_parent", now)]
            os.write(child_writes, json.dumps(answers).encode())
        finally:
            os._exit(0)
    assert os.read(parent_reads, 1) == b"1"
    guard.close()
    os.write(parent_writes, b"1")
    os.waitpid(child, 0)
    assert json.loads(os.read(parent_reads, 1000)) == [False, False, True]
    with sqlite3.connect(path) as check:
        rows = check.execute("SELECT webhook_id FROM webhook_ids ORDER BY 1").fetchall()
        assert rows == [("msg_child_1",), ("msg_child_2",), ("msg_parent",)]
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
