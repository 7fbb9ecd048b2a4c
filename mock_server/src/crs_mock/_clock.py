"""The mock platform's virtual clock, and RFC 3339 conversions of its time.

Everything the mock does with time (review stages, draft expiry, token expiry, idempotency-key
retention, timestamps in responses) reads one `ReviewClock`, so a test can move the whole platform
forward with `advance()` instead of sleeping.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LATEST_TIME", "ClockState", "ReviewClock", "format_ms", "parse_rfc3339_ms"]

#: The latest virtual time (epoch seconds, 9000-01-01T00:00:00Z): every timestamp the mock derives
#: from "now" (expiries, review and retry schedules, years ahead at most) stays a valid RFC 3339
#: date before 9999-12-31.
LATEST_TIME = 221845392000


@dataclass(frozen=True)
class ClockState:
    """What a `ReviewClock` needs to carry on after a restart.

    `virtual` was the virtual time (epoch seconds) at real time `anchor`; when the clock runs,
    virtual time moves `rate` seconds per real second from there, so time that passed while the
    server was down counts as time that passed on the platform.
    """

    virtual: float
    anchor: float
    frozen: bool
    rate: float


class ReviewClock:
    """Virtual platform time: real time scaled by `rate`, plus every `advance()`; or frozen.

    Thread-safe. Listeners added with `add_listener` are called (outside the clock's lock) after
    every change, which is how the server persists the clock and wakes its review scheduler.

    Raises:
        ValueError: `rate` is not a positive number, or `start` is before 1970 or after
            `LATEST_TIME` (or NaN), or a naive `datetime`.
    """

    def __init__(
        self,
        *,
        start: float | datetime | None = None,
        frozen: bool = False,
        rate: float = 1.0,
        real: Callable[[], float] = time.time,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError("rate must be a positive number")
        virtual = None if start is None else _epoch(start)
        if virtual is not None and not 0 <= virtual <= LATEST_TIME:  # also refuses nan
            # Every timestamp the mock shows is derived from it: one it cannot write as RFC 3339
            # would make every answer that carries one a 500.
            raise ValueError(
                f"start must be from 1970-01-01T00:00:00Z to {format_ms(LATEST_TIME * 1000)}"
            )
        self._real = real
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        anchor = real()
        virtual = anchor if virtual is None else virtual
        self._state = ClockState(virtual=virtual, anchor=anchor, frozen=frozen, rate=rate)

    def now(self) -> float:
        """Virtual time in epoch seconds."""
        with self._lock:
            return self._now()

    def now_ms(self) -> int:
        """Virtual time in whole epoch milliseconds, the resolution the mock stores and reports."""
        return math.floor(self.now() * 1000)

    @property
    def frozen(self) -> bool:
        return self._state.frozen

    @property
    def rate(self) -> float:
        """Virtual seconds per real second while the clock runs."""
        return self._state.rate

    def advance(self, seconds: float) -> float:
        """Move virtual time forward by `seconds` (frozen or not) and return the new time.

        Raises:
            ValueError: ``seconds`` is negative or not finite, or the clock would pass
                `LATEST_TIME`.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("seconds must be a finite number >= 0")
        with self._lock:
            now = self._now() + seconds
            if now > LATEST_TIME:
                raise ValueError("the clock would pass the latest time it can show")
            self._state = ClockState(now, self._real(), self._state.frozen, self._state.rate)
        self._notify()
        return now

    def freeze(self) -> float:
        """Stop virtual time where it is (only `advance()` moves it then) and return it."""
        with self._lock:
            now = self._now()
            self._state = ClockState(now, self._real(), frozen=True, rate=self._state.rate)
        self._notify()
        return now

    def unfreeze(self) -> float:
        """Let virtual time run with real time again, from where it stands, and return it."""
        with self._lock:
            now = self._now()
            self._state = ClockState(now, self._real(), frozen=False, rate=self._state.rate)
        self._notify()
        return now

    def reset(self) -> None:
        """Back to real time, running (at the clock's rate), as the control API's reset says."""
        with self._lock:
            real = self._real()
            self._state = ClockState(real, real, frozen=False, rate=self._state.rate)
        self._notify()

    def real_seconds_until(self, virtual: float) -> float | None:
        """Real seconds until virtual time reaches `virtual`; `None` while frozen (never, alone)."""
        with self._lock:
            if self._state.frozen:
                return None
            return max(0.0, (virtual - self._now()) / self._state.rate)

    def state(self) -> ClockState:
        with self._lock:
            return self._state

    def restore(self, state: ClockState) -> None:
        """Take over a persisted state (without notifying listeners)."""
        with self._lock:
            self._state = state

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.remove(listener)

    def _now(self) -> float:
        state = self._state
        if state.frozen:
            return state.virtual
        return state.virtual + (self._real() - state.anchor) * state.rate

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else f"running x{self.rate:g}"
        return f"<ReviewClock {format_ms(self.now_ms())} {state}>"


def _epoch(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        return value.timestamp()
    return float(value)


def format_ms(ms: int) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-11-23T10:15:00.000Z``."""
    seconds, millis = divmod(ms, 1000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
)


def parse_rfc3339_ms(value: str) -> int:
    """Epoch milliseconds of an RFC 3339 date-time with an offset; `ValueError` otherwise."""
    if not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time with a time zone")
    text = value.upper().replace("Z", "+00:00")
    head, sep, tail = text.partition(".")
    if sep:  # fromisoformat before 3.11 takes 3 or 6 fraction digits only
        offset = tail.lstrip("0123456789")
        fraction = tail[: len(tail) - len(offset)]
        text = f"{head}.{(fraction + '000000')[:6]}{offset}"
    moment = datetime.fromisoformat(text)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
