"""Evidence bytes on disk: unfinished uploads, and finished files stored by their SHA-256.

Layout under the blob directory (``<db>.blobs/`` next to a database file, or a temporary
directory removed on `BlobStore.close` for ``:memory:``)::

    uploads/<upload_id>.part     the bytes of an unfinished upload, appended as they arrive
    sha256/ab/cdef0123...        finished files, named by the SHA-256 of their content

A finished file is stored once however many reports it is attached to. Nothing here serves the
bytes to anyone.

Hashing: the SHA-256 of each partial file's committed bytes is kept in memory while the process
lives, updated as chunks are written and taken over when their offset is committed (`advance`), so
a finished upload's hash needs no second pass over the file. A process that did not see the bytes
arrive (after a restart) hashes the committed part of the file from disk once, the first time it
needs it: hash states cannot be persisted.

Durability: `PartialFile.sync` fsyncs before the upload's offset is committed to the database, so
the database offset never names bytes that are not on disk; a file that is *longer* than the
database says (the process died between writing and committing) is cut back by `reconcile`.

Page cache: the process that writes the bytes does not read them again (only one started after
a restart hashes them from the disk), so each block is handed to the disk as soon as it is
written and dropped from the page cache once it is there
(`drop_cached`). The fsync that makes a chunk durable then has little left to write, and an
upload does not grow the page cache by its size (memory the kernel would otherwise have to find
for every new file).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["BlobStore", "PartialFile", "drop_cached"]

_HASH_BLOCK = 1024 * 1024
_UPLOAD_ID = re.compile(r"upl_[A-Za-z0-9]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def drop_cached(file: IO[bytes], start: int) -> None:
    """Start writing ``file``'s bytes from ``start`` on to the disk, and drop those already written
    from the page cache (``POSIX_FADV_DONTNEED``; nothing where the platform has no such advice, or
    on a RAM-backed file system, whose pages are the file)."""
    file.flush()
    if _FADVISE:
        with contextlib.suppress(OSError):  # advice only: a file system may not take it
            os.posix_fadvise(file.fileno(), start, 0, os.POSIX_FADV_DONTNEED)


_FADVISE = hasattr(os, "posix_fadvise")


class PartialFile:
    """An unfinished upload's file, opened to append one chunk at `start`.

    ``digest`` is the SHA-256 of the file's first ``start + written`` bytes: the hash of the bytes
    before the chunk (left untouched) continued with every byte written since.
    """

    def __init__(self, path: Path, start: int, digest: hashlib._Hash) -> None:
        self.start = start
        self.written = 0
        self._before = digest
        self.digest = digest.copy()
        self._file = path.open("r+b" if path.exists() else "w+b")
        self._file.truncate(start)
        self._file.seek(start)

    def write(self, data: bytes | bytearray) -> None:
        self._file.write(data)
        drop_cached(self._file, self.start)
        self.digest.update(data)
        self.written += len(data)

    def sync(self) -> None:
        """Flush and fsync: after this the written bytes survive a crash."""
        self._file.flush()
        os.fsync(self._file.fileno())
        drop_cached(self._file, self.start)

    def rewind(self) -> None:
        """Drop this chunk: the file is cut back to `start` (and synced)."""
        self._file.truncate(self.start)
        self._file.seek(self.start)
        self.written = 0
        self.digest = self._before.copy()
        self.sync()

    def close(self) -> None:
        self._file.close()


class BlobStore:
    """The evidence directory: partial uploads and content-addressed finished files."""

    def __init__(self, root: str | Path | None) -> None:
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="crs-mock-blobs-")
            root = self._temporary.name
        self.root = Path(root)
        self._uploads = self.root / "uploads"
        self._files = self.root / "sha256"
        for folder in (self._uploads, self._files):
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                _fsync_directory(folder.parent)
        #: upload id -> (length, SHA-256 of the partial file's first `length` bytes).
        self._digests: dict[str, tuple[int, hashlib._Hash]] = {}

    def partial_path(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise ValueError(f"not an upload id: {upload_id!r}")
        return self._uploads / f"{upload_id}.part"

    def blob_path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self._files / sha256[:2] / sha256[2:]

    def open_partial(self, upload_id: str, start: int) -> PartialFile:
        """The upload's file, cut back to `start` (the committed offset), positioned there.

        The file must hold at least `start` bytes (`reconcile` first).
        """
        return PartialFile(self.partial_path(upload_id), start, self._digest(upload_id, start))

    def advance(self, upload_id: str, part: PartialFile) -> None:
        """Take over `part`'s hash once its bytes are durable and their offset committed."""
        self._digests[upload_id] = (part.start + part.written, part.digest)

    def reconcile(self, upload_id: str, committed: int) -> int:
        """Cut the file back to the `committed` offset; the bytes really held (may be fewer)."""
        path = self.partial_path(upload_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return 0
        if size > committed:
            with path.open("r+b") as file:
                file.truncate(committed)
                file.flush()
                os.fsync(file.fileno())
            return committed
        return size

    def hash_partial(self, upload_id: str, length: int) -> str:
        """Hex SHA-256 of the upload's first `length` bytes (its committed offset)."""
        return self._digest(upload_id, length).hexdigest()

    def _digest(self, upload_id: str, length: int) -> hashlib._Hash:
        known = self._digests.get(upload_id)
        if known is not None and known[0] == length:
            return known[1]
        digest = self._hash_file(upload_id, length)
        self._digests[upload_id] = (length, digest)
        return digest

    def _hash_file(self, upload_id: str, length: int) -> hashlib._Hash:
        """SHA-256 of the file's first `length` bytes, read in blocks (constant memory)."""
        digest = hashlib.sha256()
        if length == 0:
            return digest
        with self.partial_path(upload_id).open("rb") as file:
            left = length
            while left and (block := file.read(min(left, _HASH_BLOCK))):
                digest.update(block)
                left -= len(block)
        if left:
            raise ValueError(f"the file of upload {upload_id} holds fewer than {length} bytes")
        return digest

    def store(self, upload_id: str, sha256: str) -> None:
        """Make the finished upload's bytes durable under their hash (the partial file stays).

        Hard-linked when the file system allows, copied otherwise; a file already stored under
        this hash holds the same bytes, so it is kept as it is.
        """
        target = self.blob_path(sha256)
        if target.exists():
            return
        if not target.parent.is_dir():  # a new prefix: its name must be durable too
            target.parent.mkdir(exist_ok=True)
            _fsync_directory(target.parent.parent)
        staging = target.with_name(f"{target.name}.{upload_id}.tmp")
        staging.unlink(missing_ok=True)
        source = self.partial_path(upload_id)
        try:
            os.link(source, staging)
        except OSError:
            shutil.copyfile(source, staging)
            with staging.open("rb+") as file:
                os.fsync(file.fileno())
        staging.replace(target)
        _fsync_directory(target.parent)

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).exists()

    def discard(self, upload_id: str) -> None:
        """Delete an upload's partial file, if any, and forget its hash."""
        self.partial_path(upload_id).unlink(missing_ok=True)
        self._digests.pop(upload_id, None)

    def delete_blob(self, sha256: str) -> None:
        """Delete the file stored under `sha256`, if any (no evidence may refer to it)."""
        self.blob_path(sha256).unlink(missing_ok=True)

    def listing(self) -> list[Path]:
        """Every file in the directory now, partial and stored (for `collect_garbage`)."""
        partials = list(self._uploads.iterdir())
        return partials + [path for folder in self._files.iterdir() for path in folder.iterdir()]

    def collect_garbage(
        self, listed: Iterable[Path], open_uploads: Iterable[str], referenced: Iterable[str]
    ) -> int:
        """Delete the `listed` files that are not the partial file of an open upload nor a stored
        file that evidence refers to; how many.

        `listed` is a `listing` taken *before* `open_uploads` and `referenced` were read, so a
        file that appeared meanwhile (an upload created, a file stored) is not looked at.
        """
        open_ids = set(open_uploads)
        keep = {self._uploads / f"{upload_id}.part" for upload_id in open_ids}
        keep.update(self._files / sha256[:2] / sha256[2:] for sha256 in referenced)
        for upload_id in set(self._digests) - open_ids:
            self._digests.pop(upload_id, None)
        removed = 0
        for path in listed:
            if path not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def close(self) -> None:
        """Remove the directory if it is a temporary one (a named directory is kept)."""
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
