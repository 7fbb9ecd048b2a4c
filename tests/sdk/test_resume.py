"""Resume stores: the protocol, the in-memory store and the JSON file store."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING

import pytest

import crs_sdk.testing
from crs_sdk import CRSClient, FileResumeStore, MemoryResumeStore, ResumeStore, _resume
from crs_sdk._resume import default_resume_path
from sdk.tus_support import BASE, SyncTus, TusServer

if TYPE_CHECKING:
    from pathlib import Path

URL = "https://crs.test/v1/uploads/upl_1"


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ResumeStore:
    if request.param == "memory":
        return MemoryResumeStore()
    return FileResumeStore(tmp_path / "uploads.json")


def test_round_trip(store: ResumeStore) -> None:
    assert store.get("k") is None
    store.set("k", URL)
    assert store.get("k") == URL
    store.set("k", URL + "2")
    assert store.get("k") == URL + "2"
    store.delete("k")
    assert store.get("k") is None
    store.delete("k")  # forgetting twice is fine


def test_the_stores_follow_the_protocol(store: ResumeStore) -> None:
    assert isinstance(store, ResumeStore)


def test_file_store_survives_a_new_instance(tmp_path: Path) -> None:
    FileResumeStore(tmp_path / "uploads.json").set("k", URL)
    assert FileResumeStore(tmp_path / "uploads.json").get("k") == URL


def test_file_holds_only_urls_and_times(tmp_path: Path) -> None:
    path = tmp_path / "uploads.json"
    FileResumeStore(path, clock=lambda: 1000.0).set("base rpt_1 sha256:ab 3", URL)
    assert json.loads(path.read_text()) == {
        "version": 1,
        "uploads": {"base rpt_1 sha256:ab 3": {"url": URL, "stored_at": 1000.0}},
    }


def test_file_is_written_atomically(tmp_path: Path) -> None:
    store = FileResumeStore(tmp_path / "cache" / "uploads.json")
    store.set("a", URL)
    store.set("b", URL)
    store.delete("a")
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert names == ["uploads.json", "uploads.json.lock"]  # no temporary file left behind


@pytest.mark.parametrize(
    "content", ["", "not json", "[]", '{"uploads": 3}', '{"uploads": {"k": 1}}']
)
def test_unreadable_file_reads_as_empty(tmp_path: Path, content: str) -> None:
    path = tmp_path / "uploads.json"
    path.write_text(content)
    store = FileResumeStore(path)
    assert store.get("k") is None
    store.set("j", URL)
    assert store.get("j") == URL


def test_old_entries_expire(tmp_path: Path) -> None:
    now = [0.0]
    store = FileResumeStore(tmp_path / "uploads.json", ttl=100, clock=lambda: now[0])
    store.set("old", URL)
    now[0] = 50
    store.set("new", URL)
    now[0] = 120
    assert store.get("old") is None
    assert store.get("new") == URL
    store.set("newest", URL)  # a write drops the expired entries from the file
    assert "old" not in (tmp_path / "uploads.json").read_text()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "uploads.json"

    def writer(n: int) -> None:
        store = FileResumeStore(path)
        for i in range(20):
            store.set(f"{n}-{i}", URL)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(json.loads(path.read_text())["uploads"]) == 80


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_resume_path() == tmp_path / "crs-sdk" / "uploads.json"
    assert FileResumeStore().path == tmp_path / "crs-sdk" / "uploads.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_resume_path().parts[-3:] == (".cache", "crs-sdk", "uploads.json")


def test_nothing_is_touched_before_the_first_call(tmp_path: Path) -> None:
    FileResumeStore(tmp_path / "sub" / "uploads.json")
    assert list(tmp_path.iterdir()) == []


def test_reprs(tmp_path: Path) -> None:
    memory = MemoryResumeStore()
    memory.set("k", URL)
    assert URL not in repr(memory)
    assert "uploads.json" in repr(FileResumeStore(tmp_path / "uploads.json"))


class BrokenStore:
    def get(self, key: str) -> str | None:
        raise OSError("read-only file system")

    def set(self, key: str, url: str) -> None:
        raise OSError("read-only file system")

    def delete(self, key: str) -> None:
        raise OSError("read-only file system")


def test_a_failing_store_does_not_fail_the_upload(caplog: pytest.LogCaptureFixture) -> None:
    server = TusServer()
    with (
        crs_sdk.testing.no_retry_waits(),
        CRSClient(BASE, client_id="a", client_secret="s", transport=SyncTus(server)) as client,
        caplog.at_level(logging.WARNING, logger="crs_sdk"),
    ):
        evidence = client.evidence.upload(
            "rpt_1", b"data", filename="x.txt", resume_store=BrokenStore()
        )
    assert evidence.size == 4
    assert "resume store" in caplog.text


def test_read_only_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = FileResumeStore(blocker / "uploads.json")
    assert store.get("k") is None
    with pytest.raises(OSError):
        store.set("k", URL)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_process_forked_while_another_thread_writes_the_store_can_use_it(
    tmp_path: Path,
) -> None:
    """The threads' lock was held by a thread of the parent at the fork: in the child, where that
    thread does not exist, the first use of a store waited for ever."""
    store = FileResumeStore(tmp_path / "resume.json")
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with _resume._LOCK.lock:
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(30)
        pid = os.fork()
        if pid == 0:  # the child: a bound on its wait, then the store
            signal.alarm(20)
            try:
                store.set("key", "https://crs.test/v1/uploads/upl_1")
                os._exit(0 if store.get("key") == "https://crs.test/v1/uploads/upl_1" else 3)
            except BaseException:
                os._exit(4)
    finally:
        release.set()
        thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
