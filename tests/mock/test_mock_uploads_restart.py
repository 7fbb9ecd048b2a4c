"""Evidence uploads against a real server over real sockets: restarts, dropped connections, a
standard tus client, and memory that does not grow with the file."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_mock import ServerProcess
from mock.mock_support import report_body
from mock.upload_support import OCTETS, metadata_for, tus_http

if TYPE_CHECKING:
    from collections.abc import Iterator

MIB = 1024 * 1024


def new_report(client: httpx.Client, reference: str = "CP-UPLOAD") -> str:
    response = client.post("/v1/reports", json=report_body(client_reference=reference))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def start_upload(client: httpx.Client, report_id: str, data: bytes) -> str:
    response = client.post(
        f"/v1/reports/{report_id}/evidence",
        headers={"Upload-Length": str(len(data)), "Upload-Metadata": metadata_for(data)},
    )
    assert response.status_code == 201, response.text
    return response.headers["location"]


def patch(
    client: httpx.Client, location: str, offset: int, body: Any, **headers: str
) -> httpx.Response:
    return client.patch(
        location,
        content=body,
        headers={"Upload-Offset": str(offset), "Content-Type": OCTETS, **headers},
    )


def offset_of(client: httpx.Client, location: str) -> int:
    response = client.head(location)
    assert response.status_code == 200, response.headers
    return int(response.headers["upload-offset"])


def journal_cursor(client: httpx.Client) -> str:
    """The mock's journal position now: requests after it are the ones still to come."""
    response = client.get("/_mock/requests/wait", params={"timeout": 0})
    assert response.status_code == 200, response.text
    return str(response.json()["cursor"])


def next_request(client: httpx.Client, *, after: str, method: str) -> dict[str, Any]:
    """The first request journaled after ``after`` with ``method`` (the mock's long poll)."""
    response = client.get(
        "/_mock/requests/wait", params={"after": after, "method": method, "timeout": 30}
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    assert found, f"no {method} request was journaled within 30 s"
    return found[0]


def listed_sha256(client: httpx.Client, report_id: str) -> list[str]:
    response = client.get(f"/v1/reports/{report_id}/evidence")
    assert response.status_code == 200, response.text
    return [evidence["sha256"] for evidence in response.json()["data"]]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_upload_resumes_after_a_restart(tmp_path: Path, how: signal.Signals) -> None:
    """SIGTERM between chunks (uvicorn lets a request in progress finish), SIGKILL mid-chunk."""
    db = tmp_path / "crs-mock.sqlite3"
    data = os.urandom(4 * MIB + 3)
    quarter = len(data) // 4
    sent = 0

    with ServerProcess(db) as server, tus_http(server.base_url) as client:
        report_id = new_report(client)
        location = start_upload(client, report_id, data)
        assert patch(client, location, 0, data[:quarter]).status_code == 204

        def killed_midway() -> Iterator[bytes]:
            nonlocal sent
            for start in range(quarter, 2 * quarter, 64 * 1024):
                block = data[start : start + 64 * 1024]
                sent += len(block)
                yield block
            server.kill()
            yield data[2 * quarter : 3 * quarter]

        if how == signal.SIGKILL:
            headers = {"Content-Length": str(len(data) - quarter)}
            with pytest.raises(httpx.TransportError):
                patch(client, location, quarter, killed_midway(), **headers)
        else:
            server.kill() if how == signal.SIGKILL else server.stop()

    with ServerProcess(db) as server, tus_http(server.base_url) as client:
        offset = offset_of(client, location)
        # Acknowledged bytes survive; others may or may not, never more than were sent.
        assert quarter <= offset <= quarter + sent
        last = patch(client, location, offset, data[offset:])
        assert last.status_code == 204, last.text
        assert last.headers["evidence-id"].startswith("evd_")
        assert listed_sha256(client, report_id) == [hashlib.sha256(data).hexdigest()]
    partials = list((tmp_path / "crs-mock.sqlite3.blobs" / "uploads").iterdir())
    assert partials == []


@pytest.mark.timeout(60)
def test_bytes_of_a_dropped_connection_are_kept(tmp_path: Path) -> None:
    """A chunk without a checksum keeps what arrived before the client vanished (tus core)."""
    data = os.urandom(2 * MIB)

    class VanishedError(Exception):
        pass

    def vanishing() -> Iterator[bytes]:
        yield data[:MIB]
        raise VanishedError

    with ServerProcess(tmp_path / "db.sqlite3") as server, tus_http(server.base_url) as client:
        report_id = new_report(client)
        location = start_upload(client, report_id, data)
        cursor = journal_cursor(client)
        with pytest.raises(VanishedError):
            patch(client, location, 0, vanishing(), **{"Content-Length": str(len(data))})
        # The server notices the dropped connection on its own time: it keeps the bytes, then
        # answers (nobody) and journals the PATCH. That entry is what to wait for.
        assert next_request(client, after=cursor, method="PATCH")["path"] == location
        offset = offset_of(client, location)
        assert 0 < offset <= MIB
        assert patch(client, location, offset, data[offset:]).status_code == 204
        assert listed_sha256(client, report_id) == [hashlib.sha256(data).hexdigest()]


@pytest.mark.timeout(60)
def test_standard_tus_client(tmp_path: Path) -> None:
    """tuspy, the tus project's Python client: creation, sha1 checksums, resume by HEAD."""
    tus_client = pytest.importorskip(
        "tusclient.client", reason="tuspy (pip install tuspy) is not installed"
    )
    data = os.urandom(300 * 1024 + 1)
    path = tmp_path / "capture.mp4"
    path.write_bytes(data)
    metadata = {
        "filename": "capture.mp4",
        "content_type": "video/mp4",
        "sha256": hashlib.sha256(data).hexdigest(),
        "relevance": "primary",
        "captured_at": "2025-12-31T22:00:00Z",
    }
    with ServerProcess(tmp_path / "db.sqlite3") as server, tus_http(server.base_url) as client:
        report_id = new_report(client)
        tus = tus_client.TusClient(
            f"{server.base_url}/v1/reports/{report_id}/evidence",
            headers={"Authorization": client.headers["authorization"]},
        )
        # File streams, not paths: tuspy leaves the files it opens itself unclosed.
        with path.open("rb") as stream:
            first = tus.uploader(
                file_stream=stream, chunk_size=64 * 1024, metadata=metadata, upload_checksum=True
            )
            first.upload(stop_at=128 * 1024)
        assert offset_of(client, first.url) == 128 * 1024
        with path.open("rb") as stream:
            resumed = tus.uploader(
                file_stream=stream, url=first.url, chunk_size=64 * 1024, upload_checksum=True
            )
            assert resumed.offset == 128 * 1024  # read with HEAD
            resumed.upload()
        head = client.head(first.url)
        assert head.headers["evidence-id"].startswith("evd_")
        evidence = client.get(f"/v1/reports/{report_id}/evidence").json()["data"]
        assert [(e["filename"], e["size"], e["sha256"]) for e in evidence] == [
            ("capture.mp4", len(data), metadata["sha256"])
        ]


@pytest.mark.timeout(60)
def test_max_upload_size_option(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "db.sqlite3", "--max-upload-size", "1KiB") as server:
        assert httpx.options(f"{server.base_url}/v1/uploads").headers["tus-max-size"] == "1024"
        with tus_http(server.base_url) as client:
            report_id = new_report(client)
            response = client.post(
                f"/v1/reports/{report_id}/evidence",
                headers={"Upload-Length": "1025", "Upload-Metadata": metadata_for(b"x")},
            )
            assert response.status_code == 413


def peak_rss(pid: int) -> int:
    """The process's peak resident set size (``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")  # pragma: no cover


@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """One 64 MiB PATCH, streamed by the client: the server's peak memory barely moves."""
    block = os.urandom(MIB)
    size = 64 * MIB

    def body() -> Iterator[bytes]:
        for _ in range(size // MIB):
            for start in range(0, MIB, 64 * 1024):
                yield block[start : start + 64 * 1024]

    digest = hashlib.sha256()
    for part in body():
        digest.update(part)
    metadata = metadata_for(b"", sha256=digest.hexdigest(), content_type="video/mp4")

    with ServerProcess(tmp_path / "db.sqlite3") as server, tus_http(server.base_url) as client:
        report_id = new_report(client)
        warm_up = start_upload(client, report_id, block)  # first-request allocations
        assert patch(client, warm_up, 0, block).status_code == 204
        created = client.post(
            f"/v1/reports/{report_id}/evidence",
            headers={"Upload-Length": str(size), "Upload-Metadata": metadata},
        )
        assert created.status_code == 201, created.text
        before = peak_rss(server.pid)
        response = patch(
            client, created.headers["location"], 0, body(), **{"Content-Length": str(size)}
        )
        after = peak_rss(server.pid)
        assert response.status_code == 204, response.text
        assert response.headers["evidence-id"].startswith("evd_")
    assert after - before < 32 * MIB, f"peak RSS grew by {(after - before) / MIB:.1f} MiB"
