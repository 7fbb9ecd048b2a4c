"""Disabling a webhook endpoint pauses it; enabling it resumes, promptly and predictably.

A disabled endpoint's pending attempts are held (not made, not cancelled); events appended while it
is disabled queue nothing for it (they stay in the log). Enabling it makes every held attempt due
at once, its attempt number kept, and the retry schedule carries on from then, however long the
pause was. After a ``410 Gone`` nothing is held (see ``test_gone_disables_the_endpoint``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from mock.mock_support import advance, assert_schema
from mock.webhook_support import Receiver, app_delivering_to, at, deliveries, emit, register

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx
    from starlette.applications import Starlette

    from crs_mock import MockPlatform, ReviewClock
    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio

DAY = 24 * 3600


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def app(clock: ReviewClock, receiver: Receiver) -> Iterator[Starlette]:
    yield from app_delivering_to(clock, receiver)


async def toggle(demo: Agency, endpoint_id: str, action: str) -> dict[str, object]:
    response = await demo.post(f"/v1/webhook-endpoints/{endpoint_id}/{action}")
    assert response.status_code == 200, response.text
    assert_schema("WebhookEndpoint", response.json())
    endpoint: dict[str, object] = response.json()
    return endpoint


async def test_disable_holds_pending_attempts(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.script(500)
    await emit(client)
    assert await mock.deliver_due() == 1
    disabled = await toggle(demo, endpoint["id"], "disable")
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "Disabled by the agency."
    await advance(client, 60)
    await demo.login()
    assert await mock.deliver_due() == 0
    held, failed = await deliveries(demo, endpoint["id"])
    assert (held["status"], held["attempt"], held["error"]) == ("pending", 2, None)
    assert held["attempted_at"] == failed["next_attempt_at"] == at(5)


async def test_enable_makes_held_attempts_at_once_and_the_schedule_carries_on(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.script(500, 500, 500)
    await emit(client)
    assert await mock.deliver_due() == 1  # attempt 1 fails; attempt 2 due at 5 s
    await toggle(demo, endpoint["id"], "disable")
    await advance(client, DAY)
    await demo.login()
    await emit(client)  # while disabled: in the log, not queued for the endpoint
    assert await mock.deliver_due() == 0

    enabled = await toggle(demo, endpoint["id"], "enable")
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    assert await mock.deliver_due() == 1  # attempt 2, at once; it fails
    assert len(receiver.received) == 2
    attempts = await deliveries(demo, endpoint["id"])
    assert [a["attempt"] for a in attempts] == [3, 2, 1]
    assert [a["status"] for a in attempts] == ["pending", "failed", "failed"]
    # The schedule carries on from the enabling, not from when attempt 2 first fell due: no burst.
    assert [a["attempted_at"] for a in attempts] == [at(DAY + 300), at(DAY), at(0)]
    assert [a["next_attempt_at"] for a in attempts] == [None, at(DAY + 300), at(DAY)]
    await advance(client, 299)
    assert await mock.deliver_due() == 0
    await advance(client, 1)
    assert await mock.deliver_due() == 1


async def test_enable_brings_forward_an_attempt_still_waiting(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.script(500, 500)
    await emit(client)
    await mock.deliver_due()
    await advance(client, 5)
    await mock.deliver_due()  # attempt 2 fails: attempt 3 due at 305 s
    await toggle(demo, endpoint["id"], "disable")
    await advance(client, 10)
    await toggle(demo, endpoint["id"], "enable")
    assert await mock.deliver_due() == 1  # at once, not at 305 s
    attempts = await deliveries(demo, endpoint["id"])
    latest = attempts[0]
    assert (latest["attempt"], latest["status"], latest["status_code"]) == (3, "succeeded", 204)
    assert attempts[0]["attempted_at"] == attempts[1]["next_attempt_at"] == at(15)


async def test_toggling_gives_no_extra_attempts(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    receiver.default = 500
    await emit(client)
    await mock.deliver_due()
    for _ in range(20):
        await toggle(demo, endpoint["id"], "disable")
        await toggle(demo, endpoint["id"], "enable")
        await mock.deliver_due()
    assert len(receiver.received) == 8  # the schedule's 8 attempts, then given up
    assert [a["status"] for a in await deliveries(demo, endpoint["id"])] == ["failed"] * 8


async def test_an_attempt_in_flight_when_disabled_is_not_lost(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)

    def disable_meanwhile(_request: object) -> None:
        with mock.store.transaction() as tx:
            tx.execute("UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?", (endpoint["id"],))

    receiver.on_request = disable_meanwhile
    receiver.script(500)
    await emit(client)
    assert await mock.deliver_due() == 1
    receiver.on_request = None
    held, failed = await deliveries(demo, endpoint["id"])
    assert (failed["status_code"], held["status"], held["attempt"]) == (500, "pending", 2)
    await toggle(demo, endpoint["id"], "enable")
    assert await mock.deliver_due() == 1
    assert (await deliveries(demo, endpoint["id"]))[0]["status"] == "succeeded"


async def test_the_background_worker_resumes_on_enable(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    """Enabling wakes the worker: the held attempt is made without another event or a tick."""
    endpoint = await register(demo)
    receiver.script(500)
    await emit(client)
    await mock.deliver_due()
    await toggle(demo, endpoint["id"], "disable")
    resumed = anyio.Event()
    receiver.on_request = lambda _request: resumed.set()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(mock.webhooks.run)
        await toggle(demo, endpoint["id"], "enable")
        with anyio.fail_after(5):
            await resumed.wait()
        tasks.cancel_scope.cancel()
    assert len(receiver.received) == 2
