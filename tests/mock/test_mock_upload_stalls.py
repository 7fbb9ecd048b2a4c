"""A ``PATCH`` whose body stops arriving does not hold its upload: over a real socket.

A client that lost power or network mid-chunk leaves a half-open connection behind, whose request
holds the upload's lock. The server stops waiting for it after its idle timeout (``408``), and at
once when another request wants the upload (it answers ``409``); either way the chunk is kept or
discarded as after a dropped connection, and the connection is closed.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from crs_mock._block_writer import FLUSH_BYTES
from crs_mock._upload_locks import LOCK_WAIT_SECONDS
from mock.mock_support import assert_problem, serving
from mock.upload_support import OCTETS, checksum, finish_upload, start_upload, tus_http

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from crs_mock import MockPlatform, ThreadedServer
    from crs_mock._blobs import PartialFile

#: Real seconds the server waits for a byte of a stalled chunk in the idle timeout's test.
IDLE = 0.5
#: The most real seconds a test waits for an answer that should come quickly.
PATIENCE = 20.0


def serve(**options: Any) -> Iterator[tuple[ThreadedServer, httpx.Client]]:
    for server in serving(**options):
        with tus_http(server.base_url) as http:
            yield server, http


@pytest.fixture
def impatient() -> Iterator[tuple[ThreadedServer, httpx.Client]]:
    yield from serve(upload_idle_timeout=IDLE)


@pytest.fixture
def patient() -> Iterator[tuple[ThreadedServer, httpx.Client]]:
    """The default idle timeout (30 s): only a newer request can free the upload quickly."""
    yield from serve()


def stalled_patch(
    server: ThreadedServer, http: httpx.Client, location: str, body: bytes, sent: int, **extra: str
) -> socket.socket:
    """A raw ``PATCH`` at offset 0 announcing `body` whose first `sent` bytes arrive, then none."""
    address = urlsplit(server.base_url)
    headers = {
        "Host": address.netloc,
        "Authorization": http.headers["authorization"],
        "Tus-Resumable": "1.0.0",
        "Content-Type": OCTETS,
        "Upload-Offset": "0",
        "Content-Length": str(len(body)),
        **extra,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    connection = socket.create_connection((address.hostname, address.port))
    connection.settimeout(PATIENCE)
    connection.sendall(f"PATCH {location} HTTP/1.1\r\n{head}\r\n".encode() + body[:sent])
    return connection


def answer_then_close(connection: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, header fields and problem (``{}`` for no body) the server sent on `connection`
    before closing it."""
    raw = b""
    with connection:
        while piece := connection.recv(65536):  # to the end: the server closed the connection
            raw += piece
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), fields, json.loads(body) if body else {}


def finish(http: httpx.Client, report_id: str, location: str, data: bytes) -> None:
    """Resume from the server's offset to the end; the file becomes evidence whole."""
    finish_upload(http, location, data)
    listed = http.get(f"/v1/reports/{report_id}/evidence").json()["data"]
    assert [e["sha256"] for e in listed] == [hashlib.sha256(data).hexdigest()]


@pytest.mark.parametrize("checksummed", [False, True], ids=["plain", "checksummed"])
def test_a_chunk_idle_for_the_timeout_is_cut_off_and_frees_the_upload(
    impatient: tuple[ThreadedServer, httpx.Client], checksummed: bool
) -> None:
    server, http = impatient
    data = os.urandom(4096)
    report_id, location = start_upload(http, data, f"CP-IDLE-{checksummed}")
    extra = {"Upload-Checksum": checksum("sha256", data)} if checksummed else {}
    stalled = stalled_patch(server, http, location, data, 1000, **extra)

    status, fields, problem = answer_then_close(stalled)

    kept = 0 if checksummed else 1000  # a checksum cannot be checked on part of a chunk
    assert (status, problem["code"], problem["status"]) == (408, "invalid_request", 408)
    assert fields["connection"] == "close"
    assert f"No byte of the chunk arrived for {IDLE:g} s" in problem["detail"]
    assert f"The upload holds {kept} bytes" in problem["detail"]
    assert http.head(location).headers["upload-offset"] == str(kept)
    finish(http, report_id, location, data)


@pytest.fixture
def first_block_written(patient: tuple[ThreadedServer, httpx.Client]) -> threading.Event:
    """Set once a block of a chunk was written to a partial file (the chunk is being received)."""
    platform: MockPlatform = patient[0].app.state.mock
    blobs = platform.uploads.blobs
    written = threading.Event()
    open_partial = blobs.open_partial

    def watched(upload_id: str, start: int) -> PartialFile:
        part = open_partial(upload_id, start)
        write = part.write

        def write_and_tell(data: bytes | bytearray) -> None:
            write(data)
            written.set()

        part.write = write_and_tell  # type: ignore[method-assign]
        return part

    blobs.open_partial = watched  # type: ignore[method-assign]
    return written


@pytest.mark.parametrize("checksummed", [False, True], ids=["plain", "checksummed"])
def test_a_newer_request_takes_over_from_a_stalled_chunk_at_once(
    patient: tuple[ThreadedServer, httpx.Client],
    first_block_written: threading.Event,
    checksummed: bool,
) -> None:
    server, http = patient
    data = os.urandom(2 * FLUSH_BYTES + 10)
    report_id, location = start_upload(http, data, f"CP-TAKEOVER-{checksummed}")
    extra = {"Upload-Checksum": checksum("sha256", data)} if checksummed else {}
    stalled = stalled_patch(server, http, location, data, FLUSH_BYTES, **extra)
    assert first_block_written.wait(PATIENCE)

    started = time.monotonic()
    newer = http.patch(
        location, content=data, headers={"Upload-Offset": "0", "Content-Type": OCTETS}
    )
    waited = time.monotonic() - started

    assert waited < LOCK_WAIT_SECONDS  # not the lock's wait, not the 30 s idle timeout
    status, fields, problem = answer_then_close(stalled)
    assert (status, problem["code"]) == (409, "upload_offset_mismatch")
    assert fields["connection"] == "close"
    assert "Another request for this upload took over" in problem["detail"]
    if checksummed:  # the stalled chunk was discarded: the newer one starts at 0
        assert newer.status_code == 204, newer.text
        assert "evidence-id" in newer.headers
    else:  # the stalled chunk keeps its block: the newer one learns where to resume
        body = assert_problem(newer, 409, "upload_offset_mismatch")
        assert f"holds {FLUSH_BYTES} bytes" in body["detail"]
        assert f"The upload holds {FLUSH_BYTES} bytes" in problem["detail"]
        finish(http, report_id, location, data)


def refused_request(
    server: ThreadedServer, http: httpx.Client, location: str, refusal: str, size: int
) -> httpx.Response:
    """A request that must be refused without stopping the chunk in progress: another agency's
    ``PATCH`` or ``DELETE`` (``404``), or the owner's ``PATCH`` at a wrong offset (``409``) or
    beyond ``Upload-Length`` (``413``)."""
    patch = {"Content-Type": OCTETS}
    if refusal.startswith("foreign"):
        method = refusal.split()[1]
        headers = {**patch, "Upload-Offset": "0"} if method == "PATCH" else {}
        with tus_http(server.base_url, "other-agency") as other:
            refused = other.request(method, location, content=b"x" * 10, headers=headers)
        assert_problem(refused, 404, "not_found")
    elif refusal == "offset":
        refused = http.patch(location, content=b"x" * 10, headers={**patch, "Upload-Offset": "5"})
        assert_problem(refused, 409, "upload_offset_mismatch")
    else:
        body = b"x" * (size + 1)
        refused = http.patch(location, content=body, headers={**patch, "Upload-Offset": "0"})
        assert_problem(refused, 413, "payload_too_large")
    return refused


@pytest.mark.parametrize("refusal", ["foreign PATCH", "foreign DELETE", "offset", "too large"])
def test_a_refused_request_leaves_a_chunk_in_progress_alone(
    patient: tuple[ThreadedServer, httpx.Client],
    first_block_written: threading.Event,
    refusal: str,
) -> None:
    """Only a request that would be taken stops a chunk being received (a checksummed one would
    be discarded): another agency's is a ``404``, and the owner's ``PATCH`` at a wrong offset or
    beyond the upload's length a ``409`` or ``413``, before it could take the upload over."""
    server, http = patient
    data = os.urandom(2 * FLUSH_BYTES + 10)
    report_id, location = start_upload(http, data, f"CP-REFUSED-{refusal}")
    extra = {"Upload-Checksum": checksum("sha256", data), "Connection": "close"}
    stalled = stalled_patch(server, http, location, data, FLUSH_BYTES, **extra)
    assert first_block_written.wait(PATIENCE)

    refused_request(server, http, location, refusal, len(data))

    with stalled:  # the rest of the chunk, on the same request (a broken pipe: it was cut off)
        stalled.sendall(data[FLUSH_BYTES:])
        status, fields, _ = answer_then_close(stalled)
    assert (status, fields["upload-offset"]) == (204, str(len(data)))
    listed = http.get(f"/v1/reports/{report_id}/evidence").json()["data"]
    assert [e["id"] for e in listed] == [fields["evidence-id"]]


def test_a_chunk_cut_off_after_the_last_byte_still_completes_the_upload(
    impatient: tuple[ThreadedServer, httpx.Client],
) -> None:
    """A chunked body whose every byte arrived, but not its end (the network stalled before the
    terminating chunk): the bytes are kept (no checksum) and, since the upload holds them all, it
    becomes evidence. It stayed open, full, with no evidence (a tus client resuming it from
    ``HEAD`` had nothing left to send, and nothing was ever attached)."""
    server, http = impatient
    data = os.urandom(4096)
    report_id, location = start_upload(http, data, "CP-CUT-AT-END")
    address = urlsplit(server.base_url)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Authorization: {http.headers['authorization']}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: {OCTETS}\r\nUpload-Offset: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    connection = socket.create_connection((address.hostname, address.port))
    connection.settimeout(PATIENCE)
    connection.sendall(head.encode() + f"{len(data):x}\r\n".encode() + data + b"\r\n")

    status, _, problem = answer_then_close(connection)

    assert (status, problem["code"]) == (408, "invalid_request")
    assert f"The upload holds {len(data)} bytes" in problem["detail"]
    answer = http.head(location)
    listed = http.get(f"/v1/reports/{report_id}/evidence").json()["data"]
    assert [e["id"] for e in listed] == [answer.headers["evidence-id"]]
    assert listed[0]["sha256"] == hashlib.sha256(data).hexdigest()
