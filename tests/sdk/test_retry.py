"""The pure retry decisions, by table: Retry-After, should_retry, backoff, waits, the budget."""

from __future__ import annotations

import math
import random
import threading
import typing
from collections.abc import Callable
from datetime import datetime, timezone

import attrs
import httpx
import pytest
import tenacity

import crs_sdk.testing
from crs_sdk import (
    APIError,
    ConnectError,
    DeadlineExceeded,
    DecodeError,
    Problem,
    ProblemCode,
    RateLimitError,
    RequestTimeout,
    RetryBudget,
    RetryBudgetExhausted,
    RetryEvent,
    RetryPolicy,
    ServiceUnavailableError,
    TransportError,
    ValidationError,
)
from crs_sdk._api_errors import api_error_from_response
from crs_sdk._config import DEFAULT_RETRY_STATUSES
from crs_sdk._retry import (
    LONGEST_PAUSE,
    RetryBudgetTracker,
    backoff,
    compute_wait,
    parse_retry_after,
    should_retry,
)
from crs_sdk._retry_call import RetryCall

NOW = datetime(2026, 11, 23, 10, 15, 0, tzinfo=timezone.utc)


# --- parse_retry_after --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("1", 1.0),
        ("5", 5.0),
        ("  5 ", 5.0),
        ("\t7\n", 7.0),
        ("120", 120.0),
        ("0.5", 0.5),
        ("1.25", 1.25),
        ("+3", 3.0),
        ("-3", 0.0),
        ("-0.1", 0.0),
        ("-inf", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("Infinity", None),
        ("1e400", None),  # overflows to inf
        ("1e9", 1e9),  # huge but finite: returned as is, the policy caps it
        ("99999999999999999999", 1e20),
        ("abc", None),
        ("5 seconds", None),
        ("5s", None),
        ("0x10", None),
        ("1,5", None),
        ("Mon, 32 Nov 2026 10:15:00 GMT", None),
        ("Tue, 24 Nov 2026 10:15:00", 86400.0),  # no zone: read as GMT
        ("Mon, 23 Nov 2026 10:15:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 10:16:00 GMT", 60.0),
        ("Mon, 23 Nov 2026 11:15:00 GMT", 3600.0),
        ("Mon, 23 Nov 2026 10:15:00 GMT", 0.0),
        ("Mon, 23 Nov 2026 10:14:00 GMT", 0.0),  # in the past
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # RFC 9110's example, long past
        ("Mon, 23 Nov 2026 12:15:30 +0200", 30.0),
        ("Monday, 23-Nov-26 10:15:30 GMT", 30.0),  # obsolete RFC 850 form, still accepted
        ("Mon Nov 23 10:15:30 2026", 30.0),  # asctime form
        (
            "Mon, 23 Nov 9999 10:15:00 GMT",
            (datetime(9999, 11, 23, 10, 15, tzinfo=timezone.utc) - NOW).total_seconds(),
        ),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_naive_now_is_utc() -> None:
    assert parse_retry_after("Mon, 23 Nov 2026 10:15:10 GMT", NOW.replace(tzinfo=None)) == 10.0


# --- should_retry -------------------------------------------------------------------------------

METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH", "get", "post"]
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
STATUSES = [
    200,
    201,
    204,
    301,
    400,
    401,
    403,
    404,
    408,
    409,
    413,
    415,
    422,
    425,
    429,
    460,
    500,
    501,
    502,
    503,
    504,
    505,
    599,
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("has_key", [True, False])
def test_should_retry_statuses(method: str, status: int, has_key: bool) -> None:
    eligible = method.upper() in IDEMPOTENT or has_key
    expected = eligible and status in {408, 429, 500, 502, 503, 504}
    got = should_retry(
        method=method, status_code=status, exception=None, has_idempotency_key=has_key
    )
    assert got is expected


EXCEPTIONS: list[tuple[BaseException, bool]] = [
    (ConnectError("refused"), True),
    (RequestTimeout("slow"), True),
    (TransportError("reset"), True),
    (httpx.ConnectError("refused"), True),
    (httpx.ReadTimeout("slow"), True),
    (httpx.RemoteProtocolError("closed"), True),
    (DecodeError("bad body"), False),
    (ValueError("bug"), False),
    (KeyboardInterrupt(), False),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("exception", "transient"), EXCEPTIONS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("has_key", [True, False])
def test_should_retry_exceptions(
    method: str, exception: BaseException, transient: bool, has_key: bool
) -> None:
    eligible = method.upper() in IDEMPOTENT or has_key
    got = should_retry(
        method=method, status_code=None, exception=exception, has_idempotency_key=has_key
    )
    assert got is (eligible and transient)


@pytest.mark.parametrize(
    ("statuses", "status", "expected"),
    [
        (frozenset({503}), 503, True),
        (frozenset({503}), 500, False),
        (frozenset(), 503, False),
        (frozenset({409}), 409, True),
    ],
)
def test_should_retry_custom_statuses(
    statuses: frozenset[int], status: int, expected: bool
) -> None:
    got = should_retry(
        method="GET",
        status_code=status,
        exception=None,
        has_idempotency_key=False,
        retry_statuses=statuses,
    )
    assert got is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("idempotency_key_in_flight", True), ("duplicate_client_reference", False), (None, False)],
)
def test_should_retry_idempotency_key_in_flight(code: str | None, expected: bool) -> None:
    problem = None
    if code is not None:
        problem = Problem(
            type=f"urn:crs:problem:{code}",
            title="Conflict",
            status=409,
            detail=None,
            instance=None,
            code=ProblemCode(code),
            request_id="req_1",
        )
    error = api_error_from_response(409, problem, request_id="req_1")
    got = should_retry(method="POST", status_code=409, exception=error, has_idempotency_key=True)
    assert got is expected


def test_default_retry_statuses() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == DEFAULT_RETRY_STATUSES


# --- backoff ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "initial", "maximum", "cap"),
    [
        (1, 0.5, 30.0, 0.5),
        (2, 0.5, 30.0, 1.0),
        (3, 0.5, 30.0, 2.0),
        (4, 0.5, 30.0, 4.0),
        (6, 0.5, 30.0, 16.0),
        (7, 0.5, 30.0, 30.0),
        (50, 0.5, 30.0, 30.0),
        (10_000, 0.5, 30.0, 30.0),  # no overflow
        (0, 0.5, 30.0, 0.5),
        (1, 0.0, 30.0, 0.0),
        (3, 1.0, 2.5, 2.5),
        (1, 5.0, 1.0, 1.0),
    ],
)
@pytest.mark.parametrize("seed", range(5))
def test_backoff_bounds(
    attempt: int, initial: float, maximum: float, cap: float, seed: int
) -> None:
    jittered = RetryPolicy(initial_backoff=initial, max_backoff=maximum, jitter=True)
    plain = attrs.evolve(jittered, jitter=False)
    assert backoff(attempt, plain, random.Random(seed)) == cap
    assert 0.0 <= backoff(attempt, jittered, random.Random(seed)) <= cap


def test_backoff_full_jitter_spreads_over_the_whole_range() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=100.0)
    rng = random.Random(1234)
    waits = [backoff(5, policy, rng) for _ in range(2000)]
    assert min(waits) < 1.0
    assert max(waits) > 15.0
    assert all(0 <= w <= 16.0 for w in waits)


def test_backoff_is_reproducible_with_a_seed() -> None:
    policy = RetryPolicy()
    first = [backoff(a, policy, random.Random(7)) for a in range(1, 6)]
    assert first == [backoff(a, policy, random.Random(7)) for a in range(1, 6)]


# --- compute_wait -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff_s", "retry_after", "remaining", "expected"),
    [
        (1.0, None, None, 1.0),  # no deadline
        (1.0, 10.0, None, 10.0),
        (10.0, 1.0, None, 10.0),  # the larger of the two
        (1.0, None, 60.0, 1.0),
        (1.0, 5.0, 60.0, 5.0),
        (7.0, 5.0, 60.0, 7.0),
        (40.0, None, 60.0, 30.0),  # backoff clipped to half the remaining time
        (40.0, 5.0, 60.0, 30.0),
        (40.0, 45.0, 60.0, 45.0),  # Retry-After is not clipped...
        (1.0, 60.0, 60.0, None),  # ...so one that does not fit stops
        (1.0, 90.0, 60.0, None),
        (1.0, None, 0.0, None),  # no time left
        (1.0, None, -5.0, None),
        (0.0, None, 0.001, 0.0),
        (0.0, 0.0, 10.0, 0.0),
        # With no deadline and max_retry_after=math.inf, a pause time.sleep could not take.
        (1.0, 1e15, None, LONGEST_PAUSE),
        (1.0, math.inf, None, LONGEST_PAUSE),
        (1e300, None, None, LONGEST_PAUSE),
        # A deadline further away than any pause (math.inf included) is none.
        (1.0, 2.5e11, math.inf, LONGEST_PAUSE),
        (1.0, 2.5e11, 1e12, LONGEST_PAUSE),
        (1.0, 5.0, math.inf, 5.0),
    ],
)
def test_compute_wait(
    backoff_s: float, retry_after: float | None, remaining: float | None, expected: float | None
) -> None:
    assert compute_wait(backoff=backoff_s, retry_after=retry_after, remaining=remaining) == expected


# --- the policy value ---------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 5
    assert policy.initial_backoff == 0.5
    assert policy.max_backoff == 30.0
    assert policy.jitter is True
    assert policy.deadline == 60.0
    assert policy.max_retry_after == 60.0
    assert policy.retry_statuses == frozenset({408, 429, 500, 502, 503, 504})
    assert policy.budget == RetryBudget(ratio=0.2, min_retries=10, window=10.0)
    assert policy.on_retry is None


def test_policy_disabled_and_frozen() -> None:
    assert RetryPolicy.disabled().max_attempts == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RetryPolicy().max_attempts = 3  # type: ignore[misc]


def test_policy_statuses_are_a_frozenset() -> None:
    assert RetryPolicy(retry_statuses=[503, 503]).retry_statuses == frozenset({503})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"initial_backoff": -1.0},
        {"max_backoff": float("nan")},
        {"deadline": 0.0},
        {"deadline": -1.0},
        {"max_retry_after": -1.0},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [math.inf, math.nan, -1.0])
def test_budget_window_is_a_finite_number(window: float) -> None:
    """An endless window would keep every request's time for the life of the client."""
    with pytest.raises(ValueError, match="window must be a finite number >= 0"):
        RetryBudget(window=window)


# --- the budget ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("ratio", "floor", "requests", "allowed"),
    [
        (0.2, 10, 0, 10),
        (0.2, 10, 10, 12),
        (0.2, 10, 100, 30),
        (0.0, 3, 100, 3),
        (0.5, 0, 10, 5),
        (1.0, 0, 0, 0),
    ],
)
def test_budget_allowance(ratio: float, floor: int, requests: int, allowed: int) -> None:
    tracker = RetryBudgetTracker(clock=FakeClock())
    budget = RetryBudget(ratio=ratio, min_retries=floor, window=10.0)
    for _ in range(requests):
        tracker.record_request(budget)
    spent = sum(tracker.try_spend(budget) for _ in range(allowed + 50))
    assert spent == allowed


def test_budget_window_slides() -> None:
    clock = FakeClock()
    tracker = RetryBudgetTracker(clock=clock)
    budget = RetryBudget(ratio=0.0, min_retries=2, window=10.0)
    assert tracker.try_spend(budget)
    assert tracker.try_spend(budget)
    assert not tracker.try_spend(budget)
    clock.now += 9.9
    assert not tracker.try_spend(budget)
    clock.now += 0.2
    assert tracker.try_spend(budget)


def test_budget_holds_only_its_window_of_requests_when_nothing_is_retried() -> None:
    """A healthy platform: no retry ever prunes, yet memory stays that of one window."""
    clock = FakeClock()
    tracker = RetryBudgetTracker(clock=clock)
    budget = RetryBudget(window=10.0)
    for _ in range(10_000):
        tracker.record_request(budget)
        clock.now += 0.01  # 100 requests a second: 1,000 within the window
    assert len(tracker._requests) <= 1_001  # the window, give or take a float rounding
    clock.now += 10.0
    tracker.record_request(budget)
    assert len(tracker._requests) == 1


def test_budgets_of_different_windows_share_a_tracker() -> None:
    """``with_options`` copies share the tracker: a short window does not forget a long one's."""
    clock = FakeClock()
    tracker = RetryBudgetTracker(clock=clock)
    long, short = (RetryBudget(ratio=1.0, min_retries=0, window=w) for w in (60.0, 10.0))
    for _ in range(4):
        tracker.record_request(long)
    clock.now += 30.0
    assert not tracker.try_spend(short)  # no request in the last 10 s
    assert tracker.try_spend(long)  # 4 requests in the last 60 s
    assert sum(tracker.try_spend(long) for _ in range(10)) == 3


def test_budget_is_thread_safe() -> None:
    tracker = RetryBudgetTracker(clock=FakeClock())
    budget = RetryBudget(ratio=0.0, min_retries=100, window=10.0)
    results: list[bool] = []
    lock = threading.Lock()

    def spend() -> None:
        for _ in range(50):
            ok = tracker.try_spend(budget)
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=spend) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 100


# --- the call controller, driven by tenacity ----------------------------------------------------


def _unavailable(retry_after: str | None = None) -> ServiceUnavailableError:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return ServiceUnavailableError("503", status_code=503, headers=headers)


def _rate_limited(retry_after: str) -> RateLimitError:
    return RateLimitError("429", status_code=429, headers={"Retry-After": retry_after})


def run(call: RetryCall, outcomes: list[BaseException | str]) -> tuple[str, list[float]]:
    """Drive ``call`` with tenacity over scripted outcomes; return the result and the sleeps."""
    sleeps: list[float] = []
    script = iter(outcomes)

    def attempt() -> str:
        outcome = next(script)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        call.sleep_seconds(seconds)

    with crs_sdk.testing.no_retry_waits():
        return call.retrying(sleep)(attempt), sleeps


def make_call(
    policy: RetryPolicy, method: str = "GET", *, key: bool = False, **kw: object
) -> RetryCall:
    return RetryCall(
        policy=policy,
        method=method,
        path="/v1/reports",
        has_idempotency_key=key,
        tracker=kw.pop("tracker", None),  # type: ignore[arg-type]
        rng=random.Random(0),
        clock=FakeClock(),
        wall_clock=lambda: NOW,
    )


def test_call_retries_then_succeeds() -> None:
    events: list[RetryEvent] = []
    policy = RetryPolicy(jitter=False, on_retry=events.append)
    result, sleeps = run(make_call(policy), [_unavailable(), ConnectError("x"), "ok"])
    assert result == "ok"
    assert sleeps == [0.5, 1.0]
    assert [(e.attempt, e.wait, e.reason, e.status_code, e.exception) for e in events] == [
        (2, 0.5, "503", 503, None),
        (3, 1.0, "ConnectError", None, "ConnectError"),
    ]


def test_call_gives_up_with_the_last_error_after_max_attempts() -> None:
    last = _unavailable()
    with pytest.raises(ServiceUnavailableError) as info:
        run(make_call(RetryPolicy(max_attempts=3)), [_unavailable(), _unavailable(), last])
    assert info.value is last


def test_call_does_not_retry_a_client_error() -> None:
    error = ValidationError("422", status_code=422)
    with pytest.raises(ValidationError):
        run(make_call(RetryPolicy()), [error, "never"])


def test_call_does_not_retry_a_post_without_key() -> None:
    with pytest.raises(ServiceUnavailableError):
        run(make_call(RetryPolicy(), "POST"), [_unavailable(), "never"])
    result, _ = run(make_call(RetryPolicy(), "POST", key=True), [_unavailable(), "ok"])
    assert result == "ok"


def test_call_honours_retry_after() -> None:
    result, sleeps = run(make_call(RetryPolicy(jitter=False)), [_rate_limited("7"), "ok"])
    assert (result, sleeps) == ("ok", [7.0])


def test_call_raises_rate_limit_beyond_max_retry_after() -> None:
    error = _rate_limited("3600")
    with pytest.raises(RateLimitError) as info:
        run(make_call(RetryPolicy(max_retry_after=60)), [error, "never"])
    assert info.value is error
    assert info.value.retry_after == 3600.0


def test_call_deadline_counts_skipped_waits() -> None:
    policy = RetryPolicy(max_attempts=100, jitter=False, initial_backoff=1.0, deadline=10.0)
    with pytest.raises(DeadlineExceeded) as info:
        run(make_call(policy), [_unavailable()] * 100)
    assert isinstance(info.value.__cause__, ServiceUnavailableError)
    assert info.value.last_exception is info.value.__cause__
    # waits 1, 2, 4 (=7s); the next (8s) is clipped to 1.5s (half of 3s); then 0.75s... until 0.
    assert 3 < info.value.attempts < 100


def test_call_deadline_stops_on_retry_after_longer_than_remaining() -> None:
    with pytest.raises(DeadlineExceeded) as info:
        run(make_call(RetryPolicy(deadline=5.0)), [_unavailable("30"), "never"])
    assert info.value.attempts == 1


def test_call_budget_exhaustion_wraps_the_last_error() -> None:
    tracker = RetryBudgetTracker(clock=FakeClock())
    policy = RetryPolicy(budget=RetryBudget(ratio=0.0, min_retries=1, window=60.0))
    result, _ = run(make_call(policy, tracker=tracker), [_unavailable(), "ok"])
    assert result == "ok"
    with pytest.raises(RetryBudgetExhausted) as info:
        run(make_call(policy, tracker=tracker), [_unavailable(), "never"])
    assert isinstance(info.value.__cause__, ServiceUnavailableError)


def test_call_budget_none_means_unlimited() -> None:
    tracker = RetryBudgetTracker(clock=FakeClock())
    policy = RetryPolicy(budget=None, max_attempts=50, deadline=None)
    result, sleeps = run(make_call(policy, tracker=tracker), [*[_unavailable()] * 40, "ok"])
    assert (result, len(sleeps)) == ("ok", 40)


def test_retry_event_reason_uses_the_problem_code() -> None:
    from crs_sdk import Problem, ProblemCode

    events: list[RetryEvent] = []
    error = ServiceUnavailableError(
        "503", status_code=503, problem=Problem(code=ProblemCode.SERVICE_UNAVAILABLE)
    )
    run(make_call(RetryPolicy(on_retry=events.append)), [error, "ok"])
    assert events[0].reason == "503 service_unavailable"


def test_retry_event_never_has_headers() -> None:
    assert "headers" not in {a.name for a in attrs.fields(RetryEvent)}


def test_testing_switch_context_manager_restores() -> None:
    assert not crs_sdk.testing.is_testing()
    with crs_sdk.testing.no_retry_waits():
        assert crs_sdk.testing.is_testing()
        with crs_sdk.testing.no_retry_waits():
            assert crs_sdk.testing.is_testing()
        assert crs_sdk.testing.is_testing()
    assert not crs_sdk.testing.is_testing()
    crs_sdk.testing.set_testing(True)
    try:
        assert crs_sdk.testing.is_testing()
    finally:
        crs_sdk.testing.set_testing(False)


def test_sleep_seconds_real_outside_testing() -> None:
    call = make_call(RetryPolicy())
    assert call.sleep_seconds(2.5) == 2.5
    assert call.elapsed() == 0.0


def test_tenacity_stays_private() -> None:
    import crs_sdk

    assert not any(getattr(crs_sdk, name) is tenacity for name in dir(crs_sdk))
    assert issubclass(DeadlineExceeded, crs_sdk.RetryError)
    assert not issubclass(APIError, tenacity.RetryError)


def test_on_retry_may_return_anything() -> None:
    """mypy --strict refused a hook that returns a value (``Callable[[RetryEvent], None]``),
    though the SDK ignores it: a metrics client's ``increment`` returns the new count."""
    annotation = attrs.fields(RetryPolicy).on_retry.type  # a string: postponed annotations
    namespace = {"Callable": Callable, "RetryEvent": RetryEvent}
    hint = typing.get_type_hints(
        type("Hook", (), {"__annotations__": {"hook": annotation}}), namespace
    )
    assert hint["hook"] == Callable[[RetryEvent], object] | None
