"""Webhook delivery: the retry schedule in virtual time, 410, 429, rotation, manual retry, worker.

The receiver is an `httpx.MockTransport`; the clock is frozen, so nothing is due until a test
advances it, and ``await mock.deliver_due()`` makes the due attempts.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest

from crs_mock import MockPlatform, ReviewClock, _delivery, create_app
from crs_sdk.webhooks import InvalidSignatureError, WebhookVerifier
from mock.mock_support import AGENCIES, START, Agency, advance, assert_problem, assert_schema
from mock.webhook_support import (
    DispatcherIdle,
    Receiver,
    app_delivering_to,
    at,
    body,
    deliveries,
    emit,
    register,
    verify,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from starlette.applications import Starlette

pytestmark = pytest.mark.anyio

SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def app(clock: ReviewClock, receiver: Receiver) -> Iterator[Starlette]:
    yield from app_delivering_to(clock, receiver)


async def test_failing_receiver_is_retried_on_schedule(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.script(500, 500, 503)
    await emit(client)
    assert await mock.deliver_due() == 1  # immediately
    elapsed = 0.0
    for delay in (5, 300, 1800):
        await advance(client, delay - 1)
        assert await mock.deliver_due() == 0, "a retry came early"
        await advance(client, 1)
        elapsed += delay
        assert await mock.deliver_due() == 1
    assert await mock.deliver_due() == 0

    assert [request.headers["webhook-id"] for request in receiver.received] == [
        receiver.received[0].headers["webhook-id"]
    ] * 4
    for request in receiver.received:
        verify(endpoint["secret"], request)
    assert len({request.content for request in receiver.received}) == 1

    attempts = await deliveries(demo, endpoint["id"])
    assert_schema("WebhookDeliveryPage", {"data": attempts, "next_cursor": None})
    assert [a["attempt"] for a in attempts] == [4, 3, 2, 1]
    assert [a["status"] for a in attempts] == ["succeeded", "failed", "failed", "failed"]
    assert [a["status_code"] for a in attempts] == [204, 503, 500, 500]
    assert [a["attempted_at"] for a in attempts] == [at(2105), at(305), at(5), at(0)]
    assert [a["next_attempt_at"] for a in attempts] == [None, at(2105), at(305), at(5)]
    assert len({a["webhook_id"] for a in attempts}) == 1
    assert len({a["id"] for a in attempts}) == 4


async def test_gives_up_after_the_eighth_failure(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.default = 500
    await emit(client)
    await mock.deliver_due()
    # Two days at once: the missed attempts are made in order, as if the time had passed.
    await advance(client, 2 * 86400)
    await demo.login()
    assert await mock.deliver_due() == 7
    attempts = (await deliveries(demo, endpoint["id"]))[::-1]
    assert [a["attempt"] for a in attempts] == list(range(1, 9))
    assert all(a["status"] == "failed" and a["status_code"] == 500 for a in attempts)
    offsets = [sum(SCHEDULE[: n + 1]) for n in range(8)]
    assert [a["attempted_at"] for a in attempts] == [at(s) for s in offsets]
    assert attempts[-1]["next_attempt_at"] is None
    await advance(client, 86400)
    assert await mock.deliver_due() == 0
    assert len(receiver.received) == 8


async def test_timeouts_and_connection_errors_fail_attempts(
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_delivery, "ATTEMPT_TIMEOUT", 0.2)
    dead = await register(demo, "https://dead.example/hook")
    refused = await register(demo, "https://refused.example/hook")
    alive = await register(demo, "https://alive.example/hook")

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "dead.example":
            await anyio.sleep(5)
        if request.url.host == "refused.example":
            raise httpx.ConnectError("Connection refused")
        receiver.received.append(request)
        return httpx.Response(200)

    receiver.route = route
    await emit(client)
    with anyio.fail_after(3):
        assert await mock.deliver_due() == 3
    assert [str(r.url) for r in receiver.received] == [alive["url"]]
    (_, timed_out) = await deliveries(demo, dead["id"])
    assert timed_out["status_code"] is None
    assert timed_out["error"] == "No answer within 0.2 s"
    assert timed_out["status"] == "failed"
    assert timed_out["next_attempt_at"] == at(5)
    (_, failed) = await deliveries(demo, refused["id"])
    assert failed["error"] == "ConnectError: Connection refused"
    assert (await deliveries(demo, alive["id"]))[0]["status_code"] == 200


async def test_gone_disables_the_endpoint(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.script(500, 410)
    await emit(client)
    await mock.deliver_due()
    await emit(client, "report.submitted")  # its first attempt meets the 410
    await mock.deliver_due()
    fetched = (await demo.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert fetched["enabled"] is False
    assert "410" in fetched["disabled_reason"]
    attempts = await deliveries(demo, endpoint["id"])
    gone, cancelled, first = attempts
    assert gone["status_code"] == 410
    assert gone["next_attempt_at"] is None
    assert cancelled["status"] == "failed"
    assert cancelled["attempt"] == 2
    assert cancelled["status_code"] is None
    assert cancelled["error"].startswith("Not attempted")
    assert first["status_code"] == 500
    await advance(client, 3600)
    await demo.login()
    await emit(client)
    assert await mock.deliver_due() == 0
    assert len(receiver.received) == 2

    enabled = await demo.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable")
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    await emit(client)
    assert await mock.deliver_due() == 1


@pytest.mark.parametrize(("retry_after", "wait"), [("120", 120), ("1", 5), ("soon", 5)])
async def test_retry_after_is_honoured(  # noqa: PLR0917 - parametrised
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    retry_after: str,
    wait: int,
) -> None:
    endpoint = await register(demo)
    receiver.script(httpx.Response(429, headers={"Retry-After": retry_after}))
    await emit(client)
    await mock.deliver_due()
    (retry, limited) = await deliveries(demo, endpoint["id"])
    assert retry["status"] == "pending"
    assert retry["attempted_at"] == at(wait)
    assert limited["status_code"] == 429
    assert limited["next_attempt_at"] == at(wait)
    await advance(client, wait - 0.5)
    assert await mock.deliver_due() == 0
    await advance(client, 0.5)
    assert await mock.deliver_due() == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
        # str.isdigit() is true of these, and float() refuses them (or, "٣", reads 3).
        ("\xb2", None),
        ("\xb90", None),
        ("\u0663", None),
        ("Thu, 01 Jan 2026 00:02:00 GMT", 120.0),
        ("Wed, 31 Dec 2025 23:59:00 GMT", 0.0),  # in the past
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert _delivery.parse_retry_after(value, START.timestamp()) == expected


async def test_a_retry_after_of_non_ascii_digits_is_ignored_not_retried_at_once(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    """``Retry-After: ²`` (Latin-1 0xB2) once left the attempt pending, made again and again."""
    endpoint = await register(demo)
    receiver.script(httpx.Response(429, headers={"Retry-After": b"\xb2"}))
    await emit(client)
    with anyio.fail_after(5):
        assert await mock.deliver_due() == 1
    (retry, limited) = await deliveries(demo, endpoint["id"])
    assert limited["status"] == "failed"
    assert limited["status_code"] == 429
    assert limited["next_attempt_at"] == at(5)
    assert retry["status"] == "pending"
    assert len(receiver.received) == 1


async def test_an_unexpected_error_fails_the_attempt_and_the_schedule_carries_on(  # noqa: PLR0917 - fixtures
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = await register(demo)
    signing = _delivery.build_headers
    failures = [RuntimeError("a bug in the dispatcher")]

    def build_headers(*args: Any) -> dict[str, str]:
        if failures:
            raise failures.pop()
        return signing(*args)

    monkeypatch.setattr(_delivery, "build_headers", build_headers)
    await emit(client)
    with anyio.fail_after(5):
        assert await mock.deliver_due() == 1
    (retry, failed) = await deliveries(demo, endpoint["id"])
    assert failed["status"] == "failed"
    assert failed["status_code"] is None
    assert failed["error"] == "Mock server error (RuntimeError); see the server's log"
    assert failed["next_attempt_at"] == at(5)
    assert retry["status"] == "pending"
    assert receiver.received == []
    assert "failed unexpectedly" in caplog.text

    await advance(client, 5)
    assert await mock.deliver_due() == 1
    assert (await deliveries(demo, endpoint["id"]))[0]["status"] == "succeeded"
    verify(endpoint["secret"], receiver.received[0])


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://xn--a.com/hook", "InvalidCodepoint: "),
        ("https://a\u00adb.example/hook", "InvalidURL: Invalid IDNA hostname"),
    ],
)
async def test_a_stored_url_no_request_can_be_built_for_fails_the_attempt(  # noqa: PLR0917 - parametrised
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    url: str,
    error: str,
) -> None:
    """An endpoint registered before such URLs were refused: its attempts fail, on the schedule."""
    endpoint = await register(demo)
    with mock.store.transaction() as tx:
        tx.execute("UPDATE webhook_endpoints SET url = ? WHERE id = ?", (url, endpoint["id"]))
    await emit(client)
    with anyio.fail_after(5):
        assert await mock.deliver_due() == 1
    (retry, failed) = await deliveries(demo, endpoint["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith(error)
    assert failed["next_attempt_at"] == at(5)
    assert retry["status"] == "pending"
    assert receiver.received == []


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    old = endpoint["secret"]
    response = await demo.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", {"grace_period_seconds": 3600}
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert_schema("WebhookEndpointWithSecret", rotated)
    new = rotated["secret"]
    assert new != old
    assert rotated["secret_rotation_ends_at"] == at(3600)
    await emit(client)
    await mock.deliver_due()
    during = receiver.received[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    verify(old, during)
    verify(new, during)

    await advance(client, 3600)
    await demo.login()
    fetched = (await demo.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert fetched["secret_rotation_ends_at"] is None
    await emit(client)
    await mock.deliver_due()
    after = receiver.received[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    verify(new, after)
    with pytest.raises(InvalidSignatureError):
        WebhookVerifier(old).verify(after.content, after.headers)


async def test_rotation_defaults_and_immediate_rotation(demo: Agency) -> None:
    endpoint = await register(demo)
    path = f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"
    default = (await demo.post(path)).json()
    assert default["secret_rotation_ends_at"] == at(86400)
    immediate = (await demo.post(path, {"grace_period_seconds": 0})).json()
    assert immediate["secret_rotation_ends_at"] is None
    assert_problem(await demo.post(path, {"grace_period_seconds": -1}), 422, "validation_error")
    assert_problem(await demo.post(path, {"grace_period_seconds": 604801}), 422, "validation_error")


async def test_manual_retry(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.script(500)
    await emit(client)
    await mock.deliver_due()
    await advance(client, 1)
    (failed, scheduled) = (await deliveries(demo, endpoint["id"]))[::-1]
    assert scheduled["status"] == "pending"
    assert scheduled["attempted_at"] == at(5)
    base = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"

    response = await demo.post(f"{base}/{failed['id']}/retry")
    assert response.status_code == 202, response.text
    pending = response.json()
    assert_schema("WebhookDelivery", pending)
    # The scheduled attempt is brought forward rather than doubled.
    assert pending["id"] == scheduled["id"]
    assert pending["status"] == "pending"
    assert pending["attempted_at"] == at(1)
    assert (await deliveries(demo, endpoint["id"]))[1]["next_attempt_at"] == at(1)
    assert await mock.deliver_due() == 1

    # A delivered message can be sent again, with the same webhook-id.
    again = (await demo.post(f"{base}/{pending['id']}/retry")).json()
    assert again["attempt"] == 3
    assert again["webhook_id"] == failed["webhook_id"]
    assert await mock.deliver_due() == 1
    assert [r.headers["webhook-id"] for r in receiver.received] == [failed["webhook_id"]] * 3
    statuses = [a["status"] for a in await deliveries(demo, endpoint["id"])]
    assert statuses == ["succeeded", "succeeded", "failed"]

    assert_problem(await demo.post(f"{base}/dlv_missing/retry"), 404, "not_found")
    await demo.post(f"/v1/webhook-endpoints/{endpoint['id']}/disable")
    assert_problem(await demo.post(f"{base}/{failed['id']}/retry"), 409, "invalid_transition")


async def test_delete_drops_pending_attempts(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.script(500)
    await emit(client)
    await mock.deliver_due()
    await demo.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=demo.headers)
    await advance(client, 60)
    assert await mock.deliver_due() == 0
    assert len(receiver.received) == 1


async def test_background_worker_wakes_for_events_and_clock(
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lifespan's worker: woken by a new event, and by the clock reaching a retry."""
    arrived = anyio.Event()
    count = 0

    def on_request(_request: httpx.Request) -> None:
        nonlocal count
        count += 1
        arrived.set()

    receiver.on_request = on_request
    receiver.script(500)
    idle = DispatcherIdle(mock.webhooks, receiver, monkeypatch)
    await register(demo)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(mock.webhooks.run)
        await emit(client)
        with anyio.fail_after(5):
            await arrived.wait()
            arrived = anyio.Event()
            # The failed attempt has ended and its retry is scheduled, yet the worker finds
            # nothing due: on the frozen clock the retry waits for virtual time.
            assert await idle.reached(after=1) == 1
        assert count == 1
        await advance(client, 5)
        with anyio.fail_after(5):
            await arrived.wait()
        tasks.cancel_scope.cancel()
    assert count == 2
    assert [body(r)["type"] for r in receiver.received] == ["report.created"] * 2


async def test_pending_attempts_survive_a_restart(tmp_path: Path) -> None:
    """The outbox is in the database: a restart resumes the schedule with the same webhook-id."""
    db = tmp_path / "crs-mock.sqlite3"
    first, second = Receiver(), Receiver()
    first.script(500)
    # The second app takes over the clock saved in the database (frozen at START + 0).
    for receiver, clock in ((first, ReviewClock(start=START, frozen=True)), (second, None)):
        application = create_app(
            db=db, clock=clock, agencies=AGENCIES, webhook_transport=receiver.transport()
        )
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
            agency = Agency(http, "demo-agency")
            await agency.login()
            if receiver is first:
                endpoint = await register(agency)
                await emit(http)
            else:
                await advance(http, 5)
            await application.state.mock.deliver_due()
        application.state.mock.close()
    (retried,) = second.received
    assert retried.headers["webhook-id"] == first.received[0].headers["webhook-id"]
    verify(endpoint["secret"], retried)


class FakeMonotonic:
    """A real-time clock the test moves by hand (the dispatcher's pauses after database errors)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def failing_record(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[_delivery.Attempt]:
    """Make the next `failures` writes of an attempt's outcome raise as a full disk does."""
    record = _delivery.record_outcome
    failed: list[_delivery.Attempt] = []

    def flaky(tx: Any, attempt: _delivery.Attempt, outcome: _delivery.Outcome) -> None:
        if len(failed) < failures:
            failed.append(attempt)
            raise sqlite3.OperationalError("database or disk is full")
        record(tx, attempt, outcome)

    monkeypatch.setattr(_delivery, "record_outcome", flaky)
    return failed


async def test_an_outcome_that_cannot_be_recorded_is_made_again_later_not_at_once(  # noqa: PLR0917 - fixtures
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monotonic = FakeMonotonic()
    monkeypatch.setattr(mock.webhooks, "_monotonic", monotonic)
    failed = failing_record(monkeypatch, 2)
    endpoint = await register(demo)
    await emit(client)
    with anyio.fail_after(5):  # without a pause, the same attempt would be made for ever
        assert await mock.deliver_due() == 1
    assert len(receiver.received) == 1
    assert "could not be recorded" in caplog.text
    (pending,) = await deliveries(demo, endpoint["id"])
    assert pending["status"] == "pending"  # not lost: it is made again

    monotonic.now += _delivery.RECORD_RETRY_DELAY - 0.01
    assert await mock.deliver_due() == 0, "made again before the pause ended"
    monotonic.now += 0.01
    with anyio.fail_after(5):
        assert await mock.deliver_due() == 1  # its outcome fails to be recorded again
    monotonic.now += 2 * _delivery.RECORD_RETRY_DELAY - 0.01
    assert await mock.deliver_due() == 0, "the pause did not double"
    monotonic.now += 0.01
    assert await mock.deliver_due() == 1
    assert len(failed) == 2
    assert len(receiver.received) == 3
    assert len({request.headers["webhook-id"] for request in receiver.received}) == 1
    (succeeded,) = await deliveries(demo, endpoint["id"])
    assert succeeded["id"] == pending["id"]
    assert succeeded["status"] == "succeeded"
    assert succeeded["attempted_at"] == at(0)  # the schedule is untouched


async def test_other_attempts_carry_on_while_one_outcome_cannot_be_recorded(
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mock.webhooks, "_monotonic", FakeMonotonic())
    failing_record(monkeypatch, 1)
    endpoint = await register(demo)
    await emit(client)
    await emit(client, "report.submitted")
    with anyio.fail_after(5):
        assert await mock.deliver_due() == 2
    statuses = sorted(attempt["status"] for attempt in await deliveries(demo, endpoint["id"]))
    assert statuses == ["pending", "succeeded"]


async def test_the_background_worker_waits_out_the_pause(
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No busy loop in the lifespan's worker either: it sleeps until the pause ends."""
    monotonic = FakeMonotonic()
    monkeypatch.setattr(mock.webhooks, "_monotonic", monotonic)
    monkeypatch.setattr(_delivery, "RECORD_RETRY_DELAY", 0.2)
    failing_record(monkeypatch, 1)
    flaky = _delivery.record_outcome
    recorded = anyio.Event()

    def signalling(tx: Any, attempt: _delivery.Attempt, outcome: _delivery.Outcome) -> None:
        flaky(tx, attempt, outcome)
        tx.after_commit(lambda: anyio.from_thread.run_sync(recorded.set))

    monkeypatch.setattr(_delivery, "record_outcome", signalling)
    arrived = anyio.Event()
    count = 0

    def on_request(_request: httpx.Request) -> None:
        nonlocal count
        count += 1
        arrived.set()

    receiver.on_request = on_request
    idle = DispatcherIdle(mock.webhooks, receiver, monkeypatch)
    endpoint = await register(demo)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(mock.webhooks.run)
        await emit(client)
        with anyio.fail_after(5):
            await arrived.wait()
            arrived = anyio.Event()
            # The attempt is pending again, its outcome unrecorded, and due; yet the worker
            # finds nothing to make: the pause has not ended, the attempt waits.
            assert await idle.reached(after=1) == 1
        assert count == 1
        monotonic.now += 0.2
        with anyio.fail_after(5):  # the worker wakes when the pause ends (0.2 s)
            await arrived.wait()
            await recorded.wait()
        tasks.cancel_scope.cancel()
    assert count == 2
    assert (await deliveries(demo, endpoint["id"]))[0]["status"] == "succeeded"


@pytest.mark.parametrize("query", ["due_attempts", "load_attempt", "next_due_ms"])
async def test_the_background_worker_outlives_a_failing_outbox_read(  # noqa: PLR0917 - parametrised
    demo: Agency,
    client: httpx.AsyncClient,
    mock: MockPlatform,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    query: str,
) -> None:
    """Choosing the attempts to make fails: logged, read again after a pause, deliveries go on.

    ``load_attempt`` fails once an attempt is already claimed: it must not stay claimed for ever.
    """
    monkeypatch.setattr(_delivery, "RECORD_RETRY_DELAY", 0.001)
    read = getattr(_delivery, query)
    to_fail = 2
    failed = False
    # Set by the first good read after a failure, in a worker thread holding the dispatcher's lock.
    recovered = threading.Event()

    def failing(*args: Any) -> Any:
        nonlocal to_fail, failed
        if to_fail:
            to_fail -= 1
            failed = True
            raise sqlite3.OperationalError("disk I/O error")
        if failed:
            failed = False
            recovered.set()
        return read(*args)

    monkeypatch.setattr(_delivery, query, failing)
    arrivals = [anyio.Event(), anyio.Event()]
    receiver.on_request = lambda _request: arrivals[len(receiver.received) - 1].set()
    await register(demo)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(mock.webhooks.run)
        await emit(client)
        with anyio.fail_after(5):
            await arrivals[0].wait()
        assert await anyio.to_thread.run_sync(recovered.wait, 5)
        recovered = threading.Event()
        to_fail = 1  # after a good read, the pause starts again from the shortest
        await emit(client, "report.submitted")
        with anyio.fail_after(5):
            await arrivals[1].wait()
        assert await anyio.to_thread.run_sync(recovered.wait, 5)
        tasks.cancel_scope.cancel()
    assert receiver.types() == ["report.created", "report.submitted"]
    logged = [record for record in caplog.records if "outbox could not be read" in record.message]
    assert [record.message.rsplit(" in ", 1)[1] for record in logged] == [
        "0.001 s",
        "0.002 s",
        "0.001 s",
    ]
    assert all(record.exc_info is not None for record in logged)
