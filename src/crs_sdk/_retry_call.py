"""The retry state of one call, and the glue that lets tenacity drive the pure decisions.

The policy and the decisions themselves are in `crs_sdk._retry`, with what a caller may rely on.
The first attempt of a call runs outside tenacity (`RetryCall.may_retry`, `retry_after`): nearly
every call succeeds at once, and tenacity is imported only when an attempt failed with something
retryable.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from crs_sdk._exceptions import APIError, DeadlineExceeded, RetryBudgetExhausted
from crs_sdk._retry import (
    RetryBudgetTracker,
    RetryEvent,
    RetryPolicy,
    StopReason,
    backoff,
    compute_wait,
    is_testing,
    parse_retry_after,
    should_retry,
    skip_wait,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import tenacity as _t

T = TypeVar("T")

__all__ = ["RetryCall", "reason_of", "retry_after_of"]

logger = logging.getLogger("crs_sdk")


def _status_of(exc: BaseException | None) -> int | None:
    return exc.status_code if isinstance(exc, APIError) else None


def retry_after_of(exc: BaseException | None, now: datetime) -> float | None:
    """The pause an error asks for: its ``Retry-After`` header (seconds or an HTTP date), else
    its problem's ``retry_after``; ``None`` when it asks for none (or none usable)."""
    if not isinstance(exc, APIError):
        return None
    headers: Mapping[str, str] = exc.headers
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    seconds = parse_retry_after(value, now)
    if seconds is None and exc.problem is not None and exc.problem.retry_after is not None:
        return parse_retry_after(str(exc.problem.retry_after), now)
    return seconds


def reason_of(exc: BaseException) -> str:
    """A short account of an error for logs: ``503 service_unavailable``, ``ConnectError``."""
    if isinstance(exc, APIError):
        code = getattr(exc.problem, "code", None)
        label = getattr(code, "value", code)
        return f"{exc.status_code} {label}" if label else str(exc.status_code)
    return type(exc).__name__


#: The jitter's random numbers, shared by every call: a new ``random.Random()`` per call would
#: read the OS's entropy to seed itself (about 10 us, on every request).
_JITTER: Final = random.Random()  # noqa: S311 - backoff jitter, not a secret


@attrs.define
class RetryCall:
    """The retry state of one API call; hands tenacity its ``retry``/``wait``/``stop`` callbacks.

    The decision for a failed attempt is computed once, in `_decide`, from the pure functions above.
    """

    policy: RetryPolicy
    method: str
    path: str
    has_idempotency_key: bool
    tracker: RetryBudgetTracker | None
    rng: random.Random = attrs.field(factory=lambda: _JITTER)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], datetime] = attrs.field(default=lambda: datetime.now(timezone.utc))
    started: float = attrs.field(init=False)
    skipped: float = attrs.field(init=False, default=0.0)
    stop_reason: StopReason | None = attrs.field(init=False, default=None)
    next_wait: float = attrs.field(init=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        self.started = self.clock()
        if self.tracker is not None and self.policy.budget is not None:
            self.tracker.record_request(self.policy.budget)

    def elapsed(self) -> float:
        """Seconds since the call started, counting waits skipped in testing mode."""
        return self.clock() - self.started + self.skipped

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or ``None`` without a deadline."""
        if self.policy.deadline is None:
            return None
        return self.policy.deadline - self.elapsed()

    def sleep_seconds(self, seconds: float) -> float:
        """The real pause for a planned one: ``seconds``, or ``0`` in testing mode."""
        if is_testing():
            self.skipped += seconds
            skip_wait(seconds)
            return 0.0
        return seconds

    def _decide(self, attempt: int, exc: BaseException) -> None:
        self.next_wait = 0.0
        self.stop_reason = self._stop_reason(attempt, exc)

    def _stop_reason(self, attempt: int, exc: BaseException) -> StopReason | None:
        policy = self.policy
        status = _status_of(exc)
        if not should_retry(
            method=self.method,
            status_code=status,
            exception=exc,
            has_idempotency_key=self.has_idempotency_key,
            retry_statuses=policy.retry_statuses,
        ):
            return StopReason.NOT_RETRYABLE
        if attempt >= policy.max_attempts:
            return StopReason.ATTEMPTS
        retry_after = retry_after_of(exc, self.wall_clock())
        if retry_after is not None and retry_after > policy.max_retry_after:
            return StopReason.RETRY_AFTER_TOO_LONG
        wait = compute_wait(
            backoff=backoff(attempt, policy, self.rng),
            retry_after=retry_after,
            remaining=self.remaining(),
        )
        if wait is None:
            return StopReason.DEADLINE
        budget, tracker = policy.budget, self.tracker
        if budget is not None and tracker is not None and not tracker.try_spend(budget):
            return StopReason.BUDGET
        self.next_wait = wait
        return None

    # tenacity callbacks ---------------------------------------------------------------------------

    def _retry(self, state: _t.RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        assert exc is not None  # noqa: S101 - a failed outcome has an exception
        self._decide(state.attempt_number, exc)
        return self.stop_reason is not StopReason.NOT_RETRYABLE

    def _wait(self, _: _t.RetryCallState) -> float:
        return self.next_wait

    def _stop(self, _: _t.RetryCallState) -> bool:
        return self.stop_reason is not None

    def _give_up(self, state: _t.RetryCallState) -> Any:
        assert state.outcome is not None  # noqa: S101 - only called after a failed attempt
        last = state.outcome.exception()
        assert last is not None  # noqa: S101
        attempts = state.attempt_number
        if self.stop_reason is StopReason.DEADLINE:
            raise DeadlineExceeded(
                f"{self.method} {self.path}: retry deadline of {self.policy.deadline}s exceeded "
                f"after {attempts} attempt(s); last error: {reason_of(last)}",
                attempts=attempts,
                last_exception=last,
            ) from last
        if self.stop_reason is StopReason.BUDGET:
            raise RetryBudgetExhausted(
                f"{self.method} {self.path}: retry budget exhausted after {attempts} attempt(s); "
                f"last error: {reason_of(last)}",
                attempts=attempts,
                last_exception=last,
            ) from last
        raise last

    def _announce(self, state: _t.RetryCallState) -> None:
        assert state.outcome is not None  # noqa: S101
        exc = state.outcome.exception()
        assert exc is not None  # noqa: S101
        event = RetryEvent(
            attempt=state.attempt_number + 1,
            max_attempts=self.policy.max_attempts,
            wait=self.next_wait,
            reason=reason_of(exc),
            method=self.method,
            path=self.path,
            status_code=_status_of(exc),
            exception=None if isinstance(exc, APIError) else type(exc).__name__,
        )
        logger.info(
            "retrying %s %s in %.2fs (attempt %d/%d): %s",
            event.method,
            event.path,
            event.wait,
            event.attempt,
            event.max_attempts,
            event.reason,
        )
        if self.policy.on_retry is not None:
            self.policy.on_retry(event)

    def tenacity_options(self) -> dict[str, Any]:
        """Keyword arguments for `tenacity.Retrying` and `tenacity.AsyncRetrying`, but ``sleep``."""
        return {
            "retry": self._retry,
            "wait": self._wait,
            "stop": self._stop,
            "retry_error_callback": self._give_up,
            "before_sleep": self._announce,
            "reraise": True,
        }

    def retrying(self, sleep: Callable[[float], None]) -> _t.Retrying:
        """A synchronous tenacity controller for this call."""
        import tenacity as _t  # only once an attempt failed: most calls never need it

        return _t.Retrying(sleep=sleep, **self.tenacity_options())

    def async_retrying(self, sleep: Callable[[float], Any]) -> _t.AsyncRetrying:
        """An asynchronous tenacity controller for this call."""
        import tenacity as _t

        return _t.AsyncRetrying(sleep=sleep, **self.tenacity_options())

    # the rest of a call whose first attempt failed ----------------------------------------------

    def may_retry(self, exc: BaseException) -> bool:
        """Whether the first attempt's failure ``exc`` may be retried at all (a pure check).

        ``False`` means that the error is final whatever the attempts, deadline and budget: the
        caller raises it as it is, which is what tenacity would do, without building a controller.
        """
        return should_retry(
            method=self.method,
            status_code=_status_of(exc),
            exception=exc,
            has_idempotency_key=self.has_idempotency_key,
            retry_statuses=self.policy.retry_statuses,
        )

    def retry_after(
        self, failure: BaseException, attempt: Callable[[], T], sleep: Callable[[float], None]
    ) -> T:
        """Finish a call whose first attempt, made by the caller, failed with ``failure``.

        Tenacity sees ``failure`` as its attempt number 1 and then calls ``attempt`` for the next
        ones, so the decisions, ``on_retry`` events and final errors are those of a call driven
        by tenacity from the start. The first attempt runs outside tenacity because nearly every
        call succeeds at once, and building the controller costs more than the rest of the retry
        state.
        """
        replay = [failure]

        def next_attempt() -> T:
            if replay:
                raise replay.pop()
            return attempt()

        def pause(seconds: float) -> None:
            sleep(self.sleep_seconds(seconds))

        result: T = self.retrying(pause)(next_attempt)
        return result

    async def aretry_after(
        self,
        failure: BaseException,
        attempt: Callable[[], Awaitable[T]],
        sleep: Callable[[float], Awaitable[None]],
    ) -> T:
        """`retry_after` for the async client."""
        replay = [failure]

        async def next_attempt() -> T:
            if replay:
                raise replay.pop()
            return await attempt()

        async def pause(seconds: float) -> None:
            await sleep(self.sleep_seconds(seconds))

        result: T = await self.async_retrying(pause)(next_attempt)
        return result
