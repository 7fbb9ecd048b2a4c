"""A write the server acknowledged survives SIGKILL, and no half-written change survives either.

The real server runs as a subprocess on a SQLite file (loopback only). Threads create reports as
fast as they can and record every id the server acknowledged with a 201; the process is killed
mid-flight, restarted on the same file, and every acknowledged report must be there with its
``report.created`` event, and every report with an event (and vice versa).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_mock import ServerProcess
from crs_mock._store import Store
from mock.mock_support import report_body

if TYPE_CHECKING:
    from pathlib import Path

WRITERS = 4
PER_WRITER = 150
KILL_AFTER = 60


def token(base_url: str) -> str:
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("demo-agency", "demo-secret"),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def collect(client: httpx.Client, path: str, cursor_param: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.get(path, params=params).raise_for_status().json()
        items.extend(page["data"])
        if page["next_cursor"] is None:
            return items
        params[cursor_param] = page["next_cursor"]


@pytest.mark.timeout(120)
def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "crs-mock.sqlite3"
    acknowledged: list[str] = []
    progress = threading.Condition()
    stop = threading.Event()

    with ServerProcess(db) as server:
        base_url = server.base_url
        headers = {"Authorization": f"Bearer {token(base_url)}"}

        def write(writer: int) -> None:
            with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
                for n in range(PER_WRITER):
                    if stop.is_set():
                        return
                    body = report_body(client_reference=f"W{writer}-{n}")
                    try:
                        response = client.post("/v1/reports", json=body)
                    except httpx.TransportError:
                        return  # the server is gone
                    if response.status_code == 201:
                        with progress:
                            acknowledged.append(response.json()["id"])
                            progress.notify_all()

        writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for thread in writers:
            thread.start()
        with progress:
            assert progress.wait_for(lambda: len(acknowledged) >= KILL_AFTER, timeout=60)
        server.kill()
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
        assert all(not thread.is_alive() for thread in writers)

    survivors = set(acknowledged)
    assert len(survivors) >= KILL_AFTER
    with (
        ServerProcess(db) as server,
        httpx.Client(
            base_url=server.base_url,
            headers=headers,
            timeout=10,  # the old token survived too
        ) as client,
    ):
        reports = collect(client, "/v1/reports", "cursor")
        events = collect(client, "/v1/events", "after")

    report_ids = [report["id"] for report in reports]
    created = [event["data"]["report_id"] for event in events if event["type"] == "report.created"]
    assert survivors <= set(report_ids), "an acknowledged report was lost"
    assert sorted(created) == sorted(report_ids), "a report without its event, or the reverse"
    assert len(set(report_ids)) == len(report_ids)
    assert len(report_ids) <= WRITERS * PER_WRITER
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()


def _synchronous(store: Store) -> int:
    with store.transaction() as tx:
        row = tx.one("PRAGMA synchronous")
    assert row is not None
    return int(row[0])


def test_only_non_durable_transactions_skip_the_sync(tmp_path: Path) -> None:
    """Platform state commits with ``synchronous = FULL`` (2); a ``durable=False`` transaction
    (the journal's) with ``NORMAL`` (1), and the next one is ``FULL`` again, also after an error."""
    store = Store(tmp_path / "mock.sqlite3")
    try:
        assert _synchronous(store) == 2
        with store.transaction(durable=False) as tx:
            row = tx.one("PRAGMA synchronous")
            assert row is not None
            assert row[0] == 1
        assert _synchronous(store) == 2
        with pytest.raises(RuntimeError), store.transaction(durable=False):
            raise RuntimeError
        assert _synchronous(store) == 2
    finally:
        store.close()
