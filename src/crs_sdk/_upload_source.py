"""The local side of an evidence upload: the source, its first pass, and chunks read as sent.

`open_source` reads the source once, 1 MiB at a time, for its size and SHA-256 (the hash must be in
the creation request) and, in a second thread, the SHA-256 of every chunk (for their
``Upload-Checksum``). Paths and seekable binary files are read again as each chunk is sent
(`ChunkBody`); a non-seekable stream is copied to a temporary file on disk first, 1 MiB at a time
too. Memory never grows with the file or the chunk size: one block at a time.

A seekable file object of the caller's is read from its position at the call, and `LocalFile.close`
puts it back there, whether the upload succeeded or not: calling again with the same object reads
the same bytes (and so resumes the same upload).

A caller's file object is read by one upload at a time, process-wide (`crs_sdk._file_claims`): an
upload claims it before it reads its position, and lets go once it is put back. Closing a
`LocalFile` refuses further reads; a read in progress (in a thread whose caller was cancelled) puts
the file back when it ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from typing import IO, TYPE_CHECKING, Final, TypeAlias

from crs_sdk._exceptions import IntegrityError
from crs_sdk._file_claims import IN_USE, held

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

__all__ = [
    "ChunkBody",
    "LocalFile",
    "UploadSource",
    "check_chunk_size",
    "content_sha256",
    "content_size",
    "open_source",
]

#: What ``evidence.upload`` accepts: a path, the bytes themselves, or a binary file object.
UploadSource: TypeAlias = "str | os.PathLike[str] | bytes | IO[bytes]"


def check_chunk_size(chunk_size: object) -> None:
    """Refuse a chunk size that is not a positive integer."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}")


def _seekable(file: IO[bytes]) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _binary(block: object) -> bytes | memoryview:
    """``block`` (what a read of the caller's file object returned), if it is binary.

    Raises:
        TypeError: it is not (a text file object): the message says to open the file with 'rb'.
    """
    if isinstance(block, bytes):
        return block
    if isinstance(block, (bytearray, memoryview)):
        return memoryview(block)
    raise TypeError(
        f"the file object's read() returned {type(block).__name__}, not bytes: "
        "open it in binary mode ('rb')"
    )


#: Bytes read from the source at a time.
_BLOCK: Final = 1024 * 1024


class LocalFile:
    """The source after the first pass: its size, its SHA-256 and each chunk's, and its bytes.

    A read is a seek and a read under a lock, so reads from several threads (an async upload whose
    cancelled attempt is still reading in its worker thread while the next one starts) never mix.
    A file object of the caller's (``owned=False``) must have been claimed (`IN_USE`);
    `close` lets go of it. Reads are refused once closed, or once ``stop`` is set.
    """

    def __init__(
        self,
        *,
        file: IO[bytes] | None,
        data: memoryview | None,
        start: int,
        owned: bool,
        stop: threading.Event | None = None,
    ) -> None:
        self._file = file
        self._data = data
        self._start = start
        self._owned = owned
        self._stop = stop or threading.Event()
        self.size = 0
        self.sha256 = ""
        self._chunk_size = 0
        self._chunk_digests: list[bytes] = []
        self._lock = threading.Lock()
        self._state = threading.Lock()  # guards _closed and _readers
        self._closed = False
        self._readers = 0

    def held(self) -> contextlib.AbstractContextManager[None]:
        """While the upload runs: the caller's file object is held by the current thread or task
        (`crs_sdk._file_claims.held`), so that another upload of it started from there (the
        upload's ``progress`` callback) raises `ValueError` rather than wait for ever."""
        if self._file is None or self._owned:
            return contextlib.nullcontext()
        return held(self._file)

    def _read(self, offset: int, length: int) -> bytes | memoryview:
        """Up to ``length`` bytes at ``offset``; fewer only at the end of the source.

        Raises:
            ValueError: the file was closed (the upload is over), or its caller stopped waiting.
        """
        _check_stop(self._stop)
        if self._data is not None:
            with self._state:
                if self._closed:
                    raise ValueError("the upload is over: its source is not read any more")
                return self._data[offset : offset + length]
        assert self._file is not None  # noqa: S101 - a file or data, never neither
        with self._state:
            if self._closed:
                raise ValueError("the upload is over: its source is not read any more")
            self._readers += 1
        try:
            with self._lock:
                self._file.seek(self._start + offset)
                block = self._file.read(length)
            return _binary(block)
        finally:
            if self._read_ended():
                self._let_go()

    def _read_ended(self) -> bool:
        """Count a read out; whether it was the last one of a closed file."""
        with self._state:
            self._readers -= 1
            return self._closed and not self._readers

    def measure(self, chunk_size: int) -> None:
        """Read everything once for ``size`` and ``sha256``, and the SHA-256 of every chunk.

        The chunks are those of an upload from offset 0 in steps of ``chunk_size``; their digests
        (32 bytes each) go in the ``Upload-Checksum`` of each ``PATCH``, so that sending reads the
        file without hashing it again. The two hashes run side by side, the chunks' in a second
        thread (hashlib lets go of the GIL): the server is idle during this pass.
        """
        from concurrent.futures import ThreadPoolExecutor  # only uploads need it

        whole = hashlib.sha256()
        chunk = hashlib.sha256()
        in_chunk = size = 0
        digests: list[bytes] = []
        with ThreadPoolExecutor(1, thread_name_prefix="crs-sdk-sha256") as pool:
            while block := self._read(size, min(_BLOCK, chunk_size - in_chunk)):
                whole_done = pool.submit(whole.update, block)
                chunk.update(block)
                in_chunk += len(block)
                size += len(block)
                if in_chunk == chunk_size:
                    digests.append(chunk.digest())
                    chunk, in_chunk = hashlib.sha256(), 0
                whole_done.result()
        if in_chunk:
            digests.append(chunk.digest())
        self.size, self.sha256 = size, whole.hexdigest()
        self._chunk_size, self._chunk_digests = chunk_size, digests

    def blocks(self, offset: int, length: int) -> Iterator[bytes | memoryview]:
        """The ``length`` bytes at ``offset`` (fewer at the end), a block at a time.

        Raises:
            IntegrityError: the source got shorter since it was measured.
        """
        end = min(offset + length, self.size)
        while offset < end:
            block = self.read_block(offset, end)
            offset += len(block)
            yield block

    def read_block(self, offset: int, end: int) -> bytes | memoryview:
        """The next block of ``[offset, end)``: at most `_BLOCK` bytes, never none.

        Raises:
            IntegrityError: the source got shorter since it was measured (its ``local_sha256`` is
                the first pass's).
        """
        block = self._read(offset, min(_BLOCK, end - offset))
        if not block:
            raise IntegrityError(
                f"the source changed while uploading: it ends before byte {end} "
                f"of the {self.size} it had when it was read first",
                local_sha256=self.sha256,
            )
        return block

    def chunk_digest(self, offset: int, length: int, *, reread: bool = False) -> bytes:
        """The SHA-256 of ``length`` bytes at ``offset``: from the first pass where the chunk is
        one of its chunks, else (or with ``reread``) read and hashed now."""
        index, rest = divmod(offset, self._chunk_size or 1)
        expected = min(self._chunk_size, self.size - offset)
        if not reread and not rest and length == expected and index < len(self._chunk_digests):
            return self._chunk_digests[index]
        digest = hashlib.sha256()
        for block in self.blocks(offset, length):
            digest.update(block)
        return digest.digest()

    def close(self) -> None:
        """Close the file if this object opened it (a path, or the spool of a stream); put the
        caller's own file object back at the position it was read from, and let go of it.

        Never waits: reads are refused from now on, and a read in progress (a thread whose
        caller was cancelled) does this when it ends.
        """
        with self._state:
            if self._closed:
                return
            self._closed = True
            reading = self._readers > 0
        if not reading:
            self._let_go()

    def _let_go(self) -> None:
        """What `close` does, once no read is in progress (exactly once)."""
        if self._data is not None:
            self._data.release()  # a caller's bytearray can be resized again
        if self._file is None:
            return
        if self._owned:
            self._file.close()
            return
        try:
            with contextlib.suppress(OSError, ValueError):  # e.g. closed by the caller
                self._file.seek(self._start)
        finally:
            IN_USE.release(self._file)


class ChunkBody:
    """The body of one ``PATCH``: ``length`` bytes of the source from ``offset``, read as sent.

    Memory holds one block at a time, whatever the chunk size. The async client reads each
    block in a worker thread. Each iteration reads the bytes anew (a resent request).
    """

    def __init__(self, local: LocalFile, offset: int, length: int) -> None:
        self._local = local
        self._offset = offset
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes | memoryview]:
        return self._local.blocks(self._offset, self._length)

    async def __aiter__(self) -> AsyncIterator[bytes | memoryview]:
        import asyncio  # the sync client never needs it

        offset, end = self._offset, self._offset + self._length
        while offset < end:
            block = await asyncio.to_thread(self._local.read_block, offset, end)
            offset += len(block)
            yield block


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise ValueError("the upload is over: its source is not read any more")


def _spool(stream: IO[bytes], stop: threading.Event | None) -> IO[bytes]:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - returned, closed by LocalFile.close
    try:
        while True:
            _check_stop(stop)  # before the read: a stopped upload takes nothing more from it
            block = stream.read(_BLOCK)
            if not block:
                break
            spool.write(_binary(block))
    except BaseException:
        spool.close()
        raise
    return spool


def content_size(source: UploadSource) -> int | None:
    """The number of bytes an upload of ``source`` sends, if known without reading it: a path's
    size, the bytes' length, a seekable file object's size from its position; ``None`` for a stream
    that cannot seek.

    Raises:
        OSError: a path cannot be looked at.
    """
    if isinstance(source, (str, os.PathLike)):
        return os.stat(source).st_size  # noqa: PTH116 - str or PathLike alike
    if isinstance(source, (bytes, bytearray, memoryview)):
        return memoryview(source).nbytes
    if not _seekable(source):
        return None
    with IN_USE.using(source):  # not while an upload reads it
        position = source.tell()
        try:
            return source.seek(0, os.SEEK_END) - position
        finally:
            source.seek(position)


def content_sha256(source: UploadSource, *, stop: threading.Event | None = None) -> str:
    """The SHA-256 of what an upload of ``source`` sends (a read of the whole source; a file
    object is put back at its position). Not for a stream that cannot seek: it would be used up.
    Once ``stop`` is set, reading stops at the next block (`ValueError`)."""
    local = open_source(source, _BLOCK, stop=stop)
    try:
        return local.sha256
    finally:
        local.close()


def _open_file(source: IO[bytes], stop: threading.Event | None) -> LocalFile:
    """A caller's file object, claimed (waiting for another upload that reads it to end)."""
    IN_USE.claim(source)
    try:
        _check_stop(stop)  # stopped while it waited: nothing is read
        if _seekable(source):
            return LocalFile(file=source, data=None, start=source.tell(), owned=False, stop=stop)
    except BaseException:
        IN_USE.release(source)
        raise
    with contextlib.ExitStack() as claimed:  # a stream is let go once copied
        claimed.callback(IN_USE.release, source)
        return LocalFile(file=_spool(source, stop), data=None, start=0, owned=True, stop=stop)


def open_source(
    source: UploadSource, chunk_size: int, *, stop: threading.Event | None = None
) -> LocalFile:
    """Open ``source`` and make the first pass over it (blocking file I/O).

    A non-seekable stream is copied to an anonymous temporary file first, since it must be read
    twice (once for the hash that goes in the creation request, once to send it). A file object
    another upload is reading is waited for. Once ``stop`` is set, reading stops at the next
    block (`ValueError`), and the file is closed or put back.

    Raises:
        TypeError: ``source`` is none of a path, bytes or a binary file object.
        OSError: the file cannot be read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source).cast("B")
        local = LocalFile(file=None, data=data, start=0, owned=False, stop=stop)
    elif isinstance(source, (str, os.PathLike)):
        file = open(source, "rb")  # noqa: SIM115, PTH123 - closed by LocalFile.close
        local = LocalFile(file=file, data=None, start=0, owned=True, stop=stop)
    elif callable(getattr(source, "read", None)):
        local = _open_file(source, stop)
    else:
        raise TypeError(
            f"source must be a path, bytes or a binary file object, not {type(source).__name__}"
        )
    try:
        local.measure(chunk_size)
    except BaseException:
        local.close()
        raise
    return local
