"""`create_app`: routing, the request-id middleware, problem rendering and the review scheduler."""

from __future__ import annotations

import asyncio
import logging
import math
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Route

from crs_mock import _control, _reports, _traffic_api, _uploads, _webhooks
from crs_mock._auth import DEFAULT_AGENCIES
from crs_mock._evidence_uploads import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_UPLOAD_SIZE
from crs_mock._limits import MAX_TOKEN_FORM, new_request_id, oversized_headers, read_body
from crs_mock._platform import MockPlatform, render_problem, to_response
from crs_mock._problems import ProblemError, json_reply
from crs_mock._query import QueryParameters
from crs_mock._review import ReviewTimings
from crs_mock._traffic import Traffic
from crs_mock._tus import TusResumableHeader
from crs_mock._validation import contract_bytes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    import httpx
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from crs_mock._clock import ReviewClock

__all__ = ["create_app"]

logger = logging.getLogger("crs_mock")


class RequestContext:
    """Gives each request an ``X-Request-Id``, refuses oversized header fields (``431``), applies
    due review steps, turns crashes into 500s.

    Review steps due by now are applied *before* the request is handled, so a client never sees
    state older than the clock says (this is the only path in-process test clients have, since they
    do not run the lifespan's scheduler).
    """

    def __init__(self, app: ASGIApp, platform: MockPlatform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        if (problem := oversized_headers(scope["headers"])) is not None:
            reply = problem.render(request_id=request_id, instance=scope["path"])
            await to_response(reply)(scope, receive, send_with_id)
            return
        try:
            due = self.platform.review.next_due_ms
            if due is not None and due <= self.platform.clock.now_ms():
                await anyio.to_thread.run_sync(self.platform.run_due)
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("Unhandled error in %s %s", scope["method"], scope["path"])
            if started:
                raise
            problem = ProblemError("internal_error", "The mock server failed; see its log")
            reply = problem.render(request_id=request_id, instance=scope["path"])
            await to_response(reply)(scope, receive, send_with_id)


async def _problem_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ProblemError):  # pragma: no cover - registered for ProblemError only
        raise exc
    return to_response(render_problem(request, exc))


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        # Starlette names only the first route's methods; a path may have several routes.
        allowed = sorted(
            method
            for route in request.app.routes
            if isinstance(route, Route) and route.path_regex.match(request.url.path)
            for method in route.methods or ()
        )
        problem = ProblemError(
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}",
            headers={"Allow": ", ".join(allowed)},
        )
    elif exc.status_code == HTTPStatus.NOT_FOUND:
        problem = ProblemError("not_found", f"No resource at {request.url.path}")
    else:
        problem = ProblemError("invalid_request", exc.detail, status=exc.status_code)
    return to_response(render_problem(request, problem))


async def _healthz(_request: Request) -> Response:
    return to_response(json_reply(200, {"status": "ok"}))


async def _openapi(_request: Request) -> Response:
    return Response(contract_bytes(), media_type="application/json")


async def _token(request: Request) -> Response:
    platform: MockPlatform = request.app.state.mock
    body = await read_body(request, MAX_TOKEN_FORM, "Token requests")
    reply = await anyio.to_thread.run_sync(platform.agencies.token_endpoint, request, body)
    return to_response(reply)


ROUTES = [
    Route("/healthz", _healthz, methods=["GET"]),
    Route("/openapi.json", _openapi, methods=["GET"]),
    Route("/oauth/token", _token, methods=["POST"]),
    Route("/v1/reports", _reports.create_report, methods=["POST"]),
    Route("/v1/reports", _reports.list_reports, methods=["GET"]),
    Route("/v1/reports/{report_id}", _reports.get_report, methods=["GET"]),
    Route("/v1/reports/{report_id}/submit", _reports.submit_report, methods=["POST"]),
    Route("/v1/reports/{report_id}/withdraw", _reports.withdraw_report, methods=["POST"]),
    Route("/v1/reports/{report_id}/responses", _reports.respond_to_report, methods=["POST"]),
    Route("/v1/reports/{report_id}/appeal", _reports.appeal_report, methods=["POST"]),
    Route("/v1/events", _reports.list_events_endpoint, methods=["GET"]),
    Route("/v1/webhook-endpoints", _webhooks.create_endpoint, methods=["POST"]),
    Route("/v1/webhook-endpoints", _webhooks.list_endpoints, methods=["GET"]),
    Route("/v1/webhook-endpoints/{endpoint_id}", _webhooks.get_endpoint, methods=["GET"]),
    Route("/v1/webhook-endpoints/{endpoint_id}", _webhooks.delete_endpoint, methods=["DELETE"]),
    Route(
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        _webhooks.rotate_secret,
        methods=["POST"],
    ),
    Route(
        "/v1/webhook-endpoints/{endpoint_id}/disable", _webhooks.disable_endpoint, methods=["POST"]
    ),
    Route(
        "/v1/webhook-endpoints/{endpoint_id}/enable", _webhooks.enable_endpoint, methods=["POST"]
    ),
    Route(
        "/v1/webhook-endpoints/{endpoint_id}/deliveries",
        _webhooks.list_deliveries,
        methods=["GET"],
    ),
    Route(
        "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
        _webhooks.retry_delivery,
        methods=["POST"],
    ),
    Route("/_mock/events", _webhooks.emit_event, methods=["POST"]),
    Route("/v1/reports/{report_id}/evidence", _uploads.create_upload, methods=["POST"]),
    Route("/v1/reports/{report_id}/evidence", _uploads.list_report_evidence, methods=["GET"]),
    Route("/v1/reports/{report_id}/evidence", _uploads.tus_options, methods=["OPTIONS"]),
    Route("/v1/uploads", _uploads.tus_options, methods=["OPTIONS"]),
    Route("/v1/uploads/{upload_id}", _uploads.tus_options, methods=["OPTIONS"]),
    Route("/v1/uploads/{upload_id}", _uploads.get_upload_offset, methods=["HEAD"]),
    Route("/v1/uploads/{upload_id}", _uploads.append_upload, methods=["PATCH"]),
    Route("/v1/uploads/{upload_id}", _uploads.terminate_upload, methods=["DELETE"]),
    Route("/_mock/reset", _control.reset, methods=["POST"]),
    Route("/_mock/clock", _control.get_clock, methods=["GET"]),
    Route("/_mock/clock/advance", _control.advance_clock, methods=["POST"]),
    Route("/_mock/clock/freeze", _control.freeze_clock, methods=["POST"]),
    Route("/_mock/clock/unfreeze", _control.unfreeze_clock, methods=["POST"]),
    Route("/_mock/reports/{report_id}/decide", _control.force_decision, methods=["POST"]),
    Route("/_mock/reports/{report_id}/request-info", _control.force_info_request, methods=["POST"]),
    Route("/_mock/agencies", _control.list_agencies, methods=["GET"]),
    Route("/_mock/agencies", _control.add_agency, methods=["POST"]),
    Route("/_mock/faults", _traffic_api.create_fault, methods=["POST"]),
    Route("/_mock/faults", _traffic_api.list_faults, methods=["GET"]),
    Route("/_mock/faults", _traffic_api.clear_faults, methods=["DELETE"]),
    Route("/_mock/faults/{fault_id}", _traffic_api.delete_fault, methods=["DELETE"]),
    Route("/_mock/requests", _traffic_api.list_requests, methods=["GET"]),
    Route("/_mock/requests/wait", _traffic_api.wait_for_request, methods=["GET"]),
]


async def run_scheduler(platform: MockPlatform) -> None:
    """Apply review steps as they fall due, sleeping until the next one (or until woken)."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def waker() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    platform.review.add_waker(waker)
    platform.clock.add_listener(waker)
    try:
        while True:
            wake.clear()
            await anyio.to_thread.run_sync(platform.run_due)
            due = platform.review.next_due_ms
            delay = None if due is None else platform.clock.real_seconds_until(due / 1000)
            with anyio.move_on_after(math.inf if delay is None else delay + 0.001):
                await wake.wait()
    finally:
        platform.review.remove_waker(waker)
        platform.clock.remove_listener(waker)


def create_app(
    *,
    db: str | Path = ":memory:",
    agencies: Mapping[str, str] | None = None,
    token_ttl: float = 3600,
    review: ReviewTimings | None = None,
    clock: ReviewClock | None = None,
    max_upload_size: int = DEFAULT_MAX_UPLOAD_SIZE,
    upload_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    blob_dir: str | Path | None = None,
    allow_insecure_webhooks: bool = False,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    benchmark_sink: bool = False,
) -> Starlette:
    """The mock CRS platform as an ASGI app.

    Args:
        db: SQLite file for the state, or ``":memory:"``.
        agencies: Client id -> secret of the agencies to configure; default ``demo-agency`` /
            ``demo-secret``.
        token_ttl: Access-token lifetime in (virtual) seconds: more than 0, at most ten years
            (`ValueError` otherwise).
        review: Review stage delays; default `ReviewTimings()`.
        clock: The virtual clock; default a running real-time clock, or the one saved in `db`.
        max_upload_size: Largest evidence file accepted (``Tus-Max-Size``), in bytes; 2 GiB.
            1 to ``2**63 - 1`` (`ValueError` otherwise).
        upload_idle_timeout: Real seconds a ``PATCH`` body may go without a byte; 30. The server
            then stops waiting for the chunk, keeps or discards what arrived as after a dropped
            connection, answers ``408`` and closes the connection, so a dead client does not
            hold the upload. More than 0 (`ValueError` otherwise); ``math.inf`` waits for ever.
        blob_dir: Directory for evidence bytes; default ``<db>.blobs`` next to a database file,
            a temporary directory (removed on close) for ``":memory:"``.
        allow_insecure_webhooks: Accept plain ``http`` webhook URLs to any host (by default only
            loopback hosts may use ``http``).
        webhook_transport: The httpx transport webhook deliveries go through (an
            ``httpx.MockTransport`` in tests); default real connections. Never closed by the app.
        benchmark_sink: Add ``PUT /_mock/bench/sink``, a plain upload endpoint that the upload
            benchmark compares tus with (see ``crs_mock._bench_sink``); not part of the contract.

    ``app.state.mock`` is the `MockPlatform` (clock, store, reset, ...). Review steps are applied at
    the start of each request, and also in the background while the app's lifespan runs (under a
    server). Webhook deliveries are made by a background task of the lifespan; without one (an
    in-process app), await ``app.state.mock.deliver_due()``.
    """
    platform = MockPlatform(
        db=db,
        agencies=DEFAULT_AGENCIES if agencies is None else agencies,
        token_ttl=token_ttl,
        review=review or ReviewTimings(),
        clock=clock,
        max_upload_size=max_upload_size,
        upload_idle_timeout=upload_idle_timeout,
        blob_dir=blob_dir,
        allow_insecure_webhooks=allow_insecure_webhooks,
        webhook_transport=webhook_transport,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_scheduler, platform)
            tasks.start_soon(platform.webhooks.run)
            yield
            tasks.cancel_scope.cancel()

    routes = ROUTES
    if benchmark_sink:
        from crs_mock._bench_sink import sink_routes

        routes = [*ROUTES, *sink_routes()]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(TusResumableHeader),
            Middleware(RequestContext, platform=platform),
            Middleware(Traffic, platform=platform),
            Middleware(QueryParameters, platform=platform),
        ],
        exception_handlers={ProblemError: _problem_handler, HTTPException: _http_exception_handler},
        lifespan=lifespan,
    )
    # A path with a trailing slash is no path of the contract: a 404 problem, not a redirect.
    app.router.redirect_slashes = False
    app.state.mock = platform
    return app
