"""Who may read a caller's file object: one upload at a time, process-wide.

An upload claims a file object of the caller's (`IN_USE`) before it reads its position, and lets
go once it has put it back. Another upload of the same object waits meanwhile: e.g. the next call
after an async upload was cancelled while its worker thread was still reading. An async caller
waits in a thread of its own (`in_own_thread`), never in the event loop's default executor, whose
threads the reading upload needs.

Waiting for the upload that runs the waiting code (a ``progress`` callback uploading the same
object again) would be waiting for ever: while an upload runs, its thread or task holds the object
(`held`), and a claim from within it raises `ValueError` instead: by the same task, or, for the
sync client, in the same thread (also through an event loop the callback runs there). Another task
(one the callback starts) or thread waits, as for any other upload.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Final, TypeAlias, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = ["IN_USE", "FilesInUse", "held", "in_own_thread"]

_T = TypeVar("_T")

#: Who runs a piece of code: its thread, and the asyncio task it runs for (or ``None``).
_Runner: TypeAlias = "tuple[int, object | None]"

#: The caller's file objects that uploads hold in this context (`held`): their ids, each with who
#: runs the holding upload (`_runner`). A claim of one of them from within that upload (e.g. from
#: its ``progress`` callback) would wait for its own upload to end: it is refused instead.
_HELD: ContextVar[Mapping[int, _Runner]] = ContextVar(
    "crs_sdk_files_held", default=types.MappingProxyType({})
)
#: Who a thread of `in_own_thread` works for: its caller (the event loop's thread, the task).
_CALLER: ContextVar[_Runner | None] = ContextVar("crs_sdk_upload_caller", default=None)


def _runner() -> _Runner:
    """Who runs this code: the thread and the asyncio task, if any (in a thread of
    `in_own_thread`, its caller's)."""
    caller = _CALLER.get()
    if caller is not None:
        return caller
    task = None
    asyncio = sys.modules.get("asyncio")  # never imported: no task can run
    if asyncio is not None:
        with contextlib.suppress(RuntimeError):  # no event loop runs in this thread
            task = asyncio.current_task()
    return threading.get_ident(), task


def _within(holder: _Runner, claimer: _Runner) -> bool:
    """Whether the claimer runs within the holder's upload, which waits for it: the same task,
    or, for a holder without a task (the sync client), the same thread (also through an event
    loop that a ``progress`` callback runs there)."""
    (holder_thread, holder_task), (claimer_thread, claimer_task) = holder, claimer
    if holder_task is not None:
        return claimer_task is holder_task
    return claimer_thread == holder_thread


class FilesInUse:
    """The caller's file objects that an upload is reading, by ``id``. Each claim keeps a
    reference to its object, so its id cannot be given to another object while it is claimed."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._claimed: dict[int, IO[bytes]] = {}

    def claim(self, file: IO[bytes]) -> None:
        """Wait until no other upload reads ``file``, then take it.

        Raises:
            ValueError: an upload that runs this code (through its ``progress`` callback) holds
                ``file``: waiting for it would be waiting for ever.
        """
        holder = _HELD.get().get(id(file))
        if holder is not None and _within(holder, _runner()):
            raise ValueError(
                "this file object is being uploaded by the call that runs this code (e.g. from "
                "its progress callback): it cannot be read again before that upload returns"
            )
        with self._changed:
            self._changed.wait_for(lambda: id(file) not in self._claimed)
            self._claimed[id(file)] = file

    def release(self, file: IO[bytes]) -> None:
        with self._changed:
            if self._claimed.get(id(file)) is file:
                del self._claimed[id(file)]
            self._changed.notify_all()

    @contextlib.contextmanager
    def using(self, file: IO[bytes]) -> Iterator[None]:
        self.claim(file)
        try:
            yield
        finally:
            self.release(file)


#: The registry of the process.
IN_USE: Final = FilesInUse()


@contextlib.contextmanager
def held(file: IO[bytes]) -> Iterator[None]:
    """Mark ``file`` as held by the current thread or task (an upload of it runs there): a claim
    of it by the same thread or task raises `ValueError` at once (`FilesInUse.claim`)."""
    token = _HELD.set(types.MappingProxyType({**_HELD.get(), id(file): _runner()}))
    try:
        yield
    finally:
        _HELD.reset(token)


async def in_own_thread(function: Callable[..., _T], *args: object) -> _T:
    """``function(*args)`` in a thread of its own (with the caller's context), awaited.

    Not in the event loop's default executor, as `asyncio.to_thread` would: the call may wait there
    for a file object another upload is reading (`FilesInUse`), and that upload reads its chunks
    in the executor; enough waiters would leave it no thread, and every one of them would wait for
    ever. A caller that stops waiting (cancelled) leaves the thread to end on its own.
    """
    import asyncio  # the sync client never needs it
    import contextvars

    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()
    context.run(_CALLER.set, _runner())  # the thread works for its caller

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():  # the caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result: _T | None = None
        error: BaseException | None = None
        try:
            result = context.run(function, *args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="crs-sdk-upload-source", daemon=True).start()
    return await future
