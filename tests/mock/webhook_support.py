"""Helpers for the webhook tests: a scripted in-process receiver, a view of when the dispatcher
has nothing left to do, and endpoint helpers."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import httpx
from standardwebhooks.webhooks import Webhook

from crs_mock import create_app
from crs_sdk.webhooks import WebhookVerifier
from mock.mock_support import AGENCIES, START

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pytest
    from starlette.applications import Starlette

    from crs_mock import ReviewClock
    from crs_mock._delivery import WebhookDispatcher
    from crs_mock._outbox import Attempt
    from crs_sdk import Event
    from mock.mock_support import Agency

ALL = ["*"]


@dataclass
class Receiver:
    """An ``httpx.MockTransport`` handler: records every delivery, answers from a script.

    `answers` are consumed in order (a status code, a ready response, or an exception to raise);
    once empty, every delivery gets `default`. `by_host` scripts hosts separately.
    """

    answers: deque[int | httpx.Response | Exception] = field(default_factory=deque)
    default: int = 204
    received: list[httpx.Request] = field(default_factory=list)
    on_request: Callable[[httpx.Request], None] | None = None
    #: Answers instead of the script when set (may be async).
    route: Callable[[httpx.Request], Any] | None = None

    def script(self, *answers: int | httpx.Response | Exception) -> None:
        self.answers.extend(answers)

    def __call__(self, request: httpx.Request) -> Any:
        if self.route is not None:
            return self.route(request)
        self.received.append(request)
        if self.on_request is not None:
            self.on_request(request)
        answer = self.answers.popleft() if self.answers else self.default
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(answer)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def to(self, url: str) -> list[httpx.Request]:
        return [request for request in self.received if str(request.url) == url]

    def types(self) -> list[str]:
        return [body(request)["type"] for request in self.received]


class DispatcherIdle:
    """When the dispatcher has looked for due attempts, found none, and has none in flight.

    From such a look on, it makes no attempt until something wakes it (an event, the clock, the
    end of a pause), so a test may assert that an attempt was *not* made without waiting for a
    while. Observes ``WebhookDispatcher._claim_due``, which both the background worker and
    ``deliver_due`` call (in a worker thread) before every attempt they start.
    """

    def __init__(
        self, dispatcher: WebhookDispatcher, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self._dispatcher = dispatcher
        self._receiver = receiver
        self._claim_due = dispatcher._claim_due
        #: The number of requests the receiver had got at each idle look, in order.
        self.looks: list[int] = []
        self._changed = anyio.Event()
        monkeypatch.setattr(dispatcher, "_claim_due", self._observed_claim)

    def _observed_claim(self) -> tuple[list[Attempt], bool]:
        with self._dispatcher._lock:
            # Nothing in flight: every attempt made so far has ended and its outcome is stored
            # (an attempt leaves the claims last), so its retry, if any, is in the outbox.
            settled = not self._dispatcher._in_flight
            requests = len(self._receiver.received)
        batch, blocked = self._claim_due()
        if settled and not batch:
            self.looks.append(requests)
            anyio.from_thread.run_sync(self._wake)
        return batch, blocked

    def _wake(self) -> None:
        # On the loop's thread, where `reached` replaces the event: the current one is set.
        self._changed.set()

    async def reached(self, *, after: int) -> int:
        """Wait for an idle look once the receiver has got `after` requests; the requests then.

        An attempt that is due, or that a bug makes at once, is claimed at the first look after
        the attempt before it ended: the next idle look counts its request too.
        """
        while True:
            # A fresh event before the scan: a look appended after the scan sets this one.
            changed = self._changed = anyio.Event()
            for requests in self.looks:
                if requests >= after:
                    return requests
            await changed.wait()


def body(request: httpx.Request) -> dict[str, Any]:
    import json

    parsed: dict[str, Any] = json.loads(request.content)
    return parsed


def verify(secret: str | list[str], request: httpx.Request) -> Event:
    """Verify one delivery with the SDK and, independently, the reference library."""
    secrets = [secret] if isinstance(secret, str) else secret
    event = WebhookVerifier(secrets).verify(request.content, request.headers)
    reference = [_reference(one, request) for one in secrets]
    assert any(reference), "standardwebhooks rejected the delivery"
    return event


def _reference(secret: str, request: httpx.Request) -> bool:
    try:
        Webhook(secret).verify(request.content, dict(request.headers))
    except Exception:
        return False
    return True


async def register(
    agency: Agency,
    url: str = "https://hooks.example/crs",
    event_types: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = await agency.post(
        "/v1/webhook-endpoints", {"url": url, "event_types": event_types or ALL, **extra}
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def deliveries(agency: Agency, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await agency.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def app_delivering_to(clock: ReviewClock, receiver: Receiver) -> Iterator[Starlette]:
    """The body of an ``app`` fixture whose webhook deliveries go to `receiver`."""
    application = create_app(clock=clock, agencies=AGENCIES, webhook_transport=receiver.transport())
    yield application
    application.state.mock.close()


def at(seconds: float) -> str:
    """The RFC 3339 time `seconds` after the tests' `START` (milliseconds, as the mock writes)."""
    moment = START + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def emit(client: httpx.AsyncClient, event_type: str = "report.created") -> dict[str, object]:
    """Append an event with the control API (``POST /_mock/events``); the Event document."""
    data = {
        "report_id": "rpt_1",
        "client_reference": "CP-1",
        "status": "draft",
        "previous_status": None,
    }
    response = await client.post("/_mock/events", json={"type": event_type, "data": data})
    assert response.status_code == 201, response.text
    event: dict[str, object] = response.json()
    return event
