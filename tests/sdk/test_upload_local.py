"""The local side of an upload: the first pass's digests, and chunks read from the file as sent."""

from __future__ import annotations

import hashlib
import io
import os
import random
import threading
import tracemalloc
from typing import TYPE_CHECKING

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crs_sdk import ChecksumMismatchError, IntegrityError
from crs_sdk._api_errors import api_error_from_response
from crs_sdk._upload import ChunkAttempt
from crs_sdk._upload_source import ChunkBody, LocalFile, content_size, open_source
from sdk.test_upload import NonSeekable
from sdk.test_upload_recovery import Gated

if TYPE_CHECKING:
    from pathlib import Path

KiB = 1024
MiB = 1024 * KiB


def sources(data: bytes, tmp_path: Path) -> list[object]:
    path = tmp_path / "evidence.bin"
    path.write_bytes(data)
    return [data, path, io.BytesIO(data)]


def expected_digests(data: bytes, chunk_size: int) -> list[bytes]:
    return [
        hashlib.sha256(data[start : start + chunk_size]).digest()
        for start in range(0, len(data), chunk_size)
    ]


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 5 * KiB), chunk_size=st.integers(1, 2 * KiB))
def test_first_pass_digests_of_the_file_and_of_every_chunk(
    size: int, chunk_size: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = os.urandom(size)
    for source in sources(data, tmp_path_factory.mktemp("pass")):
        local = open_source(source, chunk_size)  # type: ignore[arg-type]
        try:
            assert (local.size, local.sha256) == (size, hashlib.sha256(data).hexdigest())
            for index, digest in enumerate(expected_digests(data, chunk_size)):
                offset = index * chunk_size
                length = min(chunk_size, size - offset)
                assert local.chunk_digest(offset, length) == digest
                assert b"".join(local.blocks(offset, length)) == data[offset : offset + length]
        finally:
            local.close()


def test_blocks_larger_than_the_read_size_and_chunks_across_them(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 5)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    local = open_source(path, 2 * MiB + 3)
    try:
        assert local.chunk_digest(0, 2 * MiB + 3) == hashlib.sha256(data[: 2 * MiB + 3]).digest()
        tail = data[2 * MiB + 3 :]
        assert local.chunk_digest(2 * MiB + 3, len(tail)) == hashlib.sha256(tail).digest()
        blocks = list(local.blocks(0, len(data)))
        assert max(len(block) for block in blocks) == MiB  # never more than one block in memory
        assert b"".join(blocks) == data
    finally:
        local.close()


def test_an_offset_off_the_first_pass_grid_is_hashed_from_the_file() -> None:
    data = os.urandom(10 * KiB)
    local = open_source(data, 4 * KiB)
    # A server offset of 1000 (bytes kept from a chunk without checksum, or another chunk size).
    assert local.chunk_digest(1000, 4 * KiB) == hashlib.sha256(data[1000 : 1000 + 4 * KiB]).digest()


def test_reread_hashes_the_file_again(tmp_path: Path) -> None:
    path = tmp_path / "evidence.bin"
    path.write_bytes(b"a" * 100)
    local = open_source(path, 64)
    try:
        first = local.chunk_digest(0, 64)
        path.write_bytes(b"b" * 100)  # the file changed after the first pass
        assert local.chunk_digest(0, 64) == first  # the first pass's digest
        assert local.chunk_digest(0, 64, reread=True) == hashlib.sha256(b"b" * 64).digest()
    finally:
        local.close()


def test_a_source_that_got_shorter_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "evidence.bin"
    path.write_bytes(b"x" * 100)
    local = open_source(path, 64)
    try:
        path.write_bytes(b"x" * 70)
        with pytest.raises(IntegrityError, match="changed while uploading") as info:
            list(local.blocks(64, 36))
        assert info.value.local_sha256 == hashlib.sha256(b"x" * 100).hexdigest()
    finally:
        local.close()


def test_spooling_a_stream_does_not_take_memory_by_the_chunk_size() -> None:
    data = os.urandom(8 * MiB)
    stream = NonSeekable(data)  # a pipe: reads of 1000 bytes at most
    tracemalloc.start()
    try:
        local = open_source(stream, 8 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert local.sha256 == hashlib.sha256(data).hexdigest()
    finally:
        local.close()
    assert peak < 3 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_chunk_body_is_read_anew_on_every_iteration_sync_and_async() -> None:
    data = os.urandom(3 * MiB)
    local = open_source(data, 4 * MiB)
    body = ChunkBody(local, MiB, 2 * MiB - 1)
    assert len(body) == 2 * MiB - 1
    first = b"".join(body)
    assert first == b"".join(body) == data[MiB : 3 * MiB - 1]

    async def collect() -> bytes:
        return b"".join([bytes(part) async for part in body])

    assert anyio.run(collect) == first


def test_a_checksum_mismatch_makes_the_next_attempt_hash_again() -> None:
    attempt = ChunkAttempt(offset=0, size=10)
    attempt.failed(OSError("reset"))
    assert (attempt.stale, attempt.reread) == (True, False)
    attempt.failed(api_error_from_response(503, None))
    assert attempt.reread is False
    mismatch = api_error_from_response(460, None)
    assert isinstance(mismatch, ChecksumMismatchError)
    attempt.failed(mismatch)
    assert attempt.reread is True


def test_local_file_opened_on_bytes_never_copies_for_the_first_pass() -> None:
    data = bytearray(os.urandom(2 * KiB))
    local = LocalFile(file=None, data=memoryview(data), start=0, owned=False)
    local.measure(KiB)
    assert local.sha256 == hashlib.sha256(data).hexdigest()


def test_reads_from_several_threads_never_mix(tmp_path: Path) -> None:
    """A cancelled async attempt's worker thread may still read while the next attempt reads."""
    data = os.urandom(4 * MiB)
    path = tmp_path / "evidence.bin"
    path.write_bytes(data)
    local = open_source(path, MiB)
    wrong: list[int] = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            offset = rng.randrange(0, 4 * MiB - 64 * KiB)
            if (
                bytes(local.read_block(offset, offset + 64 * KiB))
                != data[offset : offset + 64 * KiB]
            ):
                wrong.append(offset)

    try:
        threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        local.close()
    assert wrong == []


def test_a_close_during_a_read_puts_the_file_back_when_the_read_ends() -> None:
    """Closing never waits for a read in progress (a worker thread whose async caller was
    cancelled): further reads are refused, and that read puts the file back when it ends."""
    data = os.urandom(3 * KiB)
    file = Gated(data, block_at=100 + KiB, times=2)  # the first pass reads there once
    file.seek(100)
    local = open_source(file, KiB)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(bytes(local.read_block(KiB, 2 * KiB))))
    reader.start()
    try:
        assert file.blocked.wait(10)
        local.close()  # returns at once
        assert file.tell() == 100 + KiB  # not moved under the read
        with pytest.raises(ValueError, match="not read any more"):
            local.read_block(0, KiB)
    finally:
        file.gate.set()
        reader.join(10)
    assert got == [data[100 + KiB : 100 + 2 * KiB]]
    assert file.tell() == 100
    assert content_size(file) == 3 * KiB - 100  # let go: another reader does not wait


def test_an_object_read_by_an_upload_is_not_moved_by_another() -> None:
    file = io.BytesIO(os.urandom(3 * KiB))
    file.seek(100)
    local = open_source(file, KiB)
    sizes: list[int | None] = []
    other = threading.Thread(target=lambda: sizes.append(content_size(file)))
    other.start()  # waits until the upload lets go of the object
    try:
        assert bytes(local.read_block(0, KiB)) == file.getvalue()[100 : 100 + KiB]
        assert sizes == []
    finally:
        local.close()
        other.join(10)
    assert sizes == [3 * KiB - 100]
    assert file.tell() == 100
