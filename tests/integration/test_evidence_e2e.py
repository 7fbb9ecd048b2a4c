"""Evidence uploads through the SDK against the in-process mock server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import SyncASGITransport, create_app
from crs_sdk import (
    CRSClient,
    EvidenceFile,
    IncompleteReportError,
    ReportStatus,
    UnsupportedMediaTypeError,
)
from crs_sdk.testing import no_retry_waits
from integration.test_reports_e2e import draft

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from starlette.applications import Starlette

    from integration.conftest import Crs

BASE_URL = "http://crs.test"
CREDENTIALS = {"client_id": "demo-agency", "client_secret": "demo-secret"}
CHUNK = 64 * 1024


class UploadInterruptedError(Exception):
    pass


class RecordingStore:
    """A resume store (the public protocol) that lets the test see the upload URL."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def set(self, key: str, url: str) -> None:
        self.entries[key] = url

    def delete(self, key: str) -> None:
        self.entries.pop(key, None)


@pytest.fixture
def app() -> Iterator[Starlette]:
    application = create_app()
    yield application
    application.state.mock.close()


@pytest.fixture
def http(app: Starlette) -> Iterator[httpx.Client]:
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        token = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CREDENTIALS["client_id"], CREDENTIALS["client_secret"]),
        ).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"})
        yield client
    transport.close()


@pytest.fixture
def client(app: Starlette) -> Iterator[CRSClient]:
    transport = SyncASGITransport(app)
    with no_retry_waits(), CRSClient(BASE_URL, transport=transport, **CREDENTIALS) as crs:
        yield crs
    transport.close()


def test_repeating_an_upload_whose_upload_is_gone_starts_a_new_one(
    client: CRSClient, http: httpx.Client
) -> None:
    report = client.reports.create(draft())
    data = os.urandom(3 * CHUNK + 5)
    store = RecordingStore()

    def stop_after_first_chunk(sent: int, total: int) -> None:
        if 0 < sent < total:
            raise UploadInterruptedError

    with pytest.raises(UploadInterruptedError):
        client.evidence.upload(
            report.id,
            data,
            filename="chat-export.txt",
            chunk_size=CHUNK,
            progress=stop_after_first_chunk,
            resume_store=store,
            idempotency_key="evidence-7",
        )
    (upload_url,) = store.entries.values()
    # The upload that key created is gone (terminated here; expired would be the same).
    assert http.delete(upload_url).status_code == 204

    # Same key, no resume point: the server replays the creation of the dead upload, and the SDK
    # makes a new one instead of failing forever.
    evidence = client.evidence.upload(
        report.id,
        data,
        filename="chat-export.txt",
        chunk_size=CHUNK,
        resume_store=None,
        idempotency_key="evidence-7",
    )
    assert evidence.size == len(data)
    assert [item.id for item in client.evidence.list(report.id)] == [evidence.id]


@pytest.mark.anyio
async def test_create_and_submit_goes_on_with_a_file_corrected_after_its_refusal(
    crs: Crs, tmp_path: Path
) -> None:
    """A file refused at its creation (``415``: its name implies ``application/json``) is given
    again with a media type the platform takes, under the same key: the call resumes, the
    corrected file is a new upload. Its step's key was refused as reused (``422``) for 24 hours."""
    picture = tmp_path / "post.png"
    picture.write_bytes(os.urandom(1000))
    notes = tmp_path / "chat-export.json"
    notes.write_bytes(b'{"messages": []}')
    report = draft()
    with pytest.raises(IncompleteReportError) as refused:
        await crs("reports.create_and_submit", report, [picture, notes], idempotency_key="fix-1")
    assert isinstance(refused.value.__cause__, UnsupportedMediaTypeError)

    corrected = [picture, EvidenceFile(notes, content_type="text/plain")]
    submitted = await crs("reports.create_and_submit", report, corrected, idempotency_key="fix-1")

    assert submitted.id == refused.value.report_id
    assert submitted.status is ReportStatus.SUBMITTED
    listed = await crs("evidence.list", submitted.id)
    assert [(e.filename, e.content_type) for e in listed] == [
        ("post.png", "image/png"),
        ("chat-export.json", "text/plain"),
    ]
