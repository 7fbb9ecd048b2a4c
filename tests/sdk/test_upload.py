"""``client.evidence``: the tus uploader against a strict in-process tus server, both clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import inspect
import io
import math
import os
import re
import tracemalloc
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_sdk import (
    APIError,
    AsyncCRSClient,
    Category,
    ConflictError,
    ContentType,
    CRSClient,
    DecodeError,
    DuplicateEvidenceError,
    Evidence,
    EvidenceFile,
    EvidenceRelevance,
    FileResumeStore,
    IncompleteReportError,
    IntegrityError,
    IntegrityMismatchError,
    InvalidFieldError,
    MemoryResumeStore,
    Officer,
    Platform,
    ProblemCode,
    ReportCreate,
    ReportItemCreate,
    ReportStatus,
    RequestedAction,
    ResumeStore,
    RetryEvent,
    RetryPolicy,
    ServiceUnavailableError,
    ValidationError,
    ViolationBasis,
)
from crs_sdk._arguments import derived_idempotency_key
from crs_sdk._config import ClientConfig
from crs_sdk._resume import resume_key
from crs_sdk._tus import UploadPlan, checksum_header, encode_metadata, parse_status, upload_path
from crs_sdk._upload import fresh_key
from sdk.tus_support import (
    BASE,
    AsyncTus,
    SyncTus,
    TusServer,
    Upload,
    committed_elsewhere,
    corrupt,
    cut,
    decode_metadata,
    lose_response,
    problem,
    status,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_retry_waits", "cache_home")]

CHUNK = 64 * 1024
MiB = 1024 * 1024


class Crash(Exception):  # noqa: N818 - the name reads as the event
    """Stands for the process dying (raised from the progress callback)."""


def make_client(flavour: str, server: TusServer, **kwargs: Any) -> CRSClient | AsyncCRSClient:
    base_url = kwargs.pop("base_url", BASE)
    if flavour == "sync":
        return CRSClient(
            base_url, client_id="a", client_secret="s", transport=SyncTus(server), **kwargs
        )
    return AsyncCRSClient(
        base_url, client_id="a", client_secret="s", transport=AsyncTus(server), **kwargs
    )


async def call(client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    target = client
    for part in method.split("."):
        target = getattr(target, part)
    result = target(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def close(client: Any) -> None:
    if isinstance(client, AsyncCRSClient):
        await client.aclose()
    else:
        client.close()


async def upload(
    flavour: str,
    server: TusServer,
    source: Any,
    *,
    report_id: str = "rpt_1",
    client_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Evidence:
    kwargs.setdefault("chunk_size", CHUNK)
    kwargs.setdefault("resume_store", MemoryResumeStore())
    client = make_client(flavour, server, **(client_options or {}))
    try:
        evidence: Evidence = await call(client, "evidence.upload", report_id, source, **kwargs)
    finally:
        await close(client)
    return evidence


def write(tmp_path: Path, size: int, name: str = "evidence.mp4") -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def key_of(data: bytes, filename: str = "x.mp4") -> str:
    """The resume key of an upload of ``data`` to ``rpt_1`` with the default metadata."""
    plan = UploadPlan(
        report_id="rpt_1",
        filename=filename,
        content_type="video/mp4",
        relevance=EvidenceRelevance.PRIMARY,
        captured_at=None,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    return resume_key(BASE, "rpt_1", plan.sha256, plan.size, metadata=plan.metadata())


def patch_offsets(server: TusServer) -> list[int]:
    return [int(headers["upload-offset"]) for _, _, headers in server.requests("PATCH")]


# --- the happy path -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, CHUNK, CHUNK + 1, 5 * CHUNK + 3])
async def test_sizes(flavour: str, server: TusServer, tmp_path: Path, size: int) -> None:
    path, data = write(tmp_path, size)
    evidence = await upload(flavour, server, path)

    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert evidence.size == size
    assert evidence.filename == "evidence.mp4"
    assert server.patch_bytes == size
    assert patch_offsets(server) == list(range(0, size, CHUNK))
    assert len(server.requests("PATCH")) == math.ceil(size / CHUNK)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "file", "stream"])
async def test_sources(flavour: str, server: TusServer, tmp_path: Path, kind: str) -> None:
    path, data = write(tmp_path, 3 * CHUNK + 5)
    source: Any
    if kind == "bytes":
        source = data
    elif kind == "bytearray":
        source = bytearray(data)
    elif kind == "file":
        source = path.open("rb")
    else:
        source = NonSeekable(data)
    try:
        evidence = await upload(flavour, server, source, filename="capture.mp4")
    finally:
        if kind == "file":
            source.close()
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert server.patch_bytes == len(data)


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: read only, no seek."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


async def test_file_object_is_read_from_its_position(flavour: str, server: TusServer) -> None:
    data = os.urandom(CHUNK + 10)
    file = io.BytesIO(data)
    file.seek(10)
    evidence = await upload(flavour, server, file, filename="x.mp4")
    assert evidence.size == CHUNK
    assert evidence.sha256 == hashlib.sha256(data[10:]).hexdigest()
    assert not file.closed


async def test_creation_request(flavour: str, server: TusServer, tmp_path: Path) -> None:
    path, data = write(tmp_path, 10, name="shot.png")
    captured = datetime(2026, 11, 22, 21, 42, 13, tzinfo=timezone.utc)
    await upload(
        flavour,
        server,
        path,
        relevance=EvidenceRelevance.SUPPORTING,
        captured_at=captured,
        idempotency_key="key-1",
    )
    (_, url_path, headers) = server.requests("POST")[-1]
    assert url_path == "/v1/reports/rpt_1/evidence"
    assert headers["tus-resumable"] == "1.0.0"
    assert headers["upload-length"] == "10"
    assert headers["idempotency-key"] == "key-1"
    assert decode_metadata(headers["upload-metadata"]) == {
        "filename": "shot.png",
        "content_type": "image/png",
        "sha256": hashlib.sha256(data).hexdigest(),
        "relevance": "supporting",
        "captured_at": "2026-11-22T21:42:13Z",
    }


@pytest.mark.parametrize(
    ("filename", "given", "expected"),
    [
        ("clip.mp4", None, "video/mp4"),
        ("shot.PNG", None, "image/png"),
        ("doc.pdf", "application/x-custom", "application/x-custom"),
        ("capture.bin", "video/mp4", "video/mp4"),
        ("recording", "audio/ogg", "audio/ogg"),
    ],
)
async def test_content_type(
    flavour: str, server: TusServer, filename: str, given: str | None, expected: str
) -> None:
    evidence = await upload(flavour, server, b"abc", filename=filename, content_type=given)
    assert evidence.content_type == expected


@pytest.mark.parametrize("filename", ["notes.weird-ext", "recording", "capture.bin"])
async def test_no_media_type_is_made_up(flavour: str, server: TusServer, filename: str) -> None:
    # Nothing is read or sent: octet-stream would be refused (415) after the whole first pass.
    with pytest.raises(ValueError, match="content_type= is required"):
        await upload(flavour, server, b"abc", filename=filename)
    assert server.log == []


async def test_patch_requests_carry_offset_and_chunk_checksum(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(2 * CHUNK + 1)
    await upload(flavour, server, data, filename="x.mp4")
    patches = server.requests("PATCH")
    for index, (_, url_path, headers) in enumerate(patches):
        chunk = data[index * CHUNK : (index + 1) * CHUNK]
        assert url_path == "/v1/uploads/upl_1"
        assert headers["upload-checksum"] == checksum_header(hashlib.sha256(chunk).digest())
        assert headers["content-type"] == "application/offset+octet-stream"
        assert headers["tus-resumable"] == "1.0.0"
        assert "idempotency-key" not in headers


async def test_progress_is_reported_after_each_chunk(flavour: str, server: TusServer) -> None:
    total = 5 * CHUNK + 3
    seen: list[tuple[int, int]] = []
    await upload(
        flavour,
        server,
        os.urandom(total),
        filename="x.mp4",
        progress=lambda s, t: seen.append((s, t)),
    )
    assert seen == [(min(n * CHUNK, total), total) for n in range(1, 7)]


async def test_uploading_the_same_file_object_from_its_progress_callback_is_refused(
    flavour: str, server: TusServer
) -> None:
    # The nested call would wait for the upload that runs it to put the object back: for ever.
    data = os.urandom(3 * CHUNK)
    file = io.BytesIO(data)
    refused: list[str] = []

    def again(sent: int, total: int) -> None:
        nested = make_client("sync", server)
        try:
            nested.evidence.upload("rpt_2", file, filename="x.mp4", resume_store=None)
        except ValueError as exc:
            refused.append(str(exc))
        finally:
            nested.close()

    evidence = await upload(flavour, server, file, filename="x.mp4", progress=again)
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert len(refused) == 3
    assert "being uploaded by the call that runs this code" in refused[0]
    # Once the upload returned, the same thread or task may upload the object again.
    again_evidence = await upload(flavour, server, file, filename="x.mp4", report_id="rpt_3")
    assert again_evidence.sha256 == evidence.sha256


@pytest.mark.timeout(60)  # the failure it guards against is a wait for ever
def test_an_async_upload_run_from_a_sync_uploads_progress_callback_is_refused(
    server: TusServer,
) -> None:
    """The sync upload waits for its callback, which runs an event loop in the same thread: the
    async upload's claim (made in a thread of its own, for that loop's task) is within the
    holder's upload, and refused rather than waited for."""
    data = os.urandom(2 * CHUNK)
    file = io.BytesIO(data)
    refused: list[str] = []

    def again(sent: int, total: int) -> None:
        async def nested() -> None:
            async with make_client("async", server) as aclient:
                await aclient.evidence.upload("rpt_2", file, filename="x.mp4", resume_store=None)

        try:
            asyncio.run(nested())
        except ValueError as exc:
            refused.append(str(exc))

    with make_client("sync", server) as client:
        evidence = client.evidence.upload(
            "rpt_1", file, filename="x.mp4", chunk_size=CHUNK, resume_store=None, progress=again
        )
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert len(refused) == 2
    assert "being uploaded by the call that runs this code" in refused[0]


async def test_a_task_started_from_the_progress_callback_waits_for_the_file_object(
    server: TusServer,
) -> None:
    """Only the upload's own task is refused the object it holds: a task the callback starts is
    another upload, which waits until the object is put back (it was refused, as a copy of the
    task's context said the object was held)."""
    data = os.urandom(3 * CHUNK)
    file = io.BytesIO(data)
    client: Any = make_client("async", server)
    started: list[asyncio.Task[Evidence]] = []

    def again(sent: int, total: int) -> None:
        if not started:
            upload = client.evidence.upload(
                "rpt_2", file, filename="x.mp4", chunk_size=CHUNK, resume_store=None
            )
            started.append(asyncio.ensure_future(upload))

    try:
        first = await client.evidence.upload(
            "rpt_1", file, filename="x.mp4", chunk_size=CHUNK, resume_store=None, progress=again
        )
        second = await started[0]
    finally:
        await client.aclose()
    assert first.sha256 == second.sha256 == hashlib.sha256(data).hexdigest()
    assert (first.report_id, second.report_id) == ("rpt_1", "rpt_2")


# --- refusals before any request ----------------------------------------------------------------


class TextReader:
    """A file-like object that is no `io.TextIOBase` but reads str (seekable or not)."""

    def __init__(self, text: str, *, seekable: bool) -> None:
        self._text = io.StringIO(text)
        self._seekable = seekable
        self.name = "notes.txt"

    def read(self, size: int = -1) -> str:
        return self._text.read(size)

    def seekable(self) -> bool:
        return self._seekable

    def tell(self) -> int:
        return self._text.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._text.seek(offset, whence)


@pytest.mark.parametrize("kind", ["text file", "str reader", "str stream"])
async def test_a_source_that_reads_text_is_refused_with_what_to_do(
    flavour: str, server: TusServer, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with contextlib.ExitStack() as stack:
        if kind == "text file":
            source: Any = stack.enter_context(path.open())
        else:
            source = TextReader("hello", seekable=kind == "str reader")
        with pytest.raises(TypeError, match=r"binary.*'rb'"):
            await upload(flavour, server, source)
    assert server.requests("POST") == []


async def test_a_progress_callback_that_would_never_run_is_refused(
    flavour: str, server: TusServer
) -> None:
    async def report(sent: int, total: int) -> None:  # its coroutine would never be awaited
        pass

    with pytest.raises(TypeError, match="plain function"):
        await upload(flavour, server, b"data", filename="x.txt", progress=report)
    with pytest.raises(TypeError, match="progress must be callable, not int"):
        await upload(flavour, server, b"data", filename="x.txt", progress=3)
    assert server.requests("POST") == []


async def test_a_bytearray_can_be_resized_after_a_failed_upload(
    flavour: str, server: TusServer
) -> None:
    """The SDK lets go of the caller's buffer when the upload ends, also when the error it
    raised is kept (a logger, a retry loop): the bytearray can be resized again."""
    data = bytearray(os.urandom(3 * CHUNK))
    server.faults[1] = lambda *_: problem(413, "payload_too_large")
    with pytest.raises(APIError) as kept:
        await upload(flavour, server, data, filename="x.mp4", resume_store=None)
    data.extend(b"more")  # BufferError while the SDK held a view of it
    assert kept.value.status_code == 413


@pytest.mark.parametrize("source", [b"", "empty"])
async def test_empty_source_is_refused_before_any_request(
    flavour: str, server: TusServer, tmp_path: Path, source: Any
) -> None:
    if source == "empty":
        source = tmp_path / "empty.png"
        source.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        await upload(flavour, server, source, filename="x.png")
    assert server.log == []


@pytest.mark.parametrize(
    ("source", "kwargs", "error"),
    [
        (b"abc", {}, ValueError),  # bytes need a filename
        (b"abc", {"filename": " "}, ValueError),
        (b"abc", {"filename": "x", "chunk_size": 0}, ValueError),
        (b"abc", {"filename": "x", "chunk_size": True}, ValueError),
        (b"abc", {"filename": "x", "captured_at": datetime(2026, 1, 1)}, ValueError),  # noqa: DTZ001
        (42, {"filename": "x"}, TypeError),
        (io.BytesIO(b"abc"), {}, ValueError),  # an unnamed file object
        # Names and media types the platform refuses: refused before anything is read or sent.
        (b"abc", {"filename": "../x.png"}, ValueError),
        (b"abc", {"filename": "a\\b.png"}, ValueError),
        (b"abc", {"filename": "x\x00.png"}, ValueError),
        (b"abc", {"filename": "x\u0085.png"}, ValueError),
        (b"abc", {"filename": "x" * 252 + ".png"}, ValueError),
        (b"abc", {"filename": "x.png", "content_type": "png"}, ValueError),
        (b"abc", {"filename": "x.png", "content_type": "image/png\n"}, ValueError),
        # A long failing media type is refused at once (no exponential backtracking).
        (
            b"abc",
            {"filename": "x.png", "content_type": "image/png" + "; " * 500 + "\x01"},
            ValueError,
        ),
    ],
)
async def test_bad_arguments(
    flavour: str, server: TusServer, source: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await upload(flavour, server, source, **kwargs)
    assert server.log == []


@pytest.mark.parametrize("name", ["x\ud800.png", "\udcff.png"], ids=["given", "not-utf8-on-disk"])
async def test_a_file_name_without_utf8_form_is_refused_before_any_request(
    flavour: str, server: TusServer, tmp_path: Path, name: str
) -> None:
    # "\udcff" is how Python names a file whose name on disk holds the byte 0xFF (not UTF-8).
    source: Any = b"abc"
    kwargs = {"filename": name}
    if name.startswith("\udcff"):
        source, _ = write(tmp_path, 3, name)
        kwargs = {}
    with pytest.raises(ValueError, match="filename must not contain an unpaired surrogate") as info:
        await upload(flavour, server, source, **kwargs)
    assert not isinstance(info.value, UnicodeError)
    assert server.log == []


@pytest.mark.parametrize(
    ("relevance", "error", "message"),
    [
        ("primary\ud800", ValueError, r"^relevance must not contain an unpaired surrogate"),
        ("prim\x01ary", ValueError, r"^relevance must be a single line .* U\+0001 at index 4"),
        (None, TypeError, r"^relevance must be an EvidenceRelevance or a str, not NoneType"),
    ],
)
async def test_a_relevance_that_cannot_be_sent_is_refused_before_the_source_is_read(
    flavour: str, server: TusServer, relevance: Any, error: type[Exception], message: str
) -> None:
    class Unread(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("the source was read")

        readinto = read  # type: ignore[assignment]

    with pytest.raises(error, match=message) as info:
        await upload(flavour, server, Unread(b"abc"), filename="x.png", relevance=relevance)
    assert not isinstance(info.value, UnicodeError)
    assert server.log == []


# --- recovery -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keep", "error"), [(1000, httpx.ReadError), (0, httpx.RemoteProtocolError)]
)
async def test_connection_cut_mid_chunk_resumes_from_the_server_offset(
    flavour: str, server: TusServer, keep: int, error: type[Exception]
) -> None:
    data = os.urandom(4 * CHUNK)
    server.faults[2] = cut(keep=keep, error=error)
    evidence = await upload(flavour, server, data, filename="x.mp4")

    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert patch_offsets(server) == [0, CHUNK, CHUNK + keep, 2 * CHUNK + keep, 3 * CHUNK + keep]
    assert [m for m, _, _ in server.log if m in {"HEAD", "PATCH"}][:4] == [
        "PATCH",
        "PATCH",
        "HEAD",
        "PATCH",
    ]


async def test_lost_answer_is_not_resent(flavour: str, server: TusServer) -> None:
    data = os.urandom(3 * CHUNK)
    server.faults[1] = lose_response()
    evidence = await upload(flavour, server, data, filename="x.mp4")
    assert evidence.size == len(data)
    assert server.patch_bytes == len(data)  # the stored chunk went over the wire once
    assert patch_offsets(server) == [0, CHUNK, 2 * CHUNK]
    assert len(server.requests("HEAD")) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (corrupt(), "460 checksum_mismatch"),
        # Another request (a stalled one) still holds the upload: the offset did not move.
        (status(409, "upload_offset_mismatch"), "409 upload_offset_mismatch"),
    ],
)
async def test_a_refused_chunk_is_resent_after_the_policys_pause(
    flavour: str, server: TusServer, fault: Any, reason: str
) -> None:
    data = os.urandom(3 * CHUNK)
    server.faults[2] = fault
    events: list[RetryEvent] = []
    policy = RetryPolicy(on_retry=events.append)
    evidence = await upload(
        flavour, server, data, filename="x.mp4", client_options={"retry": policy}
    )
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert patch_offsets(server) == [0, CHUNK, CHUNK, 2 * CHUNK]
    assert server.patch_bytes == len(data) + CHUNK
    assert [(e.attempt, e.method, e.path, e.reason) for e in events] == [
        (2, "PATCH", "/v1/uploads/upl_1", reason)
    ]
    assert events[0].wait > 0  # a counted attempt, after a pause


async def test_server_error_is_retried_after_asking_the_offset(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(2 * CHUNK)
    server.faults[1] = status(503, "service_unavailable")
    evidence = await upload(flavour, server, data, filename="x.mp4")
    assert evidence.size == len(data)
    assert [m for m, _, _ in server.log if m in {"HEAD", "PATCH"}] == [
        "PATCH",
        "HEAD",
        "PATCH",
        "PATCH",
    ]


async def test_a_chunks_attempts_share_its_deadline(flavour: str, server: TusServer) -> None:
    """Each attempt of a chunk is clipped to what is left of the chunk's deadline (not a fresh
    one per attempt); the pauses in between count (skipped in testing mode, but counted)."""

    def busy(server: TusServer, upload: Upload, body: bytes) -> httpx.Response:
        return problem(503, "service_unavailable", retry_after=4)

    server.faults[1] = server.faults[2] = busy
    data = os.urandom(CHUNK)
    policy = RetryPolicy(deadline=30.0)
    await upload(
        flavour,
        server,
        data,
        filename="x.mp4",
        client_options={"timeout": 60.0, "retry": policy},
    )
    first, second, third = server.patch_read_timeouts
    assert first is not None
    assert second is not None
    assert third is not None
    assert 26.0 < first <= 30.0
    assert second <= first - 4.0
    assert third <= first - 8.0


async def test_offset_mismatch_continues_from_the_server_offset(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(3 * CHUNK)
    server.faults[2] = committed_elsewhere()
    evidence = await upload(flavour, server, data, filename="x.mp4")
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert patch_offsets(server) == [0, CHUNK, 2 * CHUNK]


@pytest.mark.parametrize(
    ("code", "error"),
    [(503, ServiceUnavailableError), (409, ConflictError)],
)
async def test_chunk_retries_are_bounded_and_keep_the_resume_point(
    flavour: str, server: TusServer, code: int, error: type[Exception]
) -> None:
    problem_code = "service_unavailable" if code == 503 else "upload_offset_mismatch"
    for n in range(1, 20):
        server.faults[n] = status(code, problem_code)
    store = MemoryResumeStore()
    with pytest.raises(error):
        await upload(
            flavour,
            server,
            b"x" * 10,
            filename="x.mp4",
            resume_store=store,
            client_options={"retry": RetryPolicy(max_attempts=3)},
        )
    assert server.patch_count == 3
    assert store.get(key_of(b"x" * 10))


async def test_not_retryable_chunk_error_is_raised(flavour: str, server: TusServer) -> None:
    server.faults[1] = status(413, "payload_too_large")
    store = MemoryResumeStore()
    with pytest.raises(Exception, match="413"):
        await upload(flavour, server, b"abc", filename="x.mp4", resume_store=store)
    assert server.patch_count == 1
    assert store._urls == {}


# --- resuming across calls ----------------------------------------------------------------------


def crash_after(chunks: int) -> Any:
    def progress(sent: int, total: int) -> None:
        if sent >= chunks * CHUNK:
            raise Crash

    return progress


async def interrupted(
    flavour: str, server: TusServer, data: bytes, store: ResumeStore, **kwargs: Any
) -> None:
    """An upload of ``data`` that stops after its first chunk, its resume point in ``store``."""
    kwargs.setdefault("filename", "x.mp4")
    with pytest.raises(Crash):
        await upload(flavour, server, data, progress=crash_after(1), resume_store=store, **kwargs)


async def test_resume_after_a_process_restart(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    path, data = write(tmp_path, 5 * CHUNK + 3)
    store_file = tmp_path / "resume.json"
    with pytest.raises(Crash):
        await upload(
            flavour, server, path, progress=crash_after(2), resume_store=FileResumeStore(store_file)
        )
    assert server.patch_bytes == 2 * CHUNK
    assert "upl_1" in store_file.read_text()

    # A new process: a new client and a new store object on the same file.
    seen: list[tuple[int, int]] = []
    evidence = await upload(
        flavour,
        server,
        path,
        progress=lambda s, t: seen.append((s, t)),
        resume_store=FileResumeStore(store_file),
    )
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert server.patch_bytes == len(data)  # the second run sent only the rest
    assert len(server.requests("POST")) == 1  # no second upload was created
    assert seen[0] == (2 * CHUNK, len(data))
    assert '"uploads": {}' in store_file.read_text()


async def test_default_store_is_a_file_in_the_user_cache(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    data = os.urandom(2 * CHUNK)
    with pytest.raises(Crash):
        await upload(
            flavour,
            server,
            data,
            filename="x.mp4",
            progress=crash_after(1),
            resume_store=crs_default(),
        )
    stored = (tmp_path / "cache" / "crs-sdk" / "uploads.json").read_text()
    assert "upl_1" in stored
    assert "tok" not in stored
    assert "secret" not in stored
    await upload(flavour, server, data, filename="x.mp4", resume_store=crs_default())
    assert server.patch_bytes == len(data)


def crs_default() -> Any:
    from crs_sdk._config import NOT_GIVEN

    return NOT_GIVEN


async def test_without_a_store_a_new_upload_starts(flavour: str, server: TusServer) -> None:
    data = os.urandom(2 * CHUNK)
    with pytest.raises(Crash):
        await upload(
            flavour, server, data, filename="x.mp4", progress=crash_after(1), resume_store=None
        )
    await upload(flavour, server, data, filename="x.mp4", resume_store=None)
    assert len(server.requests("POST")) == 2
    assert server.patch_bytes == 3 * CHUNK


async def test_same_idempotency_key_leads_back_to_the_same_upload(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(3 * CHUNK)
    with pytest.raises(Crash):
        await upload(
            flavour,
            server,
            data,
            filename="x.mp4",
            progress=crash_after(1),
            resume_store=None,
            idempotency_key="k",
        )
    await upload(flavour, server, data, filename="x.mp4", resume_store=None, idempotency_key="k")
    assert len(server.uploads) == 1
    assert server.patch_bytes == len(data)


@pytest.mark.parametrize("upload_error", [None, "upload_expired"])
async def test_expired_upload_is_forgotten_and_started_again(
    flavour: str, server: TusServer, upload_error: str | None
) -> None:
    data = os.urandom(2 * CHUNK)
    store = MemoryResumeStore()
    if upload_error is not None:  # the contract allows a HEAD to say it so
        server.expired_head_headers = {"Upload-Error": upload_error}
    with pytest.raises(Crash):
        await upload(
            flavour, server, data, filename="x.mp4", progress=crash_after(1), resume_store=store
        )
    server.uploads["upl_1"].expired = True
    evidence = await upload(flavour, server, data, filename="x.mp4", resume_store=store)
    assert evidence.size == len(data)
    assert len(server.requests("POST")) == 2
    assert store._urls == {}


async def test_upload_expiring_mid_way_starts_again_once(flavour: str, server: TusServer) -> None:
    data = os.urandom(3 * CHUNK)
    seen: list[int] = []

    def expire_first_upload(sent: int, total: int) -> None:
        seen.append(sent)
        if sent == CHUNK and "upl_2" not in server.uploads:
            server.uploads["upl_1"].expired = True

    evidence = await upload(
        flavour, server, data, filename="x.mp4", progress=expire_first_upload, resume_store=None
    )
    assert evidence.size == len(data)
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert len(server.requests("POST")) == 2  # a new upload, under a derived key
    assert seen == [CHUNK, 0, CHUNK, 2 * CHUNK, 3 * CHUNK]


async def test_a_new_upload_keeps_a_255_character_key_within_the_limit(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(2 * CHUNK)
    key = "k" * 255

    def expire_first_upload(sent: int, total: int) -> None:
        if sent == CHUNK and "upl_2" not in server.uploads:
            server.uploads["upl_1"].expired = True

    await upload(
        flavour,
        server,
        data,
        filename="x.mp4",
        progress=expire_first_upload,
        resume_store=None,
        idempotency_key=key,
    )
    first, again = (headers["idempotency-key"] for _, _, headers in server.requests("POST"))
    assert first == key
    assert again != key
    assert 1 <= len(again) <= 255
    assert again == fresh_key(key)  # derived: a repeated call derives the same one


@pytest.mark.parametrize("length", [1, 248, 249, 255])
def test_fresh_keys_stay_within_the_header_limit(length: int) -> None:
    key = "k" * length
    derived = fresh_key(key)
    assert len(derived) <= 255
    assert derived == fresh_key(key)
    assert derived != key
    if length + len(":again") <= 255:
        assert derived == f"{key}:again"


async def test_an_upload_gone_twice_in_one_call_is_an_error(
    flavour: str, server: TusServer
) -> None:
    data = os.urandom(3 * CHUNK)

    def expire_every_upload(sent: int, total: int) -> None:
        if sent == CHUNK:
            for upload_ in server.uploads.values():
                upload_.expired = True

    with pytest.raises(APIError) as info:
        await upload(
            flavour, server, data, filename="x.mp4", progress=expire_every_upload, resume_store=None
        )
    assert info.value.status_code == 410
    assert len(server.requests("POST")) == 2


async def test_finished_upload_is_recognised_on_resume(flavour: str, server: TusServer) -> None:
    data = os.urandom(2 * CHUNK)
    store = MemoryResumeStore()
    with pytest.raises(Crash):  # dies after the last chunk, before looking the evidence up
        await upload(
            flavour, server, data, filename="x.mp4", progress=crash_after(2), resume_store=store
        )
    evidence = await upload(flavour, server, data, filename="x.mp4", resume_store=store)
    assert evidence.id == "evd_2"
    assert server.patch_bytes == len(data)
    assert store._urls == {}


async def test_stored_url_of_another_server_is_ignored(flavour: str, server: TusServer) -> None:
    data = b"abc"
    store = MemoryResumeStore()
    store.set(key_of(data), "https://elsewhere.test/v1/uploads/upl_9")
    await upload(flavour, server, data, filename="x.mp4", resume_store=store)
    assert all(not p.startswith("/v1/uploads/upl_9") for _, p, _ in server.log)
    assert store._urls == {}


# --- definitive failures ------------------------------------------------------------------------


async def test_wrong_server_hash_raises_integrity_error(flavour: str, server: TusServer) -> None:
    data = os.urandom(CHUNK + 1)
    server.server_sha = "0" * 64
    store = MemoryResumeStore()
    with pytest.raises(IntegrityError) as info:
        await upload(flavour, server, data, filename="x.mp4", resume_store=store)
    assert info.value.local_sha256 == hashlib.sha256(data).hexdigest()
    assert info.value.server_sha256 == "0" * 64
    assert store._urls == {}


async def test_duplicate_evidence(flavour: str, server: TusServer) -> None:
    store = MemoryResumeStore()
    first = await upload(flavour, server, b"same", filename="x.mp4", resume_store=store)
    with pytest.raises(DuplicateEvidenceError) as info:
        await upload(flavour, server, b"same", filename="y.mp4", resume_store=store)
    assert info.value.existing_evidence_id == first.id
    assert store._urls == {}


async def test_file_changed_during_upload_is_an_integrity_mismatch(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    path, _ = write(tmp_path, 3 * CHUNK)
    store = MemoryResumeStore()

    original_bytes = path.read_bytes()
    changed = os.urandom(3 * CHUNK)

    def tamper(sent: int, total: int) -> None:
        if sent == CHUNK:
            path.write_bytes(changed)

    original = hashlib.sha256(original_bytes).hexdigest()
    with pytest.raises(ValidationError) as info:
        await upload(flavour, server, path, progress=tamper, resume_store=store)
    assert info.value.code is ProblemCode.INTEGRITY_MISMATCH
    # What it means for the evidence: an IntegrityError too, with the hash the SDK declared.
    assert isinstance(info.value, IntegrityMismatchError)
    assert isinstance(info.value, IntegrityError)
    assert info.value.local_sha256 == original
    # The server's: the first chunk as it was, the rest as it became.
    received = hashlib.sha256(original_bytes[:CHUNK] + changed[CHUNK:]).hexdigest()
    assert info.value.server_sha256 == received
    assert store._urls == {}


async def test_location_outside_the_base_url_is_refused(flavour: str, server: TusServer) -> None:
    server.location_prefix = "https://elsewhere.test/v1/uploads/"
    with pytest.raises(DecodeError, match="not under"):
        await upload(flavour, server, b"abc", filename="x.mp4")
    assert server.requests("PATCH") == []


async def test_absolute_location_under_the_base_url(flavour: str, server: TusServer) -> None:
    server.location_prefix = BASE + "/v1/uploads/"
    evidence = await upload(flavour, server, b"abc", filename="x.mp4")
    assert evidence.size == 3


# --- listing ------------------------------------------------------------------------------------


async def test_list_follows_pages_and_upload_finds_evidence_on_a_later_page(
    flavour: str, server: TusServer
) -> None:
    uploaded = [
        await upload(flavour, server, os.urandom(10), filename=f"f{n}.mp4") for n in range(3)
    ]
    client = make_client(flavour, server)
    pager = await call(client, "evidence.list", "rpt_1")
    listed = [e async for e in pager] if hasattr(pager, "__aiter__") else list(pager)
    await close(client)
    assert [e.id for e in listed] == [e.id for e in uploaded]
    assert all(isinstance(e, Evidence) for e in listed)


async def test_list_checks_page_size(flavour: str, server: TusServer) -> None:
    client = make_client(flavour, server)
    with pytest.raises(ValueError, match="page_size"):
        client.evidence.list("rpt_1", page_size=0)
    await close(client)


# --- memory -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "recording.mp4"
    with path.open("wb") as file:
        for _ in range(64):
            file.write(os.urandom(MiB))
    return path


async def test_memory_stays_flat(flavour: str, server: TusServer, big_file: Path) -> None:
    # Warm up (imports, mimetypes tables, the token) so that only the upload is measured.
    await upload(flavour, server, b"warm-up", filename="w.txt", chunk_size=MiB)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        evidence = await upload(flavour, server, big_file, chunk_size=MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert evidence.size == 64 * MiB
    assert peak < 3 * MiB, f"peak {peak / MiB:.1f} MiB"


# --- pure parts ---------------------------------------------------------------------------------


def test_encode_metadata() -> None:
    assert encode_metadata([("filename", "ä.png"), ("relevance", "primary")]) == (
        "filename " + base64.b64encode("ä.png".encode()).decode() + ",relevance cHJpbWFyeQ=="
    )


def test_checksum_header() -> None:
    digest = base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    assert checksum_header(hashlib.sha256(b"abc").digest()) == f"sha256 {digest}"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/v1/uploads/upl_1", "/uploads/upl_1"),
        ("https://crs.test/v1/uploads/upl_1", "/uploads/upl_1"),
        ("../../uploads/upl_1", "/uploads/upl_1"),
        ("https://crs.test.evil/v1/uploads/upl_1", None),
        ("https://crs.test/other/upl_1", None),
        ("//evil.test/v1/uploads/upl_1", None),
    ],
)
def test_upload_path(location: str, expected: str | None) -> None:
    config = ClientConfig(base_url=BASE, client_id="a", client_secret="s")
    if expected is None:
        with pytest.raises(DecodeError):
            upload_path(config, "/reports/rpt_1/evidence", location)
    else:
        assert upload_path(config, "/reports/rpt_1/evidence", location) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Upload-Offset": "-1"},
        {"Upload-Offset": "x"},
        {"Upload-Offset": "11"},
        {"Upload-Offset": "\u00b2".encode("latin-1")},  # a digit to str.isdigit, not to int
        {"Upload-Offset": "1" * 5000},  # more digits than int reads
    ],
)
def test_parse_status_refuses_bad_offsets(headers: dict[str, str | bytes]) -> None:
    with pytest.raises(DecodeError):
        parse_status(httpx.Response(204, headers=headers), 10)


def test_parse_status_refuses_another_length() -> None:
    with pytest.raises(DecodeError):
        parse_status(httpx.Response(200, headers={"Upload-Offset": "0", "Upload-Length": "9"}), 10)


def test_resume_key_separates_servers_and_metadata() -> None:
    key = resume_key("https://a.test", "rpt_1", "ab", 1, metadata="filename eA==")
    assert key != resume_key("https://b.test", "rpt_1", "ab", 1, metadata="filename eA==")
    assert key != resume_key("https://a.test", "rpt_1", "ab", 1, metadata="filename eQ==")
    assert "eA==" not in key  # the metadata's hash, not the file name


def test_evidence_file_repr_hides_the_bytes() -> None:
    assert "secret-bytes" not in repr(EvidenceFile(source=b"secret-bytes", filename="x.mp4"))


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"filename": "case/0042.png"}, "filename", "path separators; found U+002F at index 4"),
        ({"filename": "x\x1b.png"}, "filename", "control characters"),
        ({"filename": " "}, "filename", "must not be empty"),
        ({"content_type": "png"}, "content_type", "must be a media type"),
    ],
)
def test_evidence_file_refuses_what_the_platform_would(
    fields: dict[str, str], field: str, said: str
) -> None:
    with pytest.raises(InvalidFieldError, match=re.escape(said)) as info:
        EvidenceFile(b"bytes", **fields)
    assert (info.value.model, info.value.field) == ("EvidenceFile", field)
    if fields[field].strip():
        assert fields[field] not in str(info.value)  # the message names the field, not the value


def test_evidence_file_takes_its_source_by_position_and_the_rest_by_keyword() -> None:
    assert EvidenceFile(b"notes", filename="n.txt") == EvidenceFile(
        source=b"notes", filename="n.txt"
    )
    with pytest.raises(TypeError):
        EvidenceFile(b"notes", "n.txt")  # type: ignore[misc]


# --- create_and_submit --------------------------------------------------------------------------


def report_create() -> ReportCreate:
    return ReportCreate(
        client_reference="CASE-9",
        items=[
            ReportItemCreate(
                url="https://facebook.com/posts/1",
                platform=Platform.FACEBOOK,
                content_type=ContentType.POST,
            )
        ],
        category=Category.GROOMING,
        violation_basis=ViolationBasis.POLICY_VIOLATION,
        explanation="Adult contacting children.",
        requested_actions=[RequestedAction.REMOVE],
        reporting_officer=Officer(name="A. Officer", email="officer@example.gov"),
        good_faith_declaration=True,
    )


async def test_create_and_submit(flavour: str, server: TusServer, tmp_path: Path) -> None:
    path, _ = write(tmp_path, CHUNK + 1, name="screenshot.png")
    files = [path, EvidenceFile(source=b"notes", filename="notes.txt", relevance="supporting")]
    client = make_client(flavour, server)
    report = await call(
        client,
        "reports.create_and_submit",
        report_create(),
        files,
        idempotency_key="case-9",
        resume_store=None,
    )
    await close(client)
    assert report.status is ReportStatus.SUBMITTED
    assert report.evidence_count == 2
    keys = [headers["idempotency-key"] for _, _, headers in server.requests("POST")]
    assert keys[0] == "case-9:create"
    assert re.fullmatch(r"case-9:evidence-0:[0-9a-f]{32}", keys[1])
    assert re.fullmatch(r"case-9:evidence-1:[0-9a-f]{32}", keys[2])
    assert keys[3] == "case-9:submit"
    evidence = server.evidence[report.id]
    assert [(e["filename"], e["relevance"]) for e in evidence] == [
        ("screenshot.png", "primary"),
        ("notes.txt", "supporting"),
    ]


async def test_create_and_submit_resumes_through_another_address_of_the_platform(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    """A file's creation key says what the upload records, not where it goes: calling again
    through another name of the platform (an alias, a failover host) replays the creation."""
    path, _ = write(tmp_path, 2 * CHUNK, name="a.png")
    server.report_faults["submit"] = [problem(503, "service_unavailable")] * 10
    for base_url in (BASE, "https://alias.crs.test"):
        options = {"retry": RetryPolicy(max_attempts=1), "base_url": base_url}
        client = make_client(flavour, server, **options)
        try:
            with pytest.raises(IncompleteReportError):
                await call(
                    client,
                    "reports.create_and_submit",
                    report_create(),
                    [path],
                    idempotency_key="k",
                    resume_store=None,
                )
        finally:
            await close(client)
    assert len(server.uploads) == 1
    keys = {h["idempotency-key"] for _, p, h in server.requests("POST") if "/evidence" in p}
    assert len(keys) == 1


async def test_create_and_submit_refuses_to_pass_a_changed_file_off_as_attached(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    """A file attached by an earlier call is given again with other metadata: its upload is a
    duplicate of the attached evidence, which records the old metadata. The call does not end
    as if the change had been made (it submitted the report with the old metadata)."""
    path, _ = write(tmp_path, 2 * CHUNK, name="a.png")
    server.report_faults["submit"] = [problem(503, "service_unavailable")] * 10
    client = make_client(flavour, server, retry=RetryPolicy(max_attempts=1))
    first = [EvidenceFile(path)]
    changed = [EvidenceFile(path, relevance="supporting", filename="b.png")]
    try:
        for files in (first, changed):
            with pytest.raises(IncompleteReportError) as info:
                await call(
                    client,
                    "reports.create_and_submit",
                    report_create(),
                    files,
                    idempotency_key="k",
                    resume_store=None,
                )
        server.report_faults.clear()
        report = await call(
            client,
            "reports.create_and_submit",
            report_create(),
            first,
            idempotency_key="k",
            resume_store=None,
        )
    finally:
        await close(client)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError)
    assert "'b.png' is already evidence" in str(cause)
    assert "recorded with another filename, relevance" in str(cause)
    assert (info.value.step, info.value.file_index) == ("evidence", 0)
    assert report.status is ReportStatus.SUBMITTED  # as it was recorded: the call goes on


async def test_create_and_submit_resumes_with_the_same_key(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    path, _ = write(tmp_path, 2 * CHUNK, name="a.png")
    server.report_faults["submit"] = [problem(503, "service_unavailable")] * 10
    client = make_client(flavour, server, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(IncompleteReportError) as info:
        await call(
            client, "reports.create_and_submit", report_create(), [path], idempotency_key="k"
        )
    error = info.value
    assert (error.step, error.file_index, error.idempotency_key) == ("submit", None, "k")
    assert isinstance(error.__cause__, ServiceUnavailableError)
    assert [e.filename for e in error.evidence] == ["a.png"]
    assert error.report_id in str(error)
    assert "the submission failed" in str(error)
    assert "Call again with idempotency_key='k' to resume" in str(error)
    sent = server.patch_bytes

    server.report_faults.clear()
    report = await call(
        client, "reports.create_and_submit", report_create(), [path], idempotency_key="k"
    )
    await close(client)
    assert report.id == error.report_id
    assert report.status is ReportStatus.SUBMITTED
    assert len(server.reports) == 1
    assert len(server.evidence[report.id]) == 1
    assert server.patch_bytes == sent  # the finished upload was recognised, not repeated


async def test_create_and_submit_checks_files_before_creating(
    flavour: str, server: TusServer, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    client = make_client(flavour, server)
    with pytest.raises(ValueError, match="empty"):
        await call(client, "reports.create_and_submit", report_create(), [empty])
    with pytest.raises(FileNotFoundError):
        await call(client, "reports.create_and_submit", report_create(), [tmp_path / "missing.mp4"])
    untyped = tmp_path / "capture.bin"
    untyped.write_bytes(b"bytes")
    with pytest.raises(ValueError, match="content_type= is required"):
        await call(client, "reports.create_and_submit", report_create(), [untyped])
    with pytest.raises(TypeError):
        await call(client, "reports.create_and_submit", report_create(), str(empty))
    await close(client)
    assert server.log == []


def test_step_keys_stay_within_the_header_limit() -> None:
    assert derived_idempotency_key("k", "submit") == "k:submit"
    long = derived_idempotency_key("k" * 255, "submit")
    assert len(long) <= 255
    assert long != derived_idempotency_key("k" * 255, "create")
