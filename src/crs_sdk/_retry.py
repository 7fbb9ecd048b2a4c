"""Retry policy and the pure retry decisions; `crs_sdk._retry_call` lets tenacity drive them.

What a caller may rely on:

* Only transient failures are retried: transport errors (connection failures, timeouts) and
  the statuses in `RetryPolicy.retry_statuses` (408, 429, 500, 502, 503, 504 by default).
* A ``409`` ``idempotency_key_in_flight`` (an earlier attempt of the same call is still being
  processed by the server) is retried: the repeat gets that attempt's stored answer.
* ``GET``, ``HEAD``, ``OPTIONS``, ``PUT`` and ``DELETE`` are idempotent and always eligible;
  ``POST`` and ``PATCH`` are retried only when the request carries an ``Idempotency-Key`` (the
  SDK sends one on every ``POST``, reused across all attempts of the call).
* Waits are exponential (``initial_backoff * 2 ** (attempt - 1)``, capped at ``max_backoff``) with
  full jitter. A ``Retry-After`` header is honoured: the wait is the larger of the two. A
  ``Retry-After`` above ``max_retry_after`` is not waited for; the error (a `RateLimitError` for a
  ``429``) is raised at once and carries the value.
* ``deadline`` bounds the whole call, attempts and sleeps included (each attempt's timeout is
  clipped to the time left). The backoff is clipped so that at least half of the remaining time
  is left for the next attempt; a ``Retry-After`` that does not fit in the remaining time, or no
  time left at all, ends the call with `DeadlineExceeded` (``__cause__``: the last error); an
  attempt is never sent with no time left. The token request a call sends is bounded the same
  way, by that call's deadline. What the deadline cannot cut short: httpx's timeouts are per
  operation (a read timeout bounds each read, not the whole answer, so a server that trickles a
  body can hold an attempt longer).
* Each client keeps a retry budget (a sliding-window token bucket, thread-safe): retries may
  be at most ``budget.ratio`` of the requests plus ``budget.min_retries``, over
  ``budget.window`` seconds. When it is spent, `RetryBudgetExhausted` (``__cause__``: the last
  error) is raised instead of retrying, so that a failing platform is not hammered. Only the
  last ``window`` seconds are kept (memory does not grow with the client's age), and only calls
  made under a policy with a budget count as requests.
* When ``max_attempts`` is reached the last error itself is raised.
* Every retry calls ``on_retry`` with a `RetryEvent` and logs one ``INFO`` line on the ``crs_sdk``
  logger. Neither ever contains headers (they carry the bearer token).

``crs_sdk.testing.set_testing(True)`` turns every wait into a no-op *that still counts against the
deadline*, so tests are fast and deterministic. The waits skipped in a thread or asyncio task are
also added up (`skipped_waits`), so that an operation made of several calls (``reports.wait``)
counts its calls' skipped waits against its own deadline.
"""

from __future__ import annotations

import bisect
import contextvars
import email.utils
import enum
import logging
import math
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

import attrs
import httpx

from crs_sdk._config import (
    DEFAULT_INITIAL_BACKOFF,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_RETRY_BUDGET_MIN,
    DEFAULT_RETRY_BUDGET_RATIO,
    DEFAULT_RETRY_BUDGET_WINDOW,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_RETRY_STATUSES,
)
from crs_sdk._exceptions import (
    IdempotencyConflictError,
)
from crs_sdk._exceptions import (
    TransportError as CRSTransportError,
)

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Collection, Iterable


__all__ = [
    "IDEMPOTENT_METHODS",
    "RetryBudget",
    "RetryBudgetTracker",
    "RetryEvent",
    "RetryPolicy",
    "StopReason",
    "backoff",
    "compute_wait",
    "is_testing",
    "parse_retry_after",
    "set_testing",
    "should_retry",
    "skip_wait",
    "skipped_waits",
]

logger = logging.getLogger("crs_sdk")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Anything beyond 2**63 seconds is "forever"; the cap keeps float arithmetic finite.
_MAX_EXPONENT = 63


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:  # also rejects nan
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _finite_non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    return frozenset(statuses)


@attrs.frozen
class RetryBudget:
    """How many retries a client may make: ``min_retries + ratio * requests`` per ``window``.

    Each value must be a number >= 0, and ``window`` (seconds) a finite one: the client keeps
    the time of each request made within the last ``window`` seconds.

    .. versionadded:: 0.1.0
    """

    ratio: float = attrs.field(default=DEFAULT_RETRY_BUDGET_RATIO, validator=_non_negative)
    min_retries: int = attrs.field(default=DEFAULT_RETRY_BUDGET_MIN, validator=_non_negative)
    window: float = attrs.field(default=DEFAULT_RETRY_BUDGET_WINDOW, validator=_finite_non_negative)


@attrs.frozen
class RetryEvent:
    """What the ``on_retry`` hook is told about one retry. It never carries any header.

    Attributes:
        attempt: the attempt about to be made (2 for the first retry).
        max_attempts: the policy's ``max_attempts``.
        wait: seconds the SDK waits before that attempt (what it would wait in testing mode).
        reason: short text, e.g. ``"503 service_unavailable"`` or ``"ConnectError"``.
        method: the HTTP method.
        path: the URL path, without query string.
        status_code: the status of the failed attempt, or ``None`` for a transport error.
        exception: the name of the failed attempt's exception class, or ``None``.

    .. versionadded:: 0.1.0
    """

    attempt: int
    max_attempts: int
    wait: float
    reason: str
    method: str
    path: str
    status_code: int | None
    exception: str | None


@attrs.frozen
class RetryPolicy:
    """How a client retries; a frozen value (make variants with `attrs.evolve`).

    ``deadline=None`` removes the overall deadline (so does ``math.inf``, or any deadline longer
    than a socket can wait, about 292 years); ``budget=None`` removes the retry budget.

    .. versionadded:: 0.1.0
    """

    max_attempts: int = attrs.field(default=DEFAULT_MAX_ATTEMPTS)
    initial_backoff: float = attrs.field(default=DEFAULT_INITIAL_BACKOFF, validator=_non_negative)
    max_backoff: float = attrs.field(default=DEFAULT_MAX_BACKOFF, validator=_non_negative)
    jitter: bool = True
    deadline: float | None = attrs.field(
        default=DEFAULT_RETRY_DEADLINE, validator=_positive_or_none
    )
    max_retry_after: float = attrs.field(default=DEFAULT_MAX_RETRY_AFTER, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=_status_set
    )
    budget: RetryBudget | None = attrs.field(factory=RetryBudget)
    #: Called with a `RetryEvent` before each retry's wait; what it returns is ignored (a counter's
    #: ``update``, a list's ``append``, a metrics client's ``increment`` will do).
    on_retry: Callable[[RetryEvent], object] | None = attrs.field(default=None, eq=False)

    @max_attempts.validator
    def _check_max_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"max_attempts must be >= 1, got {value!r}")

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(max_attempts=1)


# --- pure decisions -----------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value, or ``None`` if unusable.

    Accepts delta-seconds (integers, and leniently decimals) and HTTP-dates. Negative values and
    dates in the past give ``0.0``; ``nan``, infinities and garbage give ``None``. Huge values are
    returned as they are: the policy's ``max_retry_after`` decides what to do with them.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _parse_http_date(text, now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _parse_http_date(text: str, now: datetime) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return max((when - now).total_seconds(), 0.0)


def should_retry(
    *,
    method: str,
    status_code: int | None,
    exception: BaseException | None,
    has_idempotency_key: bool,
    retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
) -> bool:
    """Whether a failed attempt is worth another one (ignoring attempts, deadline and budget)."""
    if method.upper() not in IDEMPOTENT_METHODS and not has_idempotency_key:
        return False
    if isinstance(exception, IdempotencyConflictError):
        # The first attempt with this key is still being processed (its answer was lost to us):
        # after a wait, the same key gets that attempt's stored response.
        return True
    if status_code is not None:
        return status_code in retry_statuses
    if _fails_the_same_again(exception):
        return False
    return isinstance(exception, (CRSTransportError, httpx.TransportError))


def _fails_the_same_again(exception: BaseException | None) -> bool:
    """Whether ``exception`` (or one of its causes) would come back on every attempt: TLS refused
    the server's certificate, the redirects go round (`httpx.TooManyRedirects`), or the request
    itself is not valid HTTP (`httpx.LocalProtocolError`: the same request is built again)."""
    import ssl  # the clients import it already (their TLS options)

    seen: set[int] = set()
    while exception is not None and id(exception) not in seen:
        if isinstance(
            exception,
            (ssl.SSLCertVerificationError, httpx.TooManyRedirects, httpx.LocalProtocolError),
        ):
            return True
        seen.add(id(exception))
        exception = exception.__cause__ or exception.__context__
    return False


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """The pause after failed attempt number ``attempt`` (1-based): exponential, capped, jittered.

    With ``jitter`` the pause is uniform in ``[0, cap]`` ("full jitter"), else it is ``cap``.
    """
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    cap = min(policy.max_backoff, policy.initial_backoff * 2.0**exponent)
    if policy.jitter:
        return rng.uniform(0.0, cap)
    return cap


#: About 146 years: `time.sleep` and the event loop refuse a pause whose end they cannot represent
#: (from about `threading.TIMEOUT_MAX`), which a huge ``Retry-After`` with no deadline (and no cap,
#: ``max_retry_after=math.inf``) would ask for. No pause is longer.
LONGEST_PAUSE: Final = threading.TIMEOUT_MAX / 2


def compute_wait(
    *,
    backoff: float,
    retry_after: float | None,
    remaining: float | None,
) -> float | None:
    """The pause before the next attempt, or ``None`` when the deadline does not allow one.

    ``remaining`` is the time left before the deadline (``None``: no deadline). The backoff is
    clipped to half of it; a ``Retry-After`` is not negotiable, so one that does not fit means stop.
    A deadline further away than `LONGEST_PAUSE` (``math.inf`` included) is no deadline, and no
    pause is longer than `LONGEST_PAUSE`.
    """
    server_wait = 0.0 if retry_after is None else retry_after
    if remaining is None or remaining > LONGEST_PAUSE:
        return min(max(backoff, server_wait), LONGEST_PAUSE)
    if remaining <= 0 or server_wait >= remaining:
        return None
    return max(min(backoff, remaining / 2), server_wait)


class StopReason(enum.Enum):
    """Why a failed attempt is the last one."""

    NOT_RETRYABLE = "not_retryable"
    ATTEMPTS = "attempts"
    RETRY_AFTER_TOO_LONG = "retry_after_too_long"
    DEADLINE = "deadline"
    BUDGET = "budget"


# --- the retry budget ---------------------------------------------------------------------------


class RetryBudgetTracker:
    """Per-client record of recent requests and retries, shared by ``with_options`` copies.

    Holds only the times within the longest ``window`` of the budgets it was asked about (copies
    may have different ones), so its memory is bounded by the request rate, not by the client's
    age. Thread-safe; never blocks for long (no I/O under the lock), so async clients use it as is.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()
        self._horizon = 0.0

    def record_request(self, budget: RetryBudget) -> None:
        """Count the first attempt of a call made under ``budget``."""
        with self._lock:
            now = self._forget(budget)
            self._requests.append(now)

    def try_spend(self, budget: RetryBudget) -> bool:
        """Take one retry from the budget; ``False`` when none is left."""
        with self._lock:
            now = self._forget(budget)
            since = now - budget.window
            requests = len(self._requests) - bisect.bisect_right(self._requests, since)
            retries = len(self._retries) - bisect.bisect_right(self._retries, since)
            if retries + 1 > budget.min_retries + budget.ratio * requests:
                return False
            self._retries.append(now)
            return True

    def _forget(self, budget: RetryBudget) -> float:
        """Drop the times no budget asked about so far can use; the time now. Under the lock."""
        now = self._clock()
        self._horizon = max(self._horizon, budget.window)
        for times in (self._requests, self._retries):
            while times and times[0] <= now - self._horizon:
                times.popleft()
        return now


# --- the testing switch -------------------------------------------------------------------------


class _TestingSwitch:
    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = False


_TESTING = _TestingSwitch()


def set_testing(testing: bool) -> None:
    """Turn waiting off (``True``) or back on (``False``) for retries and ``reports.wait``."""
    _TESTING.enabled = testing


def is_testing() -> bool:
    """Whether waits are currently turned off."""
    return _TESTING.enabled


#: Per thread and per asyncio task (a context variable), so that concurrent tests do not count
#: each other's skipped waits.
_SKIPPED: contextvars.ContextVar[float] = contextvars.ContextVar(
    "crs_sdk_skipped_waits", default=0.0
)


def skip_wait(seconds: float) -> None:
    """Record a wait of ``seconds`` that testing mode skipped."""
    _SKIPPED.set(_SKIPPED.get() + seconds)


def skipped_waits() -> float:
    """Seconds of waits skipped in testing mode so far in this thread or asyncio task."""
    return _SKIPPED.get()
