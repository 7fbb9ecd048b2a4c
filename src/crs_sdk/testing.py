"""Helpers for testing code that uses the SDK.

Turn retry and polling waits off so that tests run fast, in the style of ``stamina.set_testing``::

    import crs_sdk.testing

    crs_sdk.testing.set_testing(True)  # for a whole test session (e.g. in conftest.py)

    with crs_sdk.testing.no_retry_waits():  # or for one block
        ...

Waits that are skipped still count against deadlines (``RetryPolicy.deadline``, the ``timeout`` of
``reports.wait``), so a test of a deadline finishes at once and behaves as it would in real time.
The hooks and log lines still report the wait the SDK would have made.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from crs_sdk._retry import is_testing, set_testing

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["is_testing", "no_retry_waits", "set_testing"]


@contextlib.contextmanager
def no_retry_waits() -> Iterator[None]:
    """Turn waits off inside the block and restore the previous setting after it."""
    previous = is_testing()
    set_testing(True)
    try:
        yield
    finally:
        set_testing(previous)
