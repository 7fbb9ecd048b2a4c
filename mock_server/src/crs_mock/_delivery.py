"""`WebhookDispatcher`: makes the webhook attempts of the outbox (`crs_mock._outbox`) over HTTP.

Each attempt is a ``POST`` of the message's stored bytes with the Standard Webhooks headers
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``: one ``v1,`` signature per valid
secret, signed with `crs_sdk.webhooks.build_headers`), ``content-type: application/json`` and
``user-agent: crs-mock/<version>``. A 2xx answer within `ATTEMPT_TIMEOUT` (15 s) succeeds; any other
answer, a timeout, a connection error or a URL no request can be built for fails the attempt. So
does an unexpected error of the dispatcher itself (logged, error ``Mock server error (...)``):
every attempt ends, and a failed one is retried on the schedule, never again at once.

Should the outcome of an attempt fail to be recorded (the database write raises: a full disk, an
I/O error), the error is logged and the attempt stays ``pending``: it is made again (the same
message, ``webhook-id`` and attempt number, so the receiver may get it twice, as after a restart)
once a pause of *real* time has passed, `RECORD_RETRY_DELAY` (1 s) doubling with each failure of
the same attempt up to `MAX_RECORD_RETRY_DELAY` (60 s). Real time, not virtual: the trouble is the
database's, and a frozen clock must not hold the attempt for ever. The pause is kept in memory
only (a restart makes the attempt at once); other attempts carry on meanwhile.

Should the background task fail to read the outbox (choosing the attempts to make, or when the
next falls due), the error is logged and it tries again after the same kind of pause: real time,
`RECORD_RETRY_DELAY` doubling with each failure in a row up to `MAX_RECORD_RETRY_DELAY`, and back
to the shortest once the outbox is read again. Deliveries resume then; nothing is lost (the
attempts are in the database) and an attempt half-claimed when the error struck is claimed again.

``webhook-timestamp`` is the *wall-clock* time of the attempt, not virtual time: it dates the HTTP
request, and the receiver checks it against its own clock (usually within 5 minutes), which knows
nothing of the mock's virtual clock. If virtual time were signed, advancing the mock's clock by an
hour would make every delivery "from the future". Everything else (when attempts fall due, the
retry schedule, ``attempted_at``, the grace period of a rotated secret) is virtual time, so a test
advances the clock instead of waiting.

Two ways to run attempts:

- `WebhookDispatcher.run`, the background task of the app's lifespan (under a server): sleeps until
  the earliest pending attempt falls due, woken early when an event queues a delivery, when an
  attempt ends and when the clock changes; never polls.
- `WebhookDispatcher.deliver_due`, awaited by tests (in-process apps run no lifespan): makes every
  attempt due by now, and those that fall due meanwhile (a catch-up after the clock was advanced),
  then returns.

Both share the claims on attempts in flight, so an attempt is never made twice at once. At most
`MAX_IN_FLIGHT` attempts run together, and at most `MAX_IN_FLIGHT_PER_ENDPOINT` per endpoint, so a
dead endpoint (15 s timeouts) cannot hold up the others.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import httpx

from crs_mock._outbox import (
    Attempt,
    Outcome,
    due_attempts,
    load_attempt,
    next_due_ms,
    record_outcome,
)
from crs_mock._version import __version__
from crs_sdk.webhooks import build_headers

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup

    from crs_mock._clock import ReviewClock
    from crs_mock._store import Store

__all__ = [
    "ATTEMPT_TIMEOUT",
    "MAX_IN_FLIGHT",
    "MAX_IN_FLIGHT_PER_ENDPOINT",
    "MAX_RECORD_RETRY_DELAY",
    "RECORD_RETRY_DELAY",
    "USER_AGENT",
    "WebhookDispatcher",
    "parse_retry_after",
]

ATTEMPT_TIMEOUT = 15.0
MAX_IN_FLIGHT = 8
MAX_IN_FLIGHT_PER_ENDPOINT = 4
#: Real seconds before an attempt whose outcome could not be recorded is made again (or the
#: outbox read again after reading it failed); doubles with each further failure of the same
#: attempt (in a row), up to `MAX_RECORD_RETRY_DELAY`.
RECORD_RETRY_DELAY = 1.0
MAX_RECORD_RETRY_DELAY = 60.0
USER_AGENT = f"crs-mock/{__version__}"
_MAX_ERROR = 500

logger = logging.getLogger("crs_mock")


def _database_pause(failures: int) -> float:
    """Real seconds to wait after the `failures`-th failure in a row of a database write or read."""
    return min(RECORD_RETRY_DELAY * 2.0 ** (failures - 1), MAX_RECORD_RETRY_DELAY)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` asks for (delta-seconds or an HTTP-date); `None` if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    # isascii: str.isdigit() is also true of "²" and other digits float() refuses.
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.fromtimestamp(now, tz=timezone.utc)).total_seconds())


class _BorrowedTransport(httpx.AsyncBaseTransport):
    """A transport the caller owns: used, never closed."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


@dataclass(frozen=True)
class _Pause:
    """An attempt whose outcome could not be recorded: not claimed again before `until`."""

    until: float  # monotonic seconds
    failures: int


class WebhookDispatcher:
    """Makes due webhook attempts; see the module docstring.

    Args:
        store: The mock's database (the outbox lives there).
        clock: The virtual clock attempts fall due on.
        transport: The HTTP transport for deliveries (an ``httpx.MockTransport`` in tests); default
            real connections. It is borrowed: the dispatcher never closes it.
        wall: Wall-clock time for ``webhook-timestamp`` (epoch seconds).
        monotonic: Real time for the pauses after an outcome could not be recorded (seconds).
    """

    def __init__(
        self,
        store: Store,
        clock: ReviewClock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._transport = transport
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        #: delivery seq -> endpoint id of the attempts in flight.
        self._in_flight: dict[int, str] = {}
        #: delivery seq -> pause of the pending attempts whose outcome could not be recorded.
        self._paused: dict[int, _Pause] = {}

    # -- running ----------------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Make every attempt due by now (and those falling due meanwhile); the number made."""
        made = 0
        async with self._session() as client:
            while True:
                batch, _ = await anyio.to_thread.run_sync(self._claim_due)
                if not batch:
                    return made
                async with anyio.create_task_group() as tasks:
                    for attempt in batch:
                        tasks.start_soon(self._attempt, client, attempt)
                made += len(batch)

    async def run(self) -> None:
        """Make attempts as they fall due, until cancelled (the app's lifespan runs this)."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def waker() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)

        self._store.outbox_wakers.append(waker)
        self._clock.add_listener(waker)
        try:
            async with self._session() as client, anyio.create_task_group() as tasks:
                failures = 0
                while True:
                    wake.clear()
                    try:
                        delay = await self._start_due(client, tasks)
                    except Exception:  # the database failed: deliveries must not stop for good
                        failures += 1
                        pause = _database_pause(failures)
                        logger.exception(
                            "Webhook delivery: the outbox could not be read; trying again in %g s",
                            pause,
                        )
                        await anyio.sleep(pause)
                        continue
                    failures = 0
                    with anyio.move_on_after(math.inf if delay is None else delay + 0.001):
                        await wake.wait()
        finally:
            self._store.outbox_wakers.remove(waker)
            self._clock.remove_listener(waker)

    async def _start_due(self, client: httpx.AsyncClient, tasks: TaskGroup) -> float | None:
        """Start the due attempts; real seconds until more may fall due (`None`: until woken)."""
        batch, blocked = await anyio.to_thread.run_sync(self._claim_due)
        for attempt in batch:
            tasks.start_soon(self._attempt, client, attempt)
        # Blocked: due attempts wait for a slot; the end of an attempt wakes us.
        return None if blocked else await anyio.to_thread.run_sync(self._real_delay)

    def _session(self) -> httpx.AsyncClient:
        transport = None if self._transport is None else _BorrowedTransport(self._transport)
        return httpx.AsyncClient(transport=transport, timeout=ATTEMPT_TIMEOUT)

    # -- claims (called in worker threads) --------------------------------------------------------

    def _claim_due(self) -> tuple[list[Attempt], bool]:
        """Claim due attempts up to the concurrency limits; also whether some had to wait.

        Paused attempts are left until their pause ends; pauses of attempts no longer pending
        (recorded at last, cancelled, deleted) are forgotten. Should the database fail, nothing
        stays claimed.
        """
        claimed: list[Attempt] = []
        try:
            return self._claim(claimed)
        except BaseException:
            with self._lock:
                for attempt in claimed:
                    self._in_flight.pop(attempt.delivery_seq, None)
            raise

    def _claim(self, claimed: list[Attempt]) -> tuple[list[Attempt], bool]:
        """`_claim_due`, adding to `claimed` each attempt as it is claimed."""
        now = self._clock.now_ms()
        real_now = self._monotonic()
        blocked = False
        with self._store.transaction() as tx, self._lock:
            per_endpoint = Counter(self._in_flight.values())
            paused: dict[int, _Pause] = {}
            for row in due_attempts(tx, now):
                seq, endpoint_id = row["seq"], row["endpoint_id"]
                pause = self._paused.get(seq)
                if pause is not None:
                    paused[seq] = pause
                if seq in self._in_flight or (pause is not None and pause.until > real_now):
                    continue
                if (
                    len(self._in_flight) >= MAX_IN_FLIGHT
                    or per_endpoint[endpoint_id] >= MAX_IN_FLIGHT_PER_ENDPOINT
                ):
                    blocked = True
                    continue
                claimed.append(load_attempt(tx, seq, now))
                self._in_flight[seq] = endpoint_id
                per_endpoint[endpoint_id] += 1
            self._paused = paused
        return claimed, blocked

    def _real_delay(self) -> float | None:
        """Real seconds until the next unclaimed attempt falls due or the next pause ends;
        `None`: nothing scheduled."""
        with self._lock:
            excluding = [*self._in_flight, *self._paused]
            pauses = [
                pause.until for seq, pause in self._paused.items() if seq not in self._in_flight
            ]
        with self._store.transaction() as tx:
            due = next_due_ms(tx, excluding)
        delays = [max(0.0, until - self._monotonic()) for until in pauses]
        if due is not None and (real := self._clock.real_seconds_until(due / 1000)) is not None:
            delays.append(real)
        return min(delays, default=None)

    def _pause(self, attempt: Attempt) -> float:
        """Hold back an attempt whose outcome could not be recorded; the pause in seconds."""
        with self._lock:
            previous = self._paused.get(attempt.delivery_seq)
            failures = 1 if previous is None else previous.failures + 1
            delay = _database_pause(failures)
            self._paused[attempt.delivery_seq] = _Pause(self._monotonic() + delay, failures)
        return delay

    def _release(self, attempt: Attempt) -> None:
        with self._lock:
            self._in_flight.pop(attempt.delivery_seq, None)
        for waker in list(self._store.outbox_wakers):
            waker()

    def _record(self, attempt: Attempt, outcome: Outcome) -> None:
        with self._store.transaction() as tx:
            record_outcome(tx, attempt, outcome)
        with self._lock:
            self._paused.pop(attempt.delivery_seq, None)

    # -- one attempt ------------------------------------------------------------------------------

    async def _attempt(self, client: httpx.AsyncClient, attempt: Attempt) -> None:
        try:
            try:
                outcome = await self._send(client, attempt)
            except Exception as exc:
                # Left pending, the attempt would be claimed again at once, and fail again, forever:
                # it fails instead, and is retried on the schedule like any other failure.
                logger.exception("Webhook attempt %s failed unexpectedly", attempt.delivery_id)
                error = f"Mock server error ({type(exc).__name__}); see the server's log"
                outcome = Outcome(0, error=error)
            await anyio.to_thread.run_sync(self._record, attempt, outcome)
        except Exception:  # the database failed: the attempt stays pending
            # Claimed again at once, it would be made again at once, and fail again, for ever: it
            # waits for a pause of real time instead.
            delay = self._pause(attempt)
            logger.exception(
                "Webhook attempt %s could not be recorded; it stays pending and is made again in "
                "%g s",
                attempt.delivery_id,
                delay,
            )
        finally:
            self._release(attempt)

    async def _send(self, client: httpx.AsyncClient, attempt: Attempt) -> Outcome:
        timestamp = math.floor(self._wall())
        headers = build_headers(attempt.secrets, attempt.webhook_id, attempt.body, timestamp)
        headers["content-type"] = "application/json"
        headers["user-agent"] = USER_AGENT
        started = time.perf_counter()

        def elapsed() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            # Inside the try: a stored URL that httpx cannot build a request for (an invalid IDNA
            # host, say) fails the attempt like a connection error.
            request = client.build_request(
                "POST", attempt.url, content=attempt.body, headers=headers
            )
            with anyio.fail_after(ATTEMPT_TIMEOUT):
                response = await client.send(request, stream=True)
                await response.aclose()
        except TimeoutError:
            return Outcome(elapsed(), error=f"No answer within {ATTEMPT_TIMEOUT:g} s")
        except Exception as exc:  # noqa: BLE001 - any failure to get an answer fails the attempt
            text = str(exc)
            error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            return Outcome(elapsed(), error=error[:_MAX_ERROR])
        retry_after = None
        if response.status_code == 429:  # noqa: PLR2004 - Too Many Requests
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall())
        return Outcome(elapsed(), status_code=response.status_code, retry_after=retry_after)
