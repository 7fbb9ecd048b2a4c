"""The ``/v1/webhook-endpoints`` endpoints, and the mock-only ``POST /_mock/events``.

Endpoints belong to the agency that registered them (another agency's endpoint is a `404`). A URL
must be ``https``, or plain ``http`` to a loopback host (``127.0.0.0/8``, ``::1``, ``localhost``)
unless the app was created with ``allow_insecure_webhooks=True`` (``crs-mock serve
--allow-insecure-webhooks``), and httpx must be able to build a request to it (an invalid
internationalised host such as ``xn--a.com`` is refused); otherwise `422` at ``/url``.

The secret (``whsec_`` and the base64 of 32 random bytes, from `crs_sdk.webhooks.generate_secret`)
is shown only by create and rotate. Rotation keeps the previous secret signing for
``grace_period_seconds`` (default 86400) of virtual time: deliveries meanwhile carry two
signatures, the new secret's first. Rotating again during a grace period drops the oldest secret.
A grace period of 0 retires the previous secret at once.

Disabling an endpoint by the agency pauses it: its pending attempts are held (still ``pending``)
and made when it is enabled again (see `crs_mock._outbox`). A ``410 Gone`` answer disables it and
cancels its pending attempts (``failed``, error ``Not attempted: ...``); enabling it resumes
deliveries of new events, and a cancelled delivery can be retried by hand.
``POST .../deliveries/{id}/retry`` makes an attempt of that delivery's message now, with the same
``webhook-id`` (`202`, the attempt ``pending``); if the message already has a pending attempt,
that one is brought forward. A failed manual attempt is retried on the schedule from its attempt
number. The delivery log lists attempts newest first (most recently scheduled first).
"""

from __future__ import annotations

import ipaddress
import json
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

import httpx

from crs_mock._clock import format_ms
from crs_mock._events import append_event
from crs_mock._headers import single_header
from crs_mock._json_bodies import parse_json, read_json_body
from crs_mock._outbox import (
    delivery_json,
    endpoint_json,
    new_id,
    resume_held,
    retry_now,
    select_deliveries,
)
from crs_mock._problems import FieldError, ProblemError, Reply, json_reply
from crs_mock._validation import (
    check_body,
    decode_cursor,
    encode_cursor,
    parse_limit,
)
from crs_sdk.webhooks import generate_secret

if TYPE_CHECKING:
    import sqlite3

    from starlette.requests import Request
    from starlette.responses import Response

    from crs_mock._platform import MockPlatform
    from crs_mock._store import Transaction

__all__ = [
    "create_endpoint",
    "delete_endpoint",
    "disable_endpoint",
    "emit_event",
    "enable_endpoint",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "retry_delivery",
    "rotate_secret",
    "url_error",
]

DEFAULT_GRACE_PERIOD = 86400
DISABLED_BY_AGENCY = "Disabled by the agency."


def _platform(request: Request) -> MockPlatform:
    platform: MockPlatform = request.app.state.mock
    return platform


def url_error(url: str, *, allow_insecure: bool) -> FieldError | None:
    """Why `url` cannot receive webhooks (at ``/url``), or `None` if it can."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return FieldError("/url", "Not a valid URL")
    if parts.scheme.lower() not in {"http", "https"}:
        return None  # the contract's pattern reports it
    problem = _host_error(parts)
    if problem is not None or parts.scheme.lower() == "https" or allow_insecure:
        return problem
    if _is_loopback(parts.hostname or ""):
        return None
    return FieldError(
        "/url",
        "Plain http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https, "
        "or start the mock server with --allow-insecure-webhooks",
    )


def _host_error(parts: SplitResult) -> FieldError | None:
    problem = _authority_problem(parts)
    return None if problem is None else FieldError("/url", problem)


def _authority_problem(parts: SplitResult) -> str | None:
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "Must have a valid port"
    if not host:
        return "Must name a host"
    if parts.username is not None or parts.password is not None:
        # They would be stored and shown in every listing; a delivery proves itself by its
        # signature, so a receiver needs no password in its URL.
        return "Must not contain credentials (user:password@)"
    if not _deliverable_host(host):
        return "Not a valid URL: the host is not a valid domain name (IDNA)"
    if not _deliverable_url(parts.geturl()):
        return "Not a valid URL"
    return None


def _deliverable_url(url: str) -> bool:
    """Whether httpx can parse `url` (it refuses ``https://[::1]]/``, which `urlsplit` takes).

    Control characters are the contract's to report (`True`)."""
    if any(unicodedata.category(character) == "Cc" for character in url):
        return True
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return False
    return True


def _deliverable_host(host: str) -> bool:
    """Whether httpx, which makes the deliveries, can build a request to `host`.

    It refuses some hosts that `urlsplit` accepts (``xn--a.com``, one with a soft hyphen), and every
    delivery to them would fail. Control characters are the contract's to report (`True`).
    """
    if any(unicodedata.category(character) == "Cc" for character in host):
        return True
    try:
        _ = httpx.URL(scheme="https", host=host, path="/").host  # .host decodes an A-label
    except (httpx.InvalidURL, ValueError):  # idna.IDNAError is a ValueError
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _load(tx: Transaction, endpoint_id: str, agency_id: str) -> sqlite3.Row:
    row = tx.one("SELECT * FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
    if row is None or row["agency_id"] != agency_id:
        raise ProblemError("not_found", f"No webhook endpoint {endpoint_id}")
    return row


def _page(request: Request, kind: str) -> tuple[int, int | None]:
    limit = parse_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    return limit, decode_cursor(kind, cursor) if cursor else None


# -- endpoints ----------------------------------------------------------------------------------


async def create_endpoint(request: Request) -> Response:
    platform = _platform(request)

    def operation(tx: Transaction, agency_id: str, body: bytes) -> Reply:
        content_type = single_header(request, "Content-Type")
        payload = parse_json(body, content_type=content_type)
        url = payload.get("url") if isinstance(payload, dict) else None
        problem = (
            url_error(url, allow_insecure=platform.allow_insecure_webhooks)
            if isinstance(url, str)
            else None
        )
        check_body("WebhookEndpointCreate", payload, [problem] if problem else [])
        endpoint_id = new_id("whe")
        tx.execute(
            "INSERT INTO webhook_endpoints (id, agency_id, url, event_types, description, "
            "created_ms, secret) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                endpoint_id,
                agency_id,
                payload["url"],
                json.dumps(payload["event_types"]),
                payload.get("description"),
                platform.clock.now_ms(),
                generate_secret(),
            ),
        )
        row = _load(tx, endpoint_id, agency_id)
        document = endpoint_json(row, platform.clock.now_ms(), with_secret=True)
        return json_reply(201, document, {"location": f"/v1/webhook-endpoints/{endpoint_id}"})

    return await platform.write(request, operation)


async def list_endpoints(request: Request) -> Response:
    platform = _platform(request)

    def query(tx: Transaction, agency_id: str) -> Reply:
        limit, after = _page(request, "whe")
        rows = tx.all(
            "SELECT * FROM webhook_endpoints WHERE agency_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (agency_id, after or 0, limit + 1),
        )
        page = rows[:limit]
        now = platform.clock.now_ms()
        return json_reply(
            200,
            {
                "data": [endpoint_json(row, now) for row in page],
                "next_cursor": encode_cursor("whe", page[-1]["seq"]) if len(rows) > limit else None,
            },
        )

    return await platform.read(request, query)


async def get_endpoint(request: Request) -> Response:
    platform = _platform(request)
    endpoint_id = request.path_params["endpoint_id"]

    def query(tx: Transaction, agency_id: str) -> Reply:
        row = _load(tx, endpoint_id, agency_id)
        return json_reply(200, endpoint_json(row, platform.clock.now_ms()))

    return await platform.read(request, query)


async def delete_endpoint(request: Request) -> Response:
    """Delete the endpoint with its messages and attempts (pending ones are dropped)."""
    endpoint_id = request.path_params["endpoint_id"]

    def operation(tx: Transaction, agency_id: str, _body: bytes) -> Reply:
        _load(tx, endpoint_id, agency_id)
        tx.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
        return Reply(204)

    return await _platform(request).write(request, operation)


async def rotate_secret(request: Request) -> Response:
    platform = _platform(request)
    endpoint_id = request.path_params["endpoint_id"]

    def operation(tx: Transaction, agency_id: str, body: bytes) -> Reply:
        content_type = single_header(request, "Content-Type")
        payload = parse_json(body, content_type=content_type, optional=True)
        if payload is not None:
            check_body("RotateSecretRequest", payload)
        grace = (payload or {}).get("grace_period_seconds", DEFAULT_GRACE_PERIOD)
        row = _load(tx, endpoint_id, agency_id)
        now = platform.clock.now_ms()
        tx.execute(
            "UPDATE webhook_endpoints SET secret = ?, previous_secret = ?, rotation_ends_ms = ? "
            "WHERE id = ?",
            (
                generate_secret(),
                row["secret"] if grace > 0 else None,
                now + grace * 1000 if grace > 0 else None,
                endpoint_id,
            ),
        )
        row = _load(tx, endpoint_id, agency_id)
        return json_reply(200, endpoint_json(row, now, with_secret=True))

    return await platform.write(request, operation)


async def _set_enabled(request: Request, *, enabled: bool) -> Response:
    platform = _platform(request)
    endpoint_id = request.path_params["endpoint_id"]

    def operation(tx: Transaction, agency_id: str, _body: bytes) -> Reply:
        row = _load(tx, endpoint_id, agency_id)
        now = platform.clock.now_ms()
        if enabled and not row["enabled"]:
            tx.execute(
                "UPDATE webhook_endpoints SET enabled = 1, disabled_reason = NULL WHERE id = ?",
                (endpoint_id,),
            )
            resume_held(tx, endpoint_id, now)
        elif not enabled and row["enabled"]:
            # A pause: pending attempts are held (not cancelled) until the endpoint is enabled.
            tx.execute(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?",
                (DISABLED_BY_AGENCY, endpoint_id),
            )
        row = _load(tx, endpoint_id, agency_id)
        return json_reply(200, endpoint_json(row, now))

    return await platform.write(request, operation)


async def disable_endpoint(request: Request) -> Response:
    """Pause deliveries (no body); pending attempts are held until the endpoint is enabled."""
    return await _set_enabled(request, enabled=False)


async def enable_endpoint(request: Request) -> Response:
    """Resume deliveries (no body): held attempts fall due at once, then new events."""
    return await _set_enabled(request, enabled=True)


# -- deliveries ---------------------------------------------------------------------------------


async def list_deliveries(request: Request) -> Response:
    endpoint_id = request.path_params["endpoint_id"]

    def query(tx: Transaction, agency_id: str) -> Reply:
        limit, before = _page(request, "dlv")
        _load(tx, endpoint_id, agency_id)
        rows = tx.all(
            select_deliveries("d.endpoint_id = ? AND d.seq < ?") + " ORDER BY d.seq DESC LIMIT ?",
            (endpoint_id, before if before is not None else 2**63 - 1, limit + 1),
        )
        page = rows[:limit]
        return json_reply(
            200,
            {
                "data": [delivery_json(row) for row in page],
                "next_cursor": encode_cursor("dlv", page[-1]["seq"]) if len(rows) > limit else None,
            },
        )

    return await _platform(request).read(request, query)


async def retry_delivery(request: Request) -> Response:
    platform = _platform(request)
    endpoint_id = request.path_params["endpoint_id"]
    delivery_id = request.path_params["delivery_id"]

    def operation(tx: Transaction, agency_id: str, _body: bytes) -> Reply:
        endpoint = _load(tx, endpoint_id, agency_id)
        row = tx.one(
            "SELECT seq FROM webhook_deliveries WHERE id = ? AND endpoint_id = ?",
            (delivery_id, endpoint_id),
        )
        if row is None:
            raise ProblemError("not_found", f"No delivery {delivery_id} of {endpoint_id}")
        if not endpoint["enabled"]:
            raise ProblemError(
                "invalid_transition",
                f"Webhook endpoint {endpoint_id} is disabled; enable it before retrying",
            )
        attempt_id = retry_now(tx, row["seq"], platform.clock.now_ms())
        attempt = tx.one(select_deliveries("d.id = ?"), (attempt_id,))
        if attempt is None:  # pragma: no cover - written just before
            raise RuntimeError("the attempt vanished")
        return json_reply(202, delivery_json(attempt))

    return await platform.write(request, operation)


# -- mock-only ----------------------------------------------------------------------------------


async def emit_event(request: Request) -> Response:
    """Append any event to an agency's log (and so to its webhook outbox)."""
    platform = _platform(request)
    body = await read_json_body(request)
    payload = parse_json(body, content_type=single_header(request, "Content-Type"))
    check_body("MockEventCreate", payload)
    client_id = payload.get("client_id", "demo-agency")

    def operation(tx: Transaction) -> Reply:
        if not platform.agencies.exists(tx, client_id):
            raise ProblemError.validation([FieldError("/client_id", f"No agency {client_id}")])
        now = platform.clock.now_ms()
        event_id = append_event(
            tx, agency_id=client_id, event_type=payload["type"], at_ms=now, data=payload["data"]
        )
        event = {"id": event_id, "type": payload["type"], "timestamp": format_ms(now)}
        return json_reply(201, {**event, "data": payload["data"]})

    return await platform.control(operation)
