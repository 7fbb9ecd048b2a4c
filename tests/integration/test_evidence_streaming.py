"""A chunk is read from the file as it is sent: client memory does not grow with the chunk size.

Against the session's real server (a subprocess), so that ``tracemalloc`` sees the client alone.
A 24 MiB file goes in one ``PATCH`` (``chunk_size`` 64 MiB): reading the chunk into memory, as
the uploader once did, would peak above 24 MiB.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from typing import TYPE_CHECKING

import pytest

from crs_sdk import AsyncCRSClient, CRSClient
from integration.test_reports_e2e import draft

if TYPE_CHECKING:
    from pathlib import Path

    from crs_mock import ServerProcess

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
SIZE = 24 * MiB


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("streaming") / "recording.mp4"
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(SIZE // MiB):
            block = os.urandom(MiB)
            digest.update(block)
            file.write(block)
    return path, digest.hexdigest()


def _peak_of_sync_upload(server: ServerProcess, path: Path) -> tuple[int, str, int]:
    with CRSClient(
        server.base_url, client_id=server.client_id, client_secret=server.client_secret
    ) as client:
        report_id = client.reports.create(draft()).id
        client.evidence.upload(report_id, b"warm-up", filename="w.txt", resume_store=None)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            evidence = client.evidence.upload(
                report_id, path, chunk_size=64 * MiB, resume_store=None
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak, evidence.sha256, evidence.size


async def _peak_of_async_upload(server: ServerProcess, path: Path) -> tuple[int, str, int]:
    async with AsyncCRSClient(
        server.base_url, client_id=server.client_id, client_secret=server.client_secret
    ) as client:
        report_id = (await client.reports.create(draft())).id
        await client.evidence.upload(report_id, b"warm-up", filename="w.txt", resume_store=None)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            evidence = await client.evidence.upload(
                report_id, path, chunk_size=64 * MiB, resume_store=None
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak, evidence.sha256, evidence.size


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_one_chunk_larger_than_the_file_is_streamed(
    flavour: str, live_server: ServerProcess, recording: tuple[Path, str]
) -> None:
    path, sha256 = recording
    if flavour == "sync":
        peak, uploaded_sha256, size = _peak_of_sync_upload(live_server, path)
    else:
        peak, uploaded_sha256, size = await _peak_of_async_upload(live_server, path)
    assert (uploaded_sha256, size) == (sha256, SIZE)
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"
