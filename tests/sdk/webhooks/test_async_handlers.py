"""An ``async`` handler: awaited by ``ahandle_webhook``, never acknowledged unhandled by the
synchronous receivers."""

from __future__ import annotations

import asyncio
import io
import logging
import wsgiref.util
from typing import Any

import pytest

from crs_sdk.webhooks import (
    WebhookResponse,
    WebhookVerifier,
    WebhookWSGIApp,
    ahandle_webhook,
    handle_webhook,
)


class AsyncRecorder:
    """An async handler that records events and fails while ``failures`` is positive."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[Any] = []
        self.failures = failures

    async def __call__(self, event: Any) -> None:
        self.events.append(event)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("downstream database is down")


def test_handle_webhook_answers_500_to_an_async_handler_and_releases_the_id(
    verifier: WebhookVerifier,
    body: bytes,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before the fix: ``204`` and a coroutine never awaited, so the event was lost."""
    handler = AsyncRecorder()
    with caplog.at_level(logging.ERROR, logger="crs_sdk.webhooks"):
        answer = handle_webhook(verifier, body, headers, handler)
    assert answer.status == 500
    assert handler.events == []  # never ran, and no "never awaited" warning (filterwarnings)
    assert "use ahandle_webhook or WebhookASGIApp" in caplog.text
    # The id was released: the sender's retry is not acknowledged as a duplicate.
    assert handle_webhook(verifier, body, headers, handler).status == 500


def test_a_handler_that_schedules_its_work_is_acknowledged_once(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    """A task or future is work the handler scheduled itself: it runs whatever the answer, so
    refusing it (``500``) would have the sender retry and the work done again every time."""
    loop = asyncio.new_event_loop()  # the application's, which runs the work
    scheduled: list[asyncio.Future[None]] = []

    def schedule(event: Any) -> asyncio.Future[None]:
        scheduled.append(loop.create_future())
        return scheduled[-1]

    try:
        assert handle_webhook(verifier, body, headers, schedule).status == 204
        assert handle_webhook(verifier, body, headers, schedule).status == 200  # a duplicate
    finally:
        loop.close()
    assert len(scheduled) == 1


def test_the_wsgi_app_answers_500_to_an_async_handler(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    wsgiref.util.setup_testing_defaults(environ)
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    statuses: list[str] = []
    app = WebhookWSGIApp(verifier, AsyncRecorder())
    app(environ, lambda status, _headers: statuses.append(status))  # type: ignore[arg-type,return-value]
    assert statuses == ["500 Internal Server Error"]


@pytest.mark.anyio
async def test_ahandle_webhook_awaits_an_async_handler_once(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = AsyncRecorder()
    assert await ahandle_webhook(verifier, body, headers, handler) == WebhookResponse(204)
    assert [event.id for event in handler.events] == ["evt_000000000001"]
    assert (await ahandle_webhook(verifier, body, headers, handler)).status == 200
    assert len(handler.events) == 1


@pytest.mark.anyio
async def test_ahandle_webhook_releases_the_id_when_the_handler_fails(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = AsyncRecorder(failures=1)
    assert (await ahandle_webhook(verifier, body, headers, handler)).status == 500
    assert (await ahandle_webhook(verifier, body, headers, handler)).status == 204
    assert len(handler.events) == 2


@pytest.mark.anyio
async def test_ahandle_webhook_runs_a_plain_handler_and_refuses_what_fails_verification(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    events: list[Any] = []
    assert (await ahandle_webhook(verifier, body, headers, events.append)).status == 204
    assert len(events) == 1
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    refused = await ahandle_webhook(verifier, body + b" ", forged, events.append)
    assert refused.status == 400
    assert refused.body.startswith("invalid_signature")
