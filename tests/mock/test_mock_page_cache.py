"""Evidence bytes leave the page cache once they are on the disk (`crs_mock._blobs.drop_cached`).

What is resident is asked of the kernel itself (``mincore`` on a mapping of the file), next to a
file written and synced the plain way, which stays in the cache: the check can tell them apart.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import mmap
import os
import sys
from pathlib import Path

import pytest

from crs_mock import _blobs
from crs_mock._blobs import BlobStore

BLOCK = 1024 * 1024
PAGE = mmap.PAGESIZE


def _file_system(path: Path) -> str:
    """The type of the file system ``path`` is on (the longest mount point above it)."""
    best, kind = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, point, fs_type, *_ = line.split()
        point = point.replace("\\040", " ")
        if (str(path) + "/").startswith(point.rstrip("/") + "/") and len(point) >= len(best):
            best, kind = point, fs_type
    return kind


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    if not sys.platform.startswith("linux") or not hasattr(os, "posix_fadvise"):
        pytest.skip("needs Linux (posix_fadvise, mincore)")
    if _file_system(tmp_path.resolve()) in {"tmpfs", "ramfs"}:
        pytest.skip("on a RAM-backed file system the page cache is the file")
    return tmp_path


def resident_pages(path: Path) -> int:
    """How many of the file's pages are in the page cache (``mincore``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = path.stat().st_size
    pages = (size + PAGE - 1) // PAGE
    vector = (ctypes.c_ubyte * pages)()
    descriptor = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
        finally:
            libc.munmap(address, size)
    finally:
        os.close(descriptor)
    return sum(page & 1 for page in vector)


def test_a_durable_chunk_is_not_kept_in_the_page_cache(folder: Path) -> None:
    data = os.urandom(4 * BLOCK)
    plain = folder / "plain.bin"
    with plain.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    if resident_pages(plain) == 0:
        pytest.skip("this file system keeps no written pages in the cache anyway")

    blobs = BlobStore(folder / "blobs")
    part = blobs.open_partial("upl_cache", 0)
    try:
        for start in range(0, len(data), BLOCK):
            part.write(bytearray(data[start : start + BLOCK]))
        part.sync()
    finally:
        part.close()
    path = blobs.partial_path("upl_cache")
    assert resident_pages(path) == 0
    assert path.read_bytes() == data  # all there, read back from the disk
    assert blobs.hash_partial("upl_cache", len(data)) == part.digest.hexdigest()


def test_a_file_system_that_refuses_the_advice_still_takes_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise OSError(errno.EINVAL, "no advice taken here")

    monkeypatch.setattr(os, "posix_fadvise", refuse, raising=False)
    monkeypatch.setattr(_blobs, "_FADVISE", True)
    blobs = BlobStore(tmp_path / "blobs")
    part = blobs.open_partial("upl_advice", 0)
    data = os.urandom(2 * BLOCK + 7)
    try:
        part.write(bytearray(data))
        part.sync()
    finally:
        part.close()
    assert blobs.partial_path("upl_advice").read_bytes() == data
    assert part.written == len(data)


def test_new_folders_of_stored_files_are_made_durable_in_their_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored file lives under ``sha256/<2 hex>/``: when that folder is new, its parent is
    fsynced too, else a power loss could lose the folder (and the file) after the commit that
    made the evidence. (A power loss cannot be simulated: the fsyncs are observed.)"""
    synced: list[Path] = []
    real = _blobs._fsync_directory

    def observed(path: Path) -> None:
        synced.append(path)
        real(path)

    monkeypatch.setattr(_blobs, "_fsync_directory", observed)
    blobs = BlobStore(tmp_path / "blobs")
    assert synced == [tmp_path / "blobs", tmp_path / "blobs"]  # uploads/ and sha256/ are new
    data = os.urandom(100)
    part = blobs.open_partial("upl_new", 0)
    try:
        part.write(bytearray(data))
        part.sync()
    finally:
        part.close()
    sha256 = hashlib.sha256(data).hexdigest()
    synced.clear()
    blobs.store("upl_new", sha256)
    prefix = blobs.blob_path(sha256).parent
    assert synced == [prefix.parent, prefix]  # the new folder's name, then the file's
