"""OAuth 2.0 client-credentials tokens: parsing the answer, caching, refreshing once for everyone.

What a caller may rely on:

* A token is fetched on first use and cached; it is refreshed ``refresh_margin`` seconds before it
  expires (the margin is capped at half the token's lifetime, so short-lived tokens still get used).
* A token answer without ``expires_in`` (RFC 6749 §5.1 only recommends it) gives a token of unknown
  lifetime: it never expires on the client's clock, the server decides (its ``401`` drops it, see
  below), and it is refreshed ``DEFAULT_UNTIMED_TOKEN_REFRESH`` (300) seconds after it was issued,
  so that a token that did expire on the server costs a ``401`` at most every five minutes.
* A refresh ahead of expiry that fails (a `CRSError`: the token endpoint's error answer, a transport
  error, an answer that is not a token) is logged at ``WARNING`` and the cached token, which has not
  expired, is used. The next refresh is tried after a cool-off of ``DEFAULT_TOKEN_REFRESH_COOL_OFF``
  (5) seconds, or half the token's remaining life if that is shorter (so one more attempt still
  comes before it expires), on the same clock: calls in between use the token without touching a
  failing token endpoint. Without an unexpired token (the first fetch, after expiry, after a
  ``401``) the error is raised, and the next call fetches again at once.
* A refresh ahead of expiry costs the other callers nothing (stale-while-revalidate): while the
  cached token has not expired, exactly one caller (of any thread or event loop) refreshes it, and
  every other caller uses the cached token at once, without waiting for the token endpoint however
  slow it is. Only the refreshing caller waits for the fetch, within its own deadline (below); if
  the refresh fails, it uses the cached token too (above).
* Without an unexpired token (the first fetch, after expiry, after a ``401``), when many threads
  (`TokenCache.get`) or many tasks of one event loop (`TokenCache.aget`) need a token at the same
  moment, exactly one of them fetches it; the others wait and use the same token. Each event loop
  has its own lock (an `asyncio.Lock` belongs to one loop); the cache serves any number of loops,
  though an `AsyncCRSClient` itself runs on one (its connection pool belongs to it).
* The cache's state (the token, its cool-off, the count of failed refreshes, whether a caller is
  refreshing) is written under one
  thread lock, held only for the write and never across I/O: one cache shared by threads and event
  loops in several threads stays consistent. A refresh that fails after another thread or event
  loop stored a fresh token uses that token, without a cool-off and without a warning.
* A token request belongs to the call that needs it: its timeout is the client's ``timeout``
  clipped to the time that call has left before its retry deadline (`CallState.timeout`), so a
  slow or hanging token endpoint cannot hold a call past its deadline. A caller that waits while
  another one fetches (only when no unexpired token is cached) waits at most until its own
  deadline (``wait``); then it raises
  `RequestTimeout` without touching the token, and the retry logic ends its call with
  `DeadlineExceeded`, while the fetch goes on for the others. A fetch that a short deadline cut
  off counts as a failed refresh: callers that waited for it and have time left fetch again (or,
  ahead of expiry, use the cached token during the cool-off).
* After a ``401`` on an API call the client calls `TokenCache.invalidate` with the token it used:
  only that token is dropped, so a token another caller has just refreshed survives.
* The secret and the tokens never appear in ``repr()`` or in exceptions. A token answer whose
  ``access_token`` an ``Authorization`` header cannot carry (anything but visible ASCII: a
  gateway that appends a newline, a non-ASCII character) is refused when it arrives, as a
  `DecodeError` that does not quote it: the token is never cached nor sent (the HTTP library
  would refuse the header, in a message that repeats it).

Like everything else, token acquisition is split: ``_requests.build_token_request`` builds the
request, the clients send it, and `parse_token_response` turns the answer into an `AccessToken` or
raises.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
import weakref
from typing import TYPE_CHECKING

import attrs

from crs_sdk._config import DEFAULT_TOKEN_REFRESH_COOL_OFF, DEFAULT_UNTIMED_TOKEN_REFRESH
from crs_sdk._enums import ProblemCode
from crs_sdk._exceptions import (
    APIError,
    AuthenticationError,
    CRSError,
    DecodeError,
    RequestTimeout,
)
from crs_sdk._responses import api_error, decode_json, naming_the_request
from crs_sdk._retry_call import reason_of

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Iterator

    import httpx

    from crs_sdk._models._common import TokenResponse

__all__ = ["AccessToken", "TokenCache", "parse_token_response"]

logger = logging.getLogger("crs_sdk")

# RFC 6749 §5.2 error codes that mean "these client credentials are not accepted".
_CREDENTIAL_ERRORS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client"})
#: What an ``Authorization`` header can carry as a token: visible ASCII (RFC 6749 §A.12's
#: ``VSCHAR`` without the space), as the contract's ``access_token`` (a non-empty string) may be.
_SENDABLE_TOKEN = re.compile(r"[\x21-\x7e]+")


@attrs.frozen
class AccessToken:
    """A bearer token and when to stop using it (times on the cache's monotonic clock).

    ``expires_at`` is ``math.inf`` when the server gave no lifetime.
    """

    value: str = attrs.field(repr=False)
    expires_at: float
    refresh_at: float


def _credentials_refused(error: APIError) -> bool:
    problem = error.problem
    if error.status_code in {401, 403}:
        return True
    if problem is None:
        return False
    return problem.code is ProblemCode.INVALID_CLIENT or problem.error in _CREDENTIAL_ERRORS


def parse_token_response(
    response: httpx.Response, *, now: float, refresh_margin: float
) -> AccessToken:
    """The token in a token-endpoint answer.

    Raises:
        AuthenticationError: the client credentials were refused (``401``, ``403``, or a ``400``
            whose RFC 6749 error is ``invalid_client``, ``invalid_grant`` or
            ``unauthorized_client``); carries the problem body.
        APIError: any other error answer (a ``5xx`` is a `ServerError`, and is retried).
        DecodeError: the answer is not a token response (an ``expires_in`` beyond a float's
            range included), or its ``access_token`` is not visible ASCII (it could not be sent
            in an ``Authorization`` header); the message names the request, never the token.
    """
    if not response.is_success:
        error = api_error(response)
        if _credentials_refused(error) and not isinstance(error, AuthenticationError):
            raise AuthenticationError(
                str(error),
                status_code=error.status_code,
                problem=error.problem,
                request_id=error.request_id,
                headers=error.headers,
            )
        raise error
    from crs_sdk._models._common import TokenResponse  # the models load on first use

    token = decode_json(response, TokenResponse)
    with naming_the_request(response):
        return _access_token(token, now=now, refresh_margin=refresh_margin)


def _access_token(token: TokenResponse, *, now: float, refresh_margin: float) -> AccessToken:
    if token.token_type.lower() != "bearer":
        raise DecodeError(f"unsupported token type {token.token_type!r}", path="$.token_type")
    if _SENDABLE_TOKEN.fullmatch(token.access_token) is None:
        # Never sent: h11 would refuse the header, and its message would repeat the token.
        raise DecodeError(
            "access_token cannot be sent in an Authorization header (it must be visible ASCII: "
            "no space, control character or non-ASCII character); it is not used",
            path="$.access_token",
            errors=("not visible ASCII @ $.access_token",),
        )
    if token.expires_in is None:
        return AccessToken(
            value=token.access_token,
            expires_at=math.inf,
            refresh_at=now + DEFAULT_UNTIMED_TOKEN_REFRESH,
        )
    try:
        lifetime = max(float(token.expires_in), 0.0)
    except OverflowError:  # beyond a float (1.8e308 s): not a lifetime a server means
        raise DecodeError(
            "cannot decode TokenResponse: expires_in is out of range @ $.expires_in",
            path="$.expires_in",
            errors=("expires_in is out of range @ $.expires_in",),
        ) from None
    margin = min(refresh_margin, lifetime / 2)
    return AccessToken(
        value=token.access_token, expires_at=now + lifetime, refresh_at=now + lifetime - margin
    )


def _no_time_to_wait() -> RequestTimeout:
    return RequestTimeout(
        "no time left before the retry deadline to fetch the token, or to wait for another "
        "caller's fetch; not sent"
    )


def _take(lock: threading.Lock, wait: float | None) -> None:
    """Take ``lock``, waiting at most ``wait`` seconds (``None``: as long as it takes).

    A ``wait`` beyond what `threading.Lock.acquire` takes (an infinite or very long retry
    deadline, above `threading.TIMEOUT_MAX`) is as long as it takes: the lock would raise
    `OverflowError`.
    """
    if wait is None or wait >= threading.TIMEOUT_MAX:
        lock.acquire()
    elif wait <= 0 or not lock.acquire(timeout=wait):
        raise _no_time_to_wait()


def _life_left(seconds: float) -> str:
    if math.isinf(seconds):
        return "whose lifetime the server did not give"
    return f"which expires in {seconds:.0f}s"


class TokenCache:
    """The current token of one client (and of the copies ``with_options`` makes of it).

    Args:
        clock: a monotonic clock in seconds; injectable for tests.
        cool_off: seconds between a failed refresh and the next attempt, while the current token
            is kept (at most half of its remaining life).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        cool_off: float = DEFAULT_TOKEN_REFRESH_COOL_OFF,
    ) -> None:
        self.clock = clock
        self._cool_off = cool_off
        self._token: AccessToken | None = None
        self._failed_refreshes = 0  # tells callers that waited for the lock that a refresh failed
        self._refreshing = False  # a caller is refreshing a token that has not expired
        self._lock = threading.Lock()  # one fetch at a time among threads; held across the fetch
        # Every write of _token and _failed_refreshes, and _async_locks: held briefly, never
        # across I/O, so that an event loop never waits for a thread's fetch.
        self._state_lock = threading.Lock()
        # An asyncio.Lock that had waiters is bound to their event loop: one lock per loop.
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        state = "empty" if self._token is None else "holding a token"
        return f"<TokenCache {state}>"

    def _fresh(self) -> str | None:
        token = self._token
        if token is not None and self.clock() < token.refresh_at:
            return token.value
        return None

    def _unexpired(self) -> str | None:
        token = self._token
        if token is not None and self.clock() < token.expires_at:
            return token.value
        return None

    def _usable(self, failed_refreshes: int) -> str | None:
        """The cached token if it needs no refresh, or if one failed while the caller waited."""
        if failed_refreshes != self._failed_refreshes:
            return self._unexpired()
        return self._fresh()

    def _store(self, token: AccessToken) -> str:
        with self._state_lock:
            self._token = token
        return token.value

    def _after_failed_refresh(self, error: CRSError, stale: AccessToken | None) -> str:
        """The cached token if it has not expired (the failure is logged), else raise ``error``.

        ``stale`` is the token the failed fetch was to replace. The token is kept until the
        cool-off ends: the refresh is not tried again before then. If another thread or event
        loop replaced ``stale`` meanwhile with a token that needs no refresh, that one is used.
        """
        with self._state_lock:
            token, now = self._token, self.clock()
            if token is not None and token is not stale and now < token.refresh_at:
                return token.value
            if token is None or now >= token.expires_at:
                raise error
            self._failed_refreshes += 1
            left = token.expires_at - now
            cool_off = min(self._cool_off, left / 2)
            self._token = attrs.evolve(token, refresh_at=now + cool_off)
        logger.warning(
            "token refresh failed (%s); using the current token, %s, and trying again in %.3gs",
            reason_of(error),
            _life_left(left),
            cool_off,
        )
        return token.value

    @contextlib.contextmanager
    def _refresh_turn(self) -> Iterator[str | None]:
        """The cached token, if it has not expired and another caller is refreshing it: use it,
        do not wait. Else ``None``: fetch, and while the cached token has not expired, be the one
        caller that refreshes it until the block ends."""
        with self._state_lock:
            token, refreshing = self._token, False
            if token is not None and self.clock() < token.expires_at:
                if self._refreshing:
                    current: str | None = token.value
                else:
                    current, self._refreshing = None, True
                    refreshing = True
            else:
                current = None
        try:
            yield current
        finally:
            if refreshing:
                with self._state_lock:
                    self._refreshing = False

    def get(self, fetch: Callable[[], AccessToken], *, wait: float | None = None) -> str:
        """A valid token, calling ``fetch`` (in one thread at a time) when there is none.

        Raises:
            RequestTimeout: another thread held the fetch for longer than ``wait`` seconds (the
                caller's time left before its deadline; ``None``: no limit).
        """
        value = self._fresh()
        if value is not None:
            return value
        failed_refreshes = self._failed_refreshes
        with self._refresh_turn() as current:
            if current is not None:
                return current
            _take(self._lock, wait)
            try:
                value = self._usable(failed_refreshes)
                if value is not None:
                    return value
                stale = self._token
                try:
                    return self._store(fetch())
                except CRSError as exc:
                    return self._after_failed_refresh(exc, stale)
            finally:
                self._lock.release()

    async def aget(
        self, fetch: Callable[[], Awaitable[AccessToken]], *, wait: float | None = None
    ) -> str:
        """A valid token, awaiting ``fetch`` (in one task per event loop) when there is none.

        Raises:
            RequestTimeout: another task held the fetch for longer than ``wait`` seconds.
        """
        value = self._fresh()
        if value is not None:
            return value
        failed_refreshes = self._failed_refreshes
        with self._refresh_turn() as current:
            if current is not None:
                return current
            lock = self._loop_lock()
            await _acquire(lock, wait)
            try:
                value = self._usable(failed_refreshes)
                if value is not None:
                    return value
                stale = self._token
                try:
                    return self._store(await fetch())
                except CRSError as exc:
                    return self._after_failed_refresh(exc, stale)
            finally:
                lock.release()

    def _loop_lock(self) -> asyncio.Lock:
        import asyncio  # here, not at the top: the sync client never needs asyncio

        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop)
        if lock is None:
            # Under the state lock: loops of other threads may add theirs. A closed loop's lock
            # is dropped here, as the lock refers to its loop and would keep it alive.
            with self._state_lock:
                for closed in [old for old in self._async_locks if old.is_closed()]:
                    del self._async_locks[closed]
                lock = self._async_locks.setdefault(loop, asyncio.Lock())
        return lock

    def invalidate(self, value: str) -> None:
        """Forget the token ``value`` if it is still the current one (after a ``401``)."""
        with self._state_lock:
            if self._token is not None and self._token.value == value:
                self._token = None


async def _acquire(lock: asyncio.Lock, wait: float | None) -> None:
    """Take ``lock``, waiting at most ``wait`` seconds (``None``: as long as it takes)."""
    if wait is None:
        await lock.acquire()
        return
    if wait <= 0:
        raise _no_time_to_wait()
    import asyncio

    try:
        await asyncio.wait_for(lock.acquire(), wait)
    except asyncio.TimeoutError:
        raise _no_time_to_wait() from None
