"""The evidence size limit at its real default (2 GiB), over a real socket: slow, so marked ``slow``
(``nox -s slow``). The default run checks the same rules with a configured limit of a few bytes.

The file is sparse (2 GiB of zeros that take no disk space), but every byte of it is read, hashed,
sent, received, hashed and written by the server as any other file's would be.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from typing import TYPE_CHECKING

import psutil
import pytest

from crs_mock import ServerProcess
from crs_sdk import CRSClient, PayloadTooLargeError
from crs_sdk.testing import make_report_create

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow

GiB = 1024**3
MiB = 1024**2
DEFAULT_MAX = 2 * GiB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A mock server with its default limits, on a SQLite file."""
    with ServerProcess(tmp_path_factory.mktemp("slow") / "crs.sqlite3") as process:
        yield process


def client_of(server: ServerProcess) -> CRSClient:
    return CRSClient(
        server.base_url, client_id=server.client_id, client_secret=server.client_secret
    )


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as file:
        file.truncate(size)
    return path


def zeros_sha256(size: int) -> str:
    digest = hashlib.sha256()
    block = bytes(MiB)
    for _ in range(size // MiB):
        digest.update(block)
    digest.update(bytes(size % MiB))
    return digest.hexdigest()


def test_a_file_of_exactly_the_default_maximum_is_accepted_in_flat_memory(
    server: ServerProcess, tmp_path: Path
) -> None:
    path = sparse(tmp_path / "recording.mp4", DEFAULT_MAX)
    seen: list[tuple[int, int]] = []
    server_before = psutil.Process(server.pid).memory_info().rss
    with client_of(server) as client:
        report = client.reports.create(make_report_create())
        tracemalloc.start()
        try:
            evidence = client.evidence.upload(
                report.id, path, resume_store=None, progress=lambda s, t: seen.append((s, t))
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        listed = list(client.evidence.list(report.id))
    server_after = psutil.Process(server.pid).memory_info().rss
    assert evidence.size == DEFAULT_MAX
    assert evidence.sha256 == zeros_sha256(DEFAULT_MAX)
    assert [item.id for item in listed] == [evidence.id]
    assert seen[-1] == (DEFAULT_MAX, DEFAULT_MAX)
    assert len(seen) == DEFAULT_MAX // (8 * MiB)  # one call per acknowledged 8 MiB chunk
    # Memory does not grow with the file: the SDK holds a block or two, the server a few.
    assert peak < 16 * MiB, f"the SDK allocated up to {peak / MiB:.1f} MiB"
    growth = server_after - server_before
    assert growth < 64 * MiB, f"the server grew by {growth / MiB:.1f} MiB"


def test_one_byte_more_than_the_default_maximum_is_refused_before_any_byte_is_sent(
    server: ServerProcess, tmp_path: Path
) -> None:
    path = sparse(tmp_path / "recording.mp4", DEFAULT_MAX + 1)
    with client_of(server) as client:
        report = client.reports.create(make_report_create())
        with pytest.raises(PayloadTooLargeError) as caught:
            client.evidence.upload(report.id, path, resume_store=None)
        assert list(client.evidence.list(report.id)) == []
    assert caught.value.status_code == 413
    assert str(DEFAULT_MAX) in str(caught.value)
