"""A reset deletes evidence files of what it removed, never those of uploads going on meanwhile.

Per-agency resets let test suites that share a server run in parallel, so another agency's upload
may start, write or finish while one runs. The reset is paused between deciding what to delete and
deleting it (a hook, not timing), and the other agency's upload runs in that window. An upload
removed (reset, expiry) between its last chunk's commit and its completion is paused the same way.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import TYPE_CHECKING, Any

import pytest

from mock.mock_support import assert_problem, serving
from mock.upload_support import OCTETS, finish_upload, start_upload, tus_http

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import httpx

    from crs_mock import MockPlatform, ThreadedServer

PATIENCE = 20.0
CHUNK = 64 * 1024


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    """A server of its own: resets here would disturb the module's other tests."""
    yield from serving()


@pytest.fixture
def platform(server: ThreadedServer) -> MockPlatform:
    mock: MockPlatform = server.app.state.mock
    return mock


@pytest.fixture
def demo(server: ThreadedServer) -> Iterator[httpx.Client]:
    with tus_http(server.base_url) as http:
        yield http


@pytest.fixture
def other(server: ThreadedServer) -> Iterator[httpx.Client]:
    with tus_http(server.base_url, "other-agency") as http:
        yield http


class Paused:
    """Runs a call in a thread that stops in ``owner.hook`` until released: before the real
    call, or (`after`) once it returned."""

    def __init__(self, owner: Any, hook: str, *, after: bool = False) -> None:
        self.reached, self.go_on = threading.Event(), threading.Event()
        real: Callable[..., Any] = getattr(owner, hook)

        def paused(*args: Any) -> Any:
            result = real(*args) if after else None
            self.reached.set()
            assert self.go_on.wait(PATIENCE)
            return result if after else real(*args)

        setattr(owner, hook, paused)

    def run(self, call: Callable[[], object]) -> threading.Thread:
        thread = threading.Thread(target=call)
        thread.start()
        assert self.reached.wait(PATIENCE)
        return thread

    def release(self, thread: threading.Thread) -> None:
        self.go_on.set()
        thread.join(PATIENCE)
        assert not thread.is_alive()


def upload(http: httpx.Client, data: bytes, reference: str) -> str:
    """`data` as evidence of a new report; its report's id."""
    report_id, location = start_upload(http, data, reference)
    finish_upload(http, location, data)
    return report_id


def half_upload(http: httpx.Client, data: bytes, reference: str) -> tuple[str, str]:
    """A new upload of `data` with its first `CHUNK` bytes acknowledged: report id, location."""
    report_id, location = start_upload(http, data, reference)
    first = http.patch(
        location, content=data[:CHUNK], headers={"Upload-Offset": "0", "Content-Type": OCTETS}
    )
    assert first.status_code == 204, first.text
    return report_id, location


def upload_id(location: str) -> str:
    return location.rsplit("/", 1)[-1]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_agencys_reset_deletes_its_files_only_even_those_of_uploads_meanwhile(
    platform: MockPlatform, demo: httpx.Client, other: httpx.Client
) -> None:
    blobs = platform.uploads.blobs
    shared, own = os.urandom(1000), os.urandom(1000)
    upload(other, shared, "CP-OTHER-1")
    upload(other, own, "CP-OTHER-2")
    _, others_open = half_upload(other, os.urandom(2 * CHUNK), "CP-OTHER-3")
    pause = Paused(platform.uploads, "forget")
    resetting = pause.run(lambda: platform.reset("other-agency"))

    # While the reset decided what to delete but did not yet: the demo agency uploads the same
    # bytes as the other's evidence (the stored file exists: it is not stored again), and starts
    # another upload whose first chunk is acknowledged.
    upload(demo, shared, "CP-DEMO-1")
    data = os.urandom(2 * CHUNK)
    report_id, location = half_upload(demo, data, "CP-DEMO-2")
    pause.release(resetting)

    assert blobs.has_blob(sha256(shared))  # the demo agency's evidence refers to it
    assert not blobs.has_blob(sha256(own))
    assert not blobs.partial_path(upload_id(others_open)).exists()
    assert blobs.partial_path(upload_id(location)).exists()
    assert demo.head(location).headers["upload-offset"] == str(CHUNK)
    finish_upload(demo, location, data)
    listed = demo.get(f"/v1/reports/{report_id}/evidence").json()["data"]
    assert [e["sha256"] for e in listed] == [sha256(data)]


def test_a_full_reset_deletes_no_file_that_appears_while_it_collects(
    platform: MockPlatform, demo: httpx.Client, other: httpx.Client
) -> None:
    blobs = platform.uploads.blobs
    old = os.urandom(1000)
    upload(other, old, "CP-OLD")
    _, old_open = half_upload(other, os.urandom(2 * CHUNK), "CP-OLD-OPEN")
    pause = Paused(blobs, "listing", after=True)
    resetting = pause.run(platform.reset)

    # After the reset's directory listing: an upload is finished, another one started.
    finished = os.urandom(1000)
    upload(demo, finished, "CP-NEW-1")
    data = os.urandom(2 * CHUNK)
    report_id, location = half_upload(demo, data, "CP-NEW-2")
    pause.release(resetting)

    assert not blobs.has_blob(sha256(old))
    assert not blobs.partial_path(upload_id(old_open)).exists()
    assert blobs.has_blob(sha256(finished))
    assert blobs.partial_path(upload_id(location)).exists()
    finish_upload(demo, location, data)
    listed = demo.get(f"/v1/reports/{report_id}/evidence").json()["data"]
    assert [e["sha256"] for e in listed] == [sha256(data)]


def test_a_chunk_of_an_upload_deleted_meanwhile_leaves_no_file(
    platform: MockPlatform, demo: httpx.Client
) -> None:
    """The reset deletes the upload after the ``PATCH`` checked it and before it opened (and so
    created) the upload's file: the chunk is a 404 and the file goes with it."""
    blobs = platform.uploads.blobs
    data = os.urandom(CHUNK)
    _, location = start_upload(demo, data, "CP-GONE")
    pause = Paused(blobs, "open_partial")
    answers: list[httpx.Response] = []
    patching = pause.run(
        lambda: answers.append(
            demo.patch(
                location, content=data, headers={"Upload-Offset": "0", "Content-Type": OCTETS}
            )
        )
    )
    platform.reset("demo-agency")
    pause.release(patching)

    assert_problem(answers[0], 404, "not_found")
    assert not blobs.partial_path(upload_id(location)).exists()


def reset(platform: MockPlatform, _upload_id: str) -> None:
    platform.reset("demo-agency")


def expire(platform: MockPlatform, upload_id: str) -> None:
    """The upload's ``Upload-Expires`` comes, and a sweep marks it expired."""
    with platform.store.transaction() as tx:
        now = platform.clock.now_ms()
        tx.execute("UPDATE uploads SET expires_ms = ? WHERE id = ?", (now, upload_id))
    platform.uploads.sweep()


#: How an upload is removed, and the problem its last ``PATCH`` is then.
REMOVALS = {"reset": (reset, 404, "not_found"), "expiry": (expire, 410, "upload_expired")}


@pytest.mark.parametrize("removal", REMOVALS)
@pytest.mark.parametrize("moment", ["before-commit", "before-hashing", "after-hashing"])
def test_an_upload_removed_before_its_completion_is_the_problem_its_state_calls_for(
    platform: MockPlatform, demo: httpx.Client, removal: str, moment: str
) -> None:
    """A reset or an expiry removed the upload (and its file) while its last chunk was committed
    or became evidence: the last ``PATCH`` is that problem, not a 500."""
    remove, status, code = REMOVALS[removal]
    blobs = platform.uploads.blobs
    data = os.urandom(CHUNK)
    _, location = start_upload(demo, data, "CP-REMOVED")
    if moment == "before-commit":
        pause = Paused(platform.uploads, "commit_append")
    elif moment == "before-hashing":
        pause = Paused(platform.uploads, "complete")
    else:
        pause = Paused(blobs, "hash_partial", after=True)
    answers: list[httpx.Response] = []
    patching = pause.run(
        lambda: answers.append(
            demo.patch(
                location, content=data, headers={"Upload-Offset": "0", "Content-Type": OCTETS}
            )
        )
    )
    remove(platform, upload_id(location))
    pause.release(patching)

    assert_problem(answers[0], status, code)
    assert not blobs.partial_path(upload_id(location)).exists()
    assert not blobs.has_blob(sha256(data))
