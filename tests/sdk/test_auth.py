"""Tokens: one fetch for many threads or tasks, refresh before expiry and its failures, parsing,
invalidation, event loops."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import threading
import weakref
from typing import Any

import anyio
import httpx
import pytest
import respx

import crs_sdk.testing
from crs_sdk import (
    AsyncCRSClient,
    AuthenticationError,
    BadRequestError,
    ConnectError,
    CRSClient,
    DecodeError,
    RequestTimeout,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
)
from crs_sdk._auth import AccessToken, TokenCache, parse_token_response

BASE = "https://crs.test"
WORKERS = 50


def token_json(token: str, expires_in: int = 3600) -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": None}


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _no_waits() -> Any:
    with crs_sdk.testing.no_retry_waits():
        yield


def _client(cls: type[Any]) -> Any:
    return cls(BASE, client_id="demo-agency", client_secret="demo-secret")


class CountedLock:
    """A thread lock that counts the callers that came to take it.

    Put in place of `TokenCache`'s fetch lock, it is the rendezvous of the "one fetch for
    everyone" tests: the fetch waits until every thread has come to the lock, so all the others
    are waiting on it (or about to) while it runs, whatever the machine's speed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals = threading.Condition()
        self.arrived = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._arrivals:
            self.arrived += 1
            self._arrivals.notify_all()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def wait_for(self, callers: int) -> None:
        with self._arrivals:
            came = self._arrivals.wait_for(lambda: self.arrived >= callers, timeout=30)
            assert came, f"{self.arrived} of {callers} callers came to the cache's fetch lock"


class ContendedLock:
    """A thread lock that records, for each ``with``, whether it was held by someone else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended: list[bool] = []
        self.tried = threading.Event()  # set once a caller knows whether it must wait

    def __enter__(self) -> None:
        free = self._lock.acquire(blocking=False)
        self.contended.append(not free)
        self.tried.set()
        if not free:
            self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


# --- one fetch for everyone ---------------------------------------------------------------------


def test_threads_share_one_token(make_report: Any) -> None:
    issued = iter(f"tok-{n}" for n in range(1000))

    lock = CountedLock()

    def slow_token(request: httpx.Request) -> httpx.Response:
        lock.wait_for(WORKERS)  # every other thread waits for this fetch
        return httpx.Response(200, json=token_json(next(issued)))

    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    with respx.mock(base_url=BASE) as router:
        token = router.post("/oauth/token").mock(side_effect=slow_token)
        api = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
        with _client(CRSClient) as client:
            client._tokens._lock = lock

            def work() -> None:
                try:
                    barrier.wait()
                    client.reports.get("rpt_1")
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=work) for _ in range(WORKERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    assert errors == []
    assert token.call_count == 1
    assert api.call_count == WORKERS
    assert {c.request.headers["Authorization"] for c in api.calls} == {"Bearer tok-0"}


@pytest.mark.anyio
async def test_tasks_share_one_token(make_report: Any) -> None:
    issued = iter(f"tok-{n}" for n in range(1000))

    release = anyio.Event()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=token_json(next(issued)))

    with respx.mock(base_url=BASE) as router:
        token = router.post("/oauth/token").mock(side_effect=slow_token)
        api = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
        async with _client(AsyncCRSClient) as client, anyio.create_task_group() as group:
            for _ in range(WORKERS):
                group.start_soon(client.reports.get, "rpt_1")
            await anyio.wait_all_tasks_blocked()  # one task in the fetch, the others waiting
            release.set()

    assert token.call_count == 1
    assert api.call_count == WORKERS
    assert {c.request.headers["Authorization"] for c in api.calls} == {"Bearer tok-0"}


# --- refresh before expiry ----------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("expires_in", "margin", "still_cached_at", "refreshed_at"),
    [
        (3600, 60.0, 3539.0, 3540.0),  # refreshed 60 s before expiry
        (3600, 0.0, 3599.0, 3600.0),
        (60, 60.0, 29.0, 30.0),  # margin capped at half the lifetime
        (10, 60.0, 4.9, 5.0),
    ],
)
@pytest.mark.anyio
async def test_refresh_before_expiry(  # noqa: PLR0917 - parametrised
    flavour: str,
    make_report: Any,
    expires_in: int,
    margin: float,
    still_cached_at: float,
    refreshed_at: float,
) -> None:
    clock = FakeClock()
    start = clock.now
    issued = iter(["tok-1", "tok-2", "tok-3"])
    with respx.mock(base_url=BASE) as router:
        token = router.post("/oauth/token").mock(
            side_effect=lambda request: httpx.Response(
                200, json=token_json(next(issued), expires_in)
            )
        )
        api = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
        cls: Any = CRSClient if flavour == "sync" else AsyncCRSClient
        client = cls(
            BASE,
            client_id="demo-agency",
            client_secret="demo-secret",
            token_refresh_margin=margin,
        )
        client._tokens = TokenCache(clock=clock)

        async def get() -> None:
            result = client.reports.get("rpt_1")
            if flavour == "async":
                await result

        await get()
        clock.now = start + still_cached_at
        await get()
        assert token.call_count == 1
        clock.now = start + refreshed_at
        await get()
        assert token.call_count == 2
        if flavour == "async":
            await client.aclose()
        else:
            client.close()
    assert [c.request.headers["Authorization"] for c in api.calls] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


# --- a failed refresh ahead of expiry -----------------------------------------------------------


def _unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def _call(client: Any, *args: Any) -> Any:
    result = client.reports.get(*args)
    return await result if isinstance(client, AsyncCRSClient) else result


async def _close(client: Any) -> None:
    if isinstance(client, AsyncCRSClient):
        await client.aclose()
    else:
        client.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("failure", "error"),
    [(_unavailable, ServiceUnavailableError), (_unreachable, ConnectError)],
    ids=["503", "transport"],
)
@pytest.mark.anyio
async def test_a_failed_refresh_keeps_the_unexpired_token(
    flavour: str,
    failure: Any,
    error: type[Exception],
    make_report: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    start = clock.now
    fetches = iter(range(1000))

    def answer(request: httpx.Request) -> httpx.Response:
        if next(fetches) == 0:
            return httpx.Response(200, json=token_json("tok-1"))
        return failure(request)

    with respx.mock(base_url=BASE) as router:
        token = router.post("/oauth/token").mock(side_effect=answer)
        api = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
        cls: Any = CRSClient if flavour == "sync" else AsyncCRSClient
        client = cls(
            BASE,
            client_id="demo-agency",
            client_secret="demo-secret",
            retry=RetryPolicy.disabled(),
        )
        client._tokens = TokenCache(clock=clock)
        await _call(client, "rpt_1")
        clock.now = start + 3550.0  # past the refresh point, 50 s before expiry
        with caplog.at_level(logging.WARNING, logger="crs_sdk"):
            await _call(client, "rpt_1")
            await _call(client, "rpt_1")  # within the cool-off: the token endpoint is left alone
            clock.now = start + 3554.9
            await _call(client, "rpt_1")
            assert token.call_count == 2
            clock.now = start + 3555.0  # the cool-off is over: tries again
            await _call(client, "rpt_1")
        assert token.call_count == 3
        clock.now = start + 3600.0  # expired: a failed fetch is the call's error
        with pytest.raises(error):
            await _call(client, "rpt_1")
        assert token.call_count == 4
        await _close(client)
    assert [c.request.headers["Authorization"] for c in api.calls] == ["Bearer tok-1"] * 5
    assert caplog.messages[0].startswith("token refresh failed (")
    assert caplog.messages[0].endswith(
        "); using the current token, which expires in 50s, and trying again in 5s"
    )
    assert caplog.messages[1].endswith("which expires in 45s, and trying again in 5s")
    assert len(caplog.messages) == 2
    assert all("tok-1" not in line and "demo-secret" not in line for line in caplog.messages)


def _slow_refresh(fetching: Any, release: Any) -> Any:
    """A token endpoint that answers tok-1, then tok-2 once ``release`` is set."""
    answers = iter(["tok-1", "tok-2"])

    async def answer(request: httpx.Request) -> httpx.Response:
        value = next(answers)
        if value == "tok-2":
            fetching.set()
            await release.wait()
        return httpx.Response(200, json=token_json(value))

    return answer


#: The calls made during the refresh: with no retry and a short deadline, a call that waited for
#: the refresh would fail (and with no time limit, hang).
NO_WAITING = RetryPolicy(max_attempts=1, deadline=5.0)


def test_calls_during_a_slow_refresh_use_the_unexpired_token_sync(make_report: Any) -> None:
    clock = FakeClock()
    fetching, release = threading.Event(), threading.Event()
    answers = iter(["tok-1", "tok-2"])

    def answer(request: httpx.Request) -> httpx.Response:
        value = next(answers)
        if value == "tok-2":
            fetching.set()
            assert release.wait(30)
        return httpx.Response(200, json=token_json(value))

    with respx.mock(base_url=BASE) as router:
        router.post("/oauth/token").mock(side_effect=answer)
        api = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
        with _client(CRSClient) as client:
            client._tokens = TokenCache(clock=clock)
            client.reports.get("rpt_1")
            clock.now += 3550.0  # in the refresh window, 50 s before expiry
            refresher = threading.Thread(target=client.reports.get, args=("rpt_1",))
            refresher.start()
            assert fetching.wait(30)
            for _ in range(5):
                client.with_options(retry=NO_WAITING).reports.get("rpt_1")
            release.set()
            refresher.join()
            client.reports.get("rpt_1")
    auth = [c.request.headers["Authorization"] for c in api.calls]
    assert auth == ["Bearer tok-1"] * 6 + ["Bearer tok-2"] * 2


@pytest.mark.anyio
async def test_calls_during_a_slow_refresh_use_the_unexpired_token_async(make_report: Any) -> None:
    clock = FakeClock()
    fetching, release = anyio.Event(), anyio.Event()
    with respx.mock(base_url=BASE) as router:
        router.post("/oauth/token").mock(side_effect=_slow_refresh(fetching, release))
        api = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
        async with _client(AsyncCRSClient) as client:
            client._tokens = TokenCache(clock=clock)
            await client.reports.get("rpt_1")
            clock.now += 3550.0  # in the refresh window, 50 s before expiry
            async with anyio.create_task_group() as group:
                group.start_soon(client.reports.get, "rpt_1")
                await fetching.wait()
                for _ in range(5):
                    await client.with_options(retry=NO_WAITING).reports.get("rpt_1")
                release.set()
            await client.reports.get("rpt_1")
    auth = [c.request.headers["Authorization"] for c in api.calls]
    assert auth == ["Bearer tok-1"] * 6 + ["Bearer tok-2"] * 2


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.anyio
async def test_after_a_401_a_failed_fetch_is_the_calls_error(flavour: str) -> None:
    clock = FakeClock()
    answers = iter([httpx.Response(200, json=token_json("tok-1"))])
    with respx.mock(base_url=BASE) as router:
        token = router.post("/oauth/token").mock(
            side_effect=lambda request: next(answers, httpx.Response(503))
        )
        router.get("/v1/reports/rpt_1").respond(401)
        cls: Any = CRSClient if flavour == "sync" else AsyncCRSClient
        client = cls(
            BASE, client_id="demo-agency", client_secret="demo-secret", retry=RetryPolicy.disabled()
        )
        client._tokens = TokenCache(clock=clock)
        with pytest.raises(ServiceUnavailableError):
            await _call(client, "rpt_1")  # tok-1 was refused: it is not used again
        await _close(client)
    assert token.call_count == 2


def _refresh_due(clock: FakeClock) -> AccessToken:
    return AccessToken(value="old", expires_at=clock.now + 50.0, refresh_at=clock.now - 10.0)


def test_threads_use_the_unexpired_token_while_one_refreshes() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _refresh_due(clock))
    calls = 0
    barrier = threading.Barrier(WORKERS)
    results: list[str] = []
    returned = threading.Condition()
    errors: list[BaseException] = []

    def fail() -> AccessToken:
        nonlocal calls
        calls += 1
        if calls == 1:  # every other thread gets its token while this refresh is under way
            with returned:
                assert returned.wait_for(lambda: len(results) == WORKERS - 1, timeout=30)
        raise ServerError("503", status_code=503)

    def work() -> None:
        try:
            barrier.wait()
            token = cache.get(fail)
            with returned:
                results.append(token)
                returned.notify_all()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == ["old"] * WORKERS
    assert calls == 1
    assert cache.get(fail) == "old"  # within the cool-off: not tried again
    assert calls == 1
    clock.now += 5.0
    assert cache.get(fail) == "old"  # after it: tried again
    assert calls == 2


@pytest.mark.anyio
async def test_tasks_use_the_unexpired_token_while_one_refreshes() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _refresh_due(clock))
    calls = 0
    results: list[str] = []
    release = anyio.Event()

    async def fail() -> AccessToken:
        nonlocal calls
        calls += 1
        await release.wait()
        raise ServerError("503", status_code=503)

    async def take() -> None:
        results.append(await cache.aget(fail))

    async with anyio.create_task_group() as group:
        for _ in range(WORKERS):
            group.start_soon(take)
        await anyio.wait_all_tasks_blocked()  # one task in the refresh
        assert results == ["old"] * (WORKERS - 1)  # the others did not wait for it
        release.set()
    assert results == ["old"] * WORKERS
    assert calls == 1


def test_the_expired_token_is_never_used() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _refresh_due(clock))
    clock.now += 50.0

    def fail() -> AccessToken:
        raise ServerError("503", status_code=503)

    with pytest.raises(ServerError):
        cache.get(fail)


def test_the_cool_off_leaves_time_for_another_refresh_before_expiry() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    start = clock.now
    cache.get(lambda: AccessToken(value="old", expires_at=start + 4.0, refresh_at=start))
    attempts: list[float] = []

    def fail() -> AccessToken:
        attempts.append(clock.now - start)
        raise ServerError("503", status_code=503)

    for offset in (0.0, 1.9, 2.0, 2.9, 3.0, 3.4, 3.5):
        clock.now = start + offset
        assert cache.get(fail) == "old"
    # 4 s left: 2 s of cool-off (half), then 1 s, then 0.5 s.
    assert attempts == [0.0, 2.0, 3.0, 3.5]
    clock.now = start + 4.0
    with pytest.raises(ServerError):
        cache.get(fail)


@pytest.mark.anyio
async def test_a_401_during_the_cool_off_fetches_at_once() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _refresh_due(clock))
    calls = 0

    async def fetch() -> AccessToken:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ServerError("503", status_code=503)
        return _token("new", clock)

    assert await cache.aget(fetch) == "old"
    assert await cache.aget(fetch) == "old"  # cooling off
    assert calls == 1
    cache.invalidate("old")  # the API refused it: no token is left to cool off with
    assert await cache.aget(fetch) == "new"
    assert calls == 2


# --- event loops -------------------------------------------------------------------------------


def test_async_cache_works_on_every_event_loop() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    issued: list[str] = []
    loops: list[Any] = []
    releases: list[asyncio.Event] = []

    async def fetch() -> AccessToken:
        await releases[-1].wait()
        issued.append(f"t{len(issued) + 1}")
        return _token(issued[-1], clock)

    async def many() -> list[str]:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        releases.append(asyncio.Event())
        tasks = [asyncio.create_task(cache.aget(fetch)) for _ in range(10)]
        # The other tasks wait on the lock while one fetches: the lock binds to this loop.
        await anyio.wait_all_tasks_blocked()
        releases.pop().set()  # the event is bound to this loop: not kept after it
        return await asyncio.gather(*tasks)

    assert asyncio.run(many()) == ["t1"] * 10
    cache.invalidate("t1")
    assert asyncio.run(many()) == ["t2"] * 10
    assert issued == ["t1", "t2"]
    gc.collect()
    assert loops[0]() is None  # the cache does not keep a closed loop alive


def test_a_refresh_failing_after_another_loop_refreshed_uses_the_new_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One cache, two event loops in two threads: loop A's refresh fails after loop B (whose lock
    # is another) stored a fresh token. A uses B's token, and gives it no cool-off. (B fetches
    # because a 401 dropped the old token: with the old token unexpired, B would not wait for
    # A's refresh, nor make its own, but use the old token.)
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _refresh_due(clock))
    fetched: list[str] = []

    async def fresh() -> AccessToken:
        fetched.append("new")
        return _token("new", clock)

    async def fail_after_the_other_loop() -> AccessToken:
        def other_loop() -> None:
            cache.invalidate("old")
            fetched.append(asyncio.run(cache.aget(fresh)))

        other = threading.Thread(target=other_loop)
        other.start()
        other.join()
        raise ServerError("503", status_code=503)

    with caplog.at_level(logging.WARNING, logger="crs_sdk"):
        assert asyncio.run(cache.aget(fail_after_the_other_loop)) == "new"
    assert fetched == ["new", "new"]  # B fetched once, and its aget answered "new"
    assert caplog.records == []  # no refresh failure to report: a fresh token is there
    clock.now += 50.0  # long past any cool-off, within the new token's life

    def not_called() -> AccessToken:
        raise AssertionError("the fresh token needs no refresh")

    assert cache.get(not_called) == "new"


def test_the_cool_off_is_written_under_the_state_lock() -> None:
    # A token written by another thread (here: invalidate) cannot interleave with the cool-off
    # of an event loop's failed refresh, which the loop's own lock does not cover.
    armed = False
    blocked: list[bool] = []
    others: list[threading.Thread] = []

    class Clock(FakeClock):
        def __call__(self) -> float:
            if armed and not blocked:  # inside the cool-off write
                state_lock.tried.clear()
                other = threading.Thread(target=cache.invalidate, args=("old",))
                other.start()
                assert state_lock.tried.wait(timeout=30), "invalidate never took the state lock"
                blocked.append(state_lock.contended[-1])
                others.append(other)
            return self.now

    clock = Clock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _refresh_due(clock))
    state_lock = cache._state_lock = ContendedLock()

    async def fail() -> AccessToken:
        nonlocal armed
        armed = True
        raise ServerError("503", status_code=503)

    assert asyncio.run(cache.aget(fail)) == "old"
    others[0].join()
    assert blocked == [True]
    assert cache._fresh() is None  # the invalidate came after the cool-off, and dropped "old"


# --- the cache alone ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_time_left_to_fetch_is_a_request_timeout_and_no_failed_refresh() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _refresh_due(clock))

    def not_called() -> AccessToken:
        raise AssertionError("no time was left to fetch")

    async def anot_called() -> AccessToken:
        raise AssertionError("no time was left to fetch")

    with pytest.raises(RequestTimeout, match="no time left before the retry deadline"):
        cache.get(not_called, wait=0.0)
    with pytest.raises(RequestTimeout, match="no time left before the retry deadline"):
        await cache.aget(anot_called, wait=-1.0)
    assert cache._failed_refreshes == 0  # nothing was tried: no cool-off
    assert cache.get(lambda: _token("new", clock), wait=1.0) == "new"


def _token(value: str, clock: FakeClock, lifetime: float = 100.0) -> AccessToken:
    return AccessToken(
        value=value, expires_at=clock.now + lifetime, refresh_at=clock.now + lifetime
    )


def test_invalidate_drops_only_the_token_that_failed() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    fetched = iter(["a", "b", "c"])
    assert cache.get(lambda: _token(next(fetched), clock)) == "a"
    cache.invalidate("stale")  # another caller's old token: ignored
    assert cache.get(lambda: _token(next(fetched), clock)) == "a"
    cache.invalidate("a")
    assert cache.get(lambda: _token(next(fetched), clock)) == "b"


def test_a_failed_fetch_is_not_cached() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)

    def fail() -> AccessToken:
        raise AuthenticationError("401", status_code=401)

    with pytest.raises(AuthenticationError):
        cache.get(fail)
    assert cache.get(lambda: _token("a", clock)) == "a"


@pytest.mark.anyio
async def test_async_cache_fetches_once_and_survives_failures() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    calls = 0
    release = anyio.Event()

    async def fetch() -> AccessToken:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ServerError("500", status_code=500)
        await release.wait()
        return _token(f"t{calls}", clock)

    with pytest.raises(ServerError):
        await cache.aget(fetch)
    results: list[str] = []

    async def take() -> None:
        results.append(await cache.aget(fetch))

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(take)
        await anyio.wait_all_tasks_blocked()  # one task fetching, the others waiting
        release.set()
    assert results == ["t2"] * 20
    assert calls == 2


def test_repr_hides_the_token() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.get(lambda: _token("very-secret-token", clock))
    assert "very-secret-token" not in repr(cache)
    assert "very-secret-token" not in repr(_token("very-secret-token", clock))


# --- parsing the token endpoint's answer --------------------------------------------------------


def _problem(status: int, **members: Any) -> httpx.Response:
    return httpx.Response(
        status,
        json={"type": "about:blank", "title": "t", "status": status, **members},
        headers={"Content-Type": "application/problem+json", "X-Request-Id": "req_1"},
    )


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (_problem(401, code="invalid_client", error="invalid_client"), AuthenticationError),
        (_problem(400, code="invalid_client", error="invalid_client"), AuthenticationError),
        (_problem(400, error="invalid_grant"), AuthenticationError),
        (_problem(400, error="unauthorized_client"), AuthenticationError),
        (_problem(403), AuthenticationError),
        (
            _problem(400, code="unsupported_grant_type", error="unsupported_grant_type"),
            BadRequestError,
        ),
        (_problem(400, code="invalid_request", error="invalid_request"), BadRequestError),
        (httpx.Response(500, text="oops"), ServerError),
    ],
)
def test_token_errors(response: httpx.Response, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        parse_token_response(response, now=0.0, refresh_margin=60.0)
    assert type(info.value) is cls


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "t", "token_type": "mac", "expires_in": 60},
        {"access_token": "t", "token_type": "Bearer", "expires_in": "soon"},
        {"access_token": "t", "token_type": "Bearer", "expires_in": 60.5},
        {"token_type": "Bearer", "expires_in": 60},
        ["not", "an", "object"],
    ],
)
def test_malformed_token_responses(body: Any) -> None:
    with pytest.raises(DecodeError):
        parse_token_response(httpx.Response(200, json=body), now=0.0, refresh_margin=60.0)


def test_token_lifetime() -> None:
    response = httpx.Response(200, json=token_json("t", 3600))
    token = parse_token_response(response, now=100.0, refresh_margin=60.0)
    assert (token.value, token.expires_at, token.refresh_at) == ("t", 3700.0, 3640.0)
    lower = httpx.Response(200, json={**token_json("t", 3600), "token_type": "bearer"})
    assert parse_token_response(lower, now=0.0, refresh_margin=0.0).refresh_at == 3600.0


# --- a token answer without expires_in (RFC 6749 §5.1: RECOMMENDED, not required) ----------------


@pytest.mark.parametrize("body", [{}, {"expires_in": None}], ids=["absent", "null"])
def test_a_token_without_a_lifetime_never_expires_and_is_refreshed_after_five_minutes(
    body: dict[str, Any],
) -> None:
    response = httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", **body})
    token = parse_token_response(response, now=100.0, refresh_margin=60.0)
    assert (token.value, token.expires_at, token.refresh_at) == ("t", math.inf, 400.0)


def _untimed(token: str) -> httpx.Response:
    return httpx.Response(200, json={"access_token": token, "token_type": "Bearer", "scope": None})


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.anyio
async def test_a_token_without_a_lifetime_is_used_until_refreshed_or_refused(
    flavour: str, make_report: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    start = clock.now
    answers = iter([_untimed("tok-1"), _untimed("tok-2"), _untimed("tok-3"), httpx.Response(503)])

    def report(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer tok-2" and clock.now >= start + 450.0:
            return httpx.Response(401)  # the server ended tok-2 early: its 401 is the only sign
        return httpx.Response(200, json=make_report())

    with respx.mock(base_url=BASE) as router:
        token = router.post("/oauth/token").mock(side_effect=lambda request: next(answers))
        api = router.get("/v1/reports/rpt_1").mock(side_effect=report)
        cls: Any = CRSClient if flavour == "sync" else AsyncCRSClient
        client = cls(
            BASE, client_id="demo-agency", client_secret="demo-secret", retry=RetryPolicy.disabled()
        )
        client._tokens = TokenCache(clock=clock)
        await _call(client, "rpt_1")  # tok-1
        clock.now = start + 299.0
        await _call(client, "rpt_1")  # tok-1, still
        assert token.call_count == 1
        clock.now = start + 300.0
        await _call(client, "rpt_1")  # refreshed after five minutes: tok-2
        assert token.call_count == 2
        clock.now = start + 450.0
        await _call(client, "rpt_1")  # tok-2 is refused: tok-3, and the call is sent again
        assert token.call_count == 3
        clock.now = start + 750.0
        with caplog.at_level(logging.WARNING, logger="crs_sdk"):
            await _call(client, "rpt_1")  # the refresh fails (503): tok-3, not expired, is kept
        assert token.call_count == 4
        await _close(client)
    assert [c.request.headers["Authorization"] for c in api.calls] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-2",
        "Bearer tok-3",
        "Bearer tok-3",
    ]
    assert caplog.messages[0].endswith(
        "; using the current token, whose lifetime the server did not give, and trying again in 5s"
    )
