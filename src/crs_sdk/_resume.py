"""Where the evidence uploader remembers unfinished uploads, so that a new process can resume them.

A resume point maps a key (the server's base URL, the report, the file's SHA-256 and size, and the
SHA-256 of the metadata the upload records) to the upload's URL. That is all a store ever holds:
no token, no secret, no file content, no file name. A call with other metadata (another file name,
media type, relevance or capture time) has another key, so it starts its own upload instead of
finishing one that would record the first call's. Entries written by development versions, whose
keys had no metadata, are never matched: such an upload starts again, and the old entry expires.

Losing an entry costs a fresh upload, never correctness, so the uploader treats a store that fails
(a read-only disk) as empty and carries on: `ResumePoint`, one upload's entry, logs such a failure
instead of raising it.

`FileResumeStore` writes a small JSON file atomically (a temporary file, then `os.replace`) under
a lock: a `threading.Lock` within the process and, on POSIX, an advisory ``flock`` on a sibling
``.lock`` file across processes. Entries older than ``ttl`` are dropped whenever the file is
written (unfinished uploads expire on the server long before that).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from crs_sdk._config import DEFAULT_RESUME_TTL

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "FileResumeStore",
    "MemoryResumeStore",
    "ResumePoint",
    "ResumeStore",
    "default_resume_path",
    "resume_key",
]

logger = logging.getLogger("crs_sdk")

_FORMAT_VERSION = 1


class _ProcessLock:
    """The lock of this process's threads on resume files. A child made by ``fork`` gets a new
    one: the parent's may have been held by another thread at the fork, which does not exist in
    the child, and would never be released there."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def renew(self) -> None:
        self.lock = threading.Lock()


_LOCK = _ProcessLock()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_LOCK.renew)


@runtime_checkable
class ResumeStore(Protocol):
    """Remembers the URL of each unfinished upload, by a key the uploader computes.

    Implement it to keep resume points somewhere else (a database, a shared volume); methods may
    raise `OSError`, which the uploader logs and otherwise ignores.

    .. versionadded:: 0.1.0
    """

    def get(self, key: str) -> str | None:
        """The upload URL stored under ``key``, or ``None``."""
        ...

    def set(self, key: str, url: str) -> None:
        """Remember ``url`` under ``key``, replacing any previous one."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key``; forgetting an unknown key is not an error."""
        ...


class MemoryResumeStore:
    """A `ResumeStore` in a dict: resumes within the process only (after a dropped connection).

    .. versionadded:: 0.1.0
    """

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryResumeStore(<{len(self._urls)} entries>)"

    def get(self, key: str) -> str | None:
        """The upload URL stored under ``key``, or ``None``."""
        with self._lock:
            return self._urls.get(key)

    def set(self, key: str, url: str) -> None:
        """Remember ``url`` under ``key``."""
        with self._lock:
            self._urls[key] = url

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._urls.pop(key, None)


def default_resume_path() -> Path:
    """``$XDG_CACHE_HOME/crs-sdk/uploads.json``, else the platform's user cache directory."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not base and sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", "").strip()
    cache = Path(base) if base else Path.home() / ".cache"
    return cache / "crs-sdk" / "uploads.json"


class FileResumeStore:
    """A `ResumeStore` in a JSON file: resumes after the process stopped (crash, restart).

    Args:
        path: The file; by default ``$XDG_CACHE_HOME/crs-sdk/uploads.json`` (or
            ``~/.cache/crs-sdk/uploads.json``). Its directory is created on the first write.
        ttl: Seconds after which an entry is dropped.

    A missing or unreadable file reads as empty. Nothing is read or written before the first call.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        ttl: float = DEFAULT_RESUME_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path) if path is not None else default_resume_path()
        self._ttl = ttl
        self._clock = clock

    @property
    def path(self) -> Path:
        """The JSON file."""
        return self._path

    def __repr__(self) -> str:
        return f"FileResumeStore({str(self._path)!r})"

    def get(self, key: str) -> str | None:
        """The upload URL stored under ``key``, or ``None`` (also when the entry is too old)."""
        with self._locked():
            entry = self._read().get(key)
        if entry is None or self._expired(entry):
            return None
        return str(entry["url"])

    def set(self, key: str, url: str) -> None:
        """Remember ``url`` under ``key`` (written to disk before returning)."""
        with self._locked():
            entries = self._read()
            entries[key] = {"url": url, "stored_at": self._clock()}
            self._write(entries)

    def delete(self, key: str) -> None:
        """Forget ``key`` (the file is rewritten only if it held the key)."""
        with self._locked():
            entries = self._read()
            if entries.pop(key, None) is not None:
                self._write(entries)

    # --- the file --------------------------------------------------------------------------------

    def _expired(self, entry: dict[str, Any]) -> bool:
        stored_at = entry.get("stored_at")
        if not isinstance(stored_at, (int, float)):
            return True
        return self._clock() - stored_at > self._ttl

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        uploads = data.get("uploads") if isinstance(data, dict) else None
        if not isinstance(uploads, dict):
            return {}
        return {
            key: entry
            for key, entry in uploads.items()
            if isinstance(entry, dict) and isinstance(entry.get("url"), str)
        }

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        fresh = {key: entry for key, entry in entries.items() if not self._expired(entry)}
        text = json.dumps({"version": _FORMAT_VERSION, "uploads": fresh}, indent=1, sort_keys=True)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".uploads-", suffix=".tmp", dir=self._path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            Path(temp).replace(self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temp).unlink()
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with _LOCK.lock, _file_lock(self._path.with_name(self._path.name + ".lock")):
            yield


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only

    @contextlib.contextmanager
    def _file_lock(_path: Path) -> Iterator[None]:
        # No portable advisory lock in the standard library: within one process the threading
        # lock still holds, and os.replace keeps the file whole either way.
        yield

else:
    import fcntl

    @contextlib.contextmanager
    def _file_lock(path: Path) -> Iterator[None]:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a")
        except OSError:
            handle = None
        if handle is None:
            yield  # a read-only cache: reads still work, writes fail on their own
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def resume_key(base_url: str, report_id: str, sha256: str, size: int, *, metadata: str) -> str:
    """The key of an upload in a resume store; the base URL keeps servers apart.

    ``metadata`` is the ``Upload-Metadata`` the upload is created with (file name, media type,
    relevance, capture time): the server fixes it at creation, so a call that would record other
    metadata must not continue that upload. The key holds its SHA-256, never the file name.
    """
    recorded = hashlib.sha256(metadata.encode("utf-8")).hexdigest()
    return f"{base_url} {report_id} sha256:{sha256} {size} metadata:{recorded}"


@attrs.define
class ResumePoint:
    """One upload's entry in a resume store (or none); a failing store is logged, not raised."""

    store: ResumeStore | None
    key: str

    def get(self) -> str | None:
        """The stored upload URL, if any."""
        if self.store is None:
            return None
        try:
            return self.store.get(self.key)
        except OSError as exc:
            logger.warning("cannot read the upload resume store: %s", exc)
            return None

    def remember(self, url: str) -> None:
        """Store the upload URL."""
        if self.store is None:
            return
        try:
            self.store.set(self.key, url)
        except OSError as exc:
            logger.warning("cannot write the upload resume store: %s", exc)

    def forget(self) -> None:
        """Drop the entry."""
        if self.store is None:
            return
        try:
            self.store.delete(self.key)
        except OSError as exc:
            logger.warning("cannot write the upload resume store: %s", exc)
