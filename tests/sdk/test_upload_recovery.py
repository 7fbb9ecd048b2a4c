"""``client.evidence.upload`` when things go wrong between calls: the caller's file object, a
source that changes, a locked or failed upload on the server, and the metadata of a resumed
upload; both clients, against the in-process tus server of `sdk.tus_support`."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from crs_sdk import (
    APIError,
    DuplicateEvidenceError,
    EvidenceFile,
    EvidenceRelevance,
    IncompleteReportError,
    IntegrityError,
    IntegrityMismatchError,
    InvalidTransitionError,
    MemoryResumeStore,
    RetryPolicy,
    ServiceUnavailableError,
)
from crs_sdk._resources import _evidence, _filing
from crs_sdk._upload_source import LocalFile, content_size
from sdk.test_upload import (
    CHUNK,
    MiB,
    NonSeekable,
    call,
    close,
    interrupted,
    make_client,
    report_create,
    upload,
    write,
)
from sdk.tus_support import (
    TusServer,
    completion_fails,
    corrupt,
    lose_response,
    problem,
    status,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_retry_waits", "cache_home")]


# --- the caller's file object -------------------------------------------------------------------


async def test_a_file_object_is_put_back_where_it_was_read_from(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(2 * CHUNK + 10)
    file = io.BytesIO(data)
    file.seek(10)
    await upload(flavour, server, file, filename="x.mp4")
    assert file.tell() == 10


async def test_calling_again_with_a_file_object_resumes_the_whole_file(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(4 * CHUNK + 10)
    file = io.BytesIO(data)
    file.seek(10)
    for n in range(2, 10):
        server.faults[n] = status(503, "service_unavailable")
    store = MemoryResumeStore()
    with pytest.raises(ServiceUnavailableError):
        await upload(
            flavour,
            server,
            file,
            filename="x.mp4",
            resume_store=store,
            client_options={"retry": RetryPolicy(max_attempts=2)},
        )
    assert file.tell() == 10  # also after a failure
    server.faults.clear()
    evidence = await upload(flavour, server, file, filename="x.mp4", resume_store=store)
    assert evidence.size == len(data) - 10
    assert evidence.sha256 == hashlib.sha256(data[10:]).hexdigest()
    assert len(server.requests("POST")) == 1  # the same upload, resumed


async def test_a_file_object_the_caller_closed_meanwhile_is_left_alone(
    flavour: str, server: TusServer
) -> None:
    file = io.BytesIO(os.urandom(2 * CHUNK))

    def close_it(sent: int, total: int) -> None:
        if sent == total:
            file.close()

    await upload(flavour, server, file, filename="x.mp4", progress=close_it)
    assert file.closed


# --- a source that changes ----------------------------------------------------------------------


async def test_a_source_that_got_shorter_is_an_integrity_error_and_ends_the_upload(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    path, data = write(tmp_path, 3 * CHUNK)
    store = MemoryResumeStore()

    def shrink(sent: int, total: int) -> None:
        if sent == CHUNK:
            path.write_bytes(data[: CHUNK + 100])

    with pytest.raises(IntegrityError, match="changed while uploading") as info:
        await upload(flavour, server, path, progress=shrink, resume_store=store)
    assert not isinstance(info.value, IntegrityMismatchError)
    assert info.value.local_sha256 == hashlib.sha256(data).hexdigest()
    assert store._urls == {}  # nothing to resume: the file is not what was declared


# --- the metadata of a resumed upload -----------------------------------------------------------


async def test_a_call_with_other_metadata_does_not_resume_the_first_calls_upload(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(3 * CHUNK)
    store = MemoryResumeStore()
    await interrupted(
        flavour, server, data, store, filename="draft.png", relevance=EvidenceRelevance.SUPPORTING
    )
    captured = datetime(2026, 11, 22, 21, 42, tzinfo=timezone.utc)
    evidence = await upload(
        flavour, server, data, filename="final.mp4", captured_at=captured, resume_store=store
    )
    assert (evidence.filename, evidence.content_type, evidence.relevance) == (
        "final.mp4",
        "video/mp4",
        EvidenceRelevance.PRIMARY,
    )
    assert evidence.captured_at == captured
    assert len(server.requests("POST")) == 2  # a new upload, with this call's metadata
    assert len(store._urls) == 1  # the first call's point stays, for a call with its metadata


# --- an upload another request still holds -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("invalid_transition", InvalidTransitionError),
        ("duplicate_evidence", DuplicateEvidenceError),
    ],
)
async def test_other_conflicts_of_a_chunk_are_final(
    flavour: str, server: TusServer, code: str, error: type[Exception]
) -> None:
    server.faults[1] = status(409, code)
    with pytest.raises(error):
        await upload(flavour, server, b"abc", filename="x.mp4")
    assert server.patch_count == 1
    assert server.requests("HEAD") == []


# --- an upload that failed on its last byte -----------------------------------------------------


def fail_upload(server: TusServer, upload_id: str, code: str) -> None:
    status_code = 422 if code == "integrity_mismatch" else 409
    server.uploads[upload_id].failure = problem(status_code, code)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("integrity_mismatch", IntegrityMismatchError),
        ("duplicate_evidence", DuplicateEvidenceError),
        ("invalid_transition", InvalidTransitionError),
    ],
)
async def test_resuming_a_failed_upload_raises_its_problem_and_forgets_it(
    flavour: str, server: TusServer, code: str, error: type[APIError]
) -> None:
    data = os.urandom(2 * CHUNK)
    store = MemoryResumeStore()
    await interrupted(flavour, server, data, store)
    fail_upload(server, "upl_1", code)
    with pytest.raises(error, match=code) as info:
        await upload(flavour, server, data, filename="x.mp4", resume_store=store)
    assert info.value.status_code == 410
    assert info.value.code == code
    assert len(server.requests("POST")) == 1  # not started again: it would fail the same way
    assert store._urls == {}


async def test_a_lost_answer_to_a_failed_last_chunk_raises_its_problem(
    flavour: str, server: TusServer
) -> None:
    data = bytearray(os.urandom(3 * CHUNK))
    declared = hashlib.sha256(data).hexdigest()
    seen: list[int] = []

    def tamper(sent: int, total: int) -> None:
        seen.append(sent)
        if sent == CHUNK:
            data[-1] ^= 1  # the file changes: the chunk checksums pass, the whole file does not

    server.faults[3] = lose_response()
    store = MemoryResumeStore()
    with pytest.raises(IntegrityMismatchError) as info:
        await upload(flavour, server, data, filename="x.mp4", progress=tamper, resume_store=store)
    assert info.value.local_sha256 == declared
    assert [m for m, _, _ in server.requests("POST") + server.requests("HEAD")] == ["POST", "HEAD"]
    assert len(server.requests("PATCH")) == 3  # not sent again under a hash known to be wrong
    assert seen == [CHUNK, 2 * CHUNK]
    assert store._urls == {}


# --- the same content twice in one create_and_submit --------------------------------------------


async def test_create_and_submit_refuses_the_same_content_twice_before_creating(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    path, data = write(tmp_path, CHUNK, name="profile-screenshot.png")
    files = [
        path,
        EvidenceFile(b"other", filename="notes.txt"),
        EvidenceFile(io.BytesIO(data), filename="copy.png", relevance="supporting"),
    ]
    client = make_client(flavour, server)
    try:
        with pytest.raises(ValueError, match="same content") as info:
            await call(client, "reports.create_and_submit", report_create(), files)
    finally:
        await close(client)
    assert "evidence[0] ('profile-screenshot.png')" in str(info.value)
    assert "evidence[2] ('copy.png')" in str(info.value)
    assert server.log == []  # no report was created


async def test_create_and_submit_hashes_only_files_of_equal_size(
    flavour: str, server: TusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[bytes] = []
    real = _filing.content_sha256

    def spy(source: Any, **options: Any) -> str:
        hashed.append(bytes(source))
        return real(source, **options)

    monkeypatch.setattr(_filing, "content_sha256", spy)
    files = [
        EvidenceFile(content, filename=f"{n}.txt")
        for n, content in enumerate([b"ab", b"abc", b"cd"])
    ]
    client = make_client(flavour, server)
    try:
        report = await call(client, "reports.create_and_submit", report_create(), files)
    finally:
        await close(client)
    assert report.evidence_count == 3
    assert hashed == [b"ab", b"cd"]


@pytest.mark.parametrize("lost_answer", [False, True])
async def test_create_and_submit_refuses_a_stream_that_repeats_a_file_it_attached(
    flavour: str, server: TusServer, *, lost_answer: bool
) -> None:
    data = os.urandom(100)
    files = [
        EvidenceFile(data, filename="shot.png"),
        EvidenceFile(NonSeekable(data), filename="again.png"),  # cannot be compared in advance
    ]
    if lost_answer:
        # The repeat's last chunk is stored (and refused as a duplicate), its answer lost: the
        # HEAD that follows answers 410 with Upload-Error, which names no existing evidence.
        server.faults[2] = lose_response()
    client = make_client(flavour, server)
    try:
        with pytest.raises(IncompleteReportError) as info:
            await call(client, "reports.create_and_submit", report_create(), files)
    finally:
        await close(client)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError)
    assert "'shot.png'" in str(cause)
    assert (info.value.step, info.value.file_index) == ("evidence", 1)
    assert "evidence[1] ('again.png') failed" in str(info.value)
    # No key was given: the one the SDK made is the one to call again with.
    key = info.value.idempotency_key
    assert key is not None
    assert f"Call again with idempotency_key={key!r}" in str(info.value)
    assert [h["idempotency-key"] for _, p, h in server.log if p.endswith("/reports")] == [
        f"{key}:create"
    ]
    assert isinstance(cause.__cause__, DuplicateEvidenceError)
    assert cause.__cause__.local_sha256 == hashlib.sha256(data).hexdigest()
    assert (cause.__cause__.existing_evidence_id is None) is lost_answer
    assert [p for _, p, _ in server.log if p.endswith("/submit")] == []


# --- cancelled during the first pass ------------------------------------------------------------


async def test_an_async_upload_cancelled_during_the_first_pass_stops_and_closes_the_file(
    server: TusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = write(tmp_path, CHUNK)
    reading, release, closed = threading.Event(), threading.Event(), threading.Event()
    closed_files: list[LocalFile] = []
    real_open, real_close = _evidence.open_source, LocalFile.close

    def slow_open(source: Any, chunk_size: int, **options: Any) -> LocalFile:
        reading.set()
        release.wait(10)
        return real_open(source, chunk_size, **options)

    def spy_close(self: LocalFile) -> None:
        real_close(self)
        closed_files.append(self)
        closed.set()

    monkeypatch.setattr(_evidence, "open_source", slow_open)
    monkeypatch.setattr(LocalFile, "close", spy_close)
    client = make_client("async", server)
    try:
        task = asyncio.ensure_future(call(client, "evidence.upload", "rpt_1", path))
        assert await asyncio.to_thread(reading.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert await asyncio.to_thread(closed.wait, 10)
    finally:
        release.set()
        await close(client)
    assert closed_files[0]._file is not None
    assert closed_files[0]._file.closed
    assert closed_files[0].size == 0  # told to stop: nothing more was read
    assert server.requests("POST") == []


class Gated(io.BytesIO):
    """A file object whose ``times``-th read at ``block_at`` waits until the test opens ``gate``."""

    def __init__(self, data: bytes, *, block_at: int, times: int = 1) -> None:
        super().__init__(data)
        self.block_at, self.times, self.reads_there = block_at, times, 0
        self.blocked, self.gate, self.released = threading.Event(), threading.Event(), []
        self.reads: list[int] = []  # where each read started

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(self.tell())
        if self.tell() == self.block_at:
            self.reads_there += 1
            if self.reads_there == self.times:
                self.blocked.set()
                self.released.append(self.gate.wait(10))
        return super().read(size)


async def test_calling_again_after_a_cancel_during_the_first_pass_reads_the_same_bytes(
    server: TusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancelled call's worker thread is still reading the object when the next call starts:
    the next call waits for it (in its own worker thread), then reads from the same position."""
    data = os.urandom(3 * MiB)
    file = Gated(data, block_at=10 + MiB)  # the first pass's second block
    file.seek(10)
    second_opens = threading.Event()
    opens: list[object] = []
    real_open = _evidence.open_source

    def spy_open(*args: Any, **options: Any) -> LocalFile:
        opens.append(args[0])
        if len(opens) == 2:
            second_opens.set()
        return real_open(*args, **options)

    monkeypatch.setattr(_evidence, "open_source", spy_open)
    client = make_client("async", server)
    options: dict[str, Any] = {"filename": "x.mp4", "chunk_size": MiB, "resume_store": None}
    try:
        first = asyncio.ensure_future(call(client, "evidence.upload", "rpt_1", file, **options))
        assert await asyncio.to_thread(file.blocked.wait, 10)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first  # at once, although its worker thread is blocked in a read
        again = asyncio.ensure_future(call(client, "evidence.upload", "rpt_1", file, **options))
        assert await asyncio.to_thread(second_opens.wait, 10)
        file.gate.set()
        evidence = await again
    finally:
        file.gate.set()
        await close(client)
    assert evidence.size == len(data) - 10
    assert evidence.sha256 == hashlib.sha256(data[10:]).hexdigest()
    assert file.tell() == 10
    assert len(server.requests("POST")) == 1


async def test_a_server_holding_every_byte_without_evidence_is_asked_to_complete(
    flavour: str, server: TusServer
) -> None:
    """The last chunk was stored but the evidence not made (``500``): the ``HEAD`` after it
    shows every byte and no evidence. One empty ``PATCH`` at the end completes the upload; the
    call ended with a DecodeError and dropped its resume point."""
    data = os.urandom(2 * CHUNK + 7)
    server.faults[3] = completion_fails()
    evidence = await upload(flavour, server, data, filename="x.mp4")
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    patches = server.requests("PATCH")
    assert len(patches) == 4
    assert patches[-1][2]["upload-offset"] == str(len(data))
    assert patches[-1][2]["content-length"] == "0"


async def test_a_cancelled_create_and_submit_stops_hashing_its_files(server: TusServer) -> None:
    """Files of equal size are hashed before the report is created (duplicates are refused),
    in a thread of its own. Once the call is cancelled, that thread reads nothing more."""
    data = os.urandom(3 * MiB)
    first = Gated(data, block_at=MiB)  # the hash's second block
    second = Gated(os.urandom(3 * MiB), block_at=-1)
    files = [EvidenceFile(first, filename="a.mp4"), EvidenceFile(second, filename="b.mp4")]
    client = make_client("async", server)
    try:
        call_task = asyncio.ensure_future(
            call(client, "reports.create_and_submit", report_create(), files)
        )
        assert await asyncio.to_thread(first.blocked.wait, 10)
        call_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call_task
        first.gate.set()
        # The thread lets go of the object once it stopped: then the size can be asked.
        assert await asyncio.to_thread(content_size, first) == len(data)
    finally:
        first.gate.set()
        await close(client)
    assert first.reads == [0, MiB]  # not the third block
    assert second.reads == []
    assert server.requests("POST") == []


async def test_calling_again_after_a_cancel_while_a_chunk_is_hashed_again_reads_the_same_bytes(
    server: TusServer,
) -> None:
    """After a 460 the chunk is hashed again in a worker thread; the call is cancelled while that
    thread reads. It reads nothing more once the call is over, and the next call waits for it."""
    data = os.urandom(3 * MiB)
    file = Gated(data, block_at=10, times=3)  # the first pass, the PATCH, then the hash again
    file.seek(10)
    server.faults[1] = corrupt()
    client = make_client("async", server)
    options: dict[str, Any] = {"filename": "x.mp4", "chunk_size": 2 * MiB, "resume_store": None}
    try:
        first = asyncio.ensure_future(call(client, "evidence.upload", "rpt_1", file, **options))
        assert await asyncio.to_thread(file.blocked.wait, 10)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert file.released == []  # cancelled at once, although its thread is blocked in a read
        blocked = len(file.reads) - 1
        again = asyncio.ensure_future(call(client, "evidence.upload", "rpt_1", file, **options))
        file.gate.set()
        evidence = await again
    finally:
        file.gate.set()
        await close(client)
    assert file.reads[blocked + 1] == 10  # the next read is the next call's: the thread stopped
    assert evidence.sha256 == hashlib.sha256(data[10:]).hexdigest()
    assert file.tell() == 10


def test_more_uploads_of_one_file_object_than_the_executor_has_threads_all_finish(
    server: TusServer,
) -> None:
    """A call that waits for a file object another upload reads waits in a thread of its own. In
    the loop's default executor, enough waiters left the reading upload no thread to read its
    chunks with, and every one of them waited for ever."""
    data = os.urandom(3 * CHUNK + 5)
    file = io.BytesIO(data)

    async def main() -> list[Any]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        client: Any = make_client("async", server)
        try:
            uploads = [
                client.evidence.upload(
                    f"rpt_{n}", file, filename="same.mp4", chunk_size=CHUNK, resume_store=None
                )
                for n in range(5)
            ]
            # A bound, not a wait: five uploads of 200 KiB take well under a second.
            return list(await asyncio.wait_for(asyncio.gather(*uploads), timeout=60))
        finally:
            await client.aclose()

    evidence = asyncio.run(main())
    assert [item.sha256 for item in evidence] == [hashlib.sha256(data).hexdigest()] * 5
    assert file.tell() == 0
