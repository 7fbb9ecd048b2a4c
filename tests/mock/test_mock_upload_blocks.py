"""A chunk of several blocks over a real socket: refused chunks leave nothing behind.

Over a socket the body arrives in pieces, so the handler receives the next block while a worker
thread still writes and hashes the last (`BlockWriter`); a `460`, a `413` or a dropped connection
can strike with a block in flight. In-process, the body arrives as one message and cannot show it.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import pytest

from crs_mock._block_writer import FLUSH_BYTES
from mock.mock_support import assert_problem, report_body
from mock.upload_support import OCTETS, checksum, metadata_for, tus_http

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from crs_mock import ThreadedServer

CHUNK = 3 * FLUSH_BYTES + 12345  # several blocks and a ragged end


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with tus_http(server.base_url) as client:
        yield client


def patch(
    http: httpx.Client, location: str, offset: int, body: bytes, **headers: str
) -> httpx.Response:
    return http.patch(
        location,
        content=body,
        headers={"Upload-Offset": str(offset), "Content-Type": OCTETS, **headers},
    )


def offset(http: httpx.Client, location: str) -> int:
    return int(http.head(location).headers["upload-offset"])


def test_refused_chunks_of_several_blocks_leave_the_upload_as_it_was(http: httpx.Client) -> None:
    report = http.post("/v1/reports", json=report_body(client_reference="CP-BLOCKS")).json()
    data = os.urandom(3 * CHUNK)
    created = http.post(
        f"/v1/reports/{report['id']}/evidence",
        headers={"Upload-Length": str(len(data)), "Upload-Metadata": metadata_for(data)},
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    first, second, third = data[:CHUNK], data[CHUNK : 2 * CHUNK], data[2 * CHUNK :]
    assert (
        patch(
            http, location, 0, first, **{"Upload-Checksum": checksum("sha256", first)}
        ).status_code
        == 204
    )

    corrupted = (
        second[:-FLUSH_BYTES] + bytes([second[-FLUSH_BYTES] ^ 1]) + second[-FLUSH_BYTES + 1 :]
    )
    bad = patch(http, location, CHUNK, corrupted, **{"Upload-Checksum": checksum("sha256", second)})
    assert_problem(bad, 460, "checksum_mismatch")
    assert offset(http, location) == CHUNK
    too_long = patch(http, location, CHUNK, second + third + b"!")
    assert_problem(too_long, 413, "payload_too_large")
    assert offset(http, location) == CHUNK

    assert patch(http, location, CHUNK, second).status_code == 204
    last = patch(http, location, 2 * CHUNK, third, **{"Upload-Checksum": checksum("sha1", third)})
    assert last.status_code == 204, last.text
    listed = http.get(f"/v1/reports/{report['id']}/evidence").json()["data"]
    # Every block in order, nothing of the refused chunks: the file hashes as sent.
    assert [(e["size"], e["sha256"]) for e in listed] == [
        (len(data), hashlib.sha256(data).hexdigest())
    ]
