"""`Traffic`: the middleware that injects faults into requests and journals them.

It sits inside `RequestContext` (so each request already has its id) and leaves ``/_mock/`` alone.
For every other request it names the agency (bearer token; for ``/oauth/token`` the client id it
authenticates), the operation, asks `FaultRules` for a fault, applies it, and journals the request.

Where a fault strikes decides what state it leaves:

- ``error`` and ``connection_reset`` strike *before* the handler: nothing is written, nothing is
  committed; ``latency`` waits (real time) and then lets the request through;
- ``drop_response``, ``malformed_body`` and ``truncated_body`` strike *after* the handler has
  committed: the state is exactly what a successful answer would have left, only the client does not
  get (all of) the answer. That is the case ``Idempotency-Key`` exists for. An answer with no body
  to spoil (a ``204``, a ``304``, a ``HEAD``'s answer, an empty body) cannot be cut in half or
  truncated without inventing bytes, so there ``malformed_body`` and ``truncated_body`` drop it
  instead, and the journal says ``drop_response``: what the client really got.

The journal entry is written before anything reaches the client, so a client that got an answer (or
an error) always finds its request in the journal.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote_plus

import anyio
import anyio.to_thread
from starlette.requests import Request

from crs_mock._connection import connection_of
from crs_mock._faults import Fault, RequestInfo
from crs_mock._journal import JournalEntry, redact_headers, redact_query
from crs_mock._limits import MAX_TOKEN_FORM
from crs_mock._operations import operation_id
from crs_mock._problems import ProblemError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from crs_mock._platform import MockPlatform

__all__ = ["Traffic"]

#: Writes the request's journal entry (once).
Record = Callable[[], Awaitable[None]]

_TOKEN_OPERATION = "createToken"  # noqa: S105 - an operation id, not a secret
#: Statuses whose answers never carry a body (RFC 9110 sections 15.3.5 and 15.4.5).
_BODYLESS = frozenset({204, 304})


@dataclass
class _Exchange:
    """What one request received and sent, for its journal entry."""

    scope: Scope
    agency_id: str | None
    operation_id: str | None
    started: float = field(default_factory=time.perf_counter)
    request_bytes: int = 0
    status: int | None = None
    response_bytes: int | None = None
    replayed: bool = False
    fault: Fault | None = None
    recorded: bool = False

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key.lower() == name:
                decoded: str = value.decode("latin-1")
                return decoded
        return None

    def entry(self, received_ms: int) -> JournalEntry:
        scope = self.scope
        return JournalEntry(
            id=scope.get("state", {}).get("request_id", "req_unknown"),
            method=scope["method"],
            path=scope["path"],
            query=redact_query(scope.get("query_string", b"").decode("latin-1")),
            request_headers=redact_headers(scope["headers"]),
            request_body_size=self.request_bytes,
            operation_id=self.operation_id,
            status_code=self.status,
            response_body_size=self.response_bytes,
            client_id=self.agency_id,
            idempotency_key=self.header(b"idempotency-key"),
            idempotent_replayed=self.replayed,
            fault_id=None if self.fault is None else self.fault.rule_id,
            fault_action=None if self.fault is None else self.fault.action,
            received_ms=received_ms,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
        )


class Traffic:
    """Applies fault rules to, and journals, every request outside ``/_mock/``."""

    def __init__(self, app: ASGIApp, platform: MockPlatform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_mock/"):
            await self.app(scope, receive, send)
            return
        received_ms = self.platform.clock.now_ms()
        operation = operation_id(scope["method"], scope["path"])
        receive, agency_id = await self._attribute(scope, receive, operation)
        exchange = _Exchange(scope, agency_id, operation)
        counted = _counting(receive, exchange)
        faults = self.platform.faults
        if faults.active:
            request = RequestInfo(scope["method"], scope["path"], operation, agency_id)
            exchange.fault = await anyio.to_thread.run_sync(faults.select, request)

        async def record() -> None:
            if not exchange.recorded:
                exchange.recorded = True
                entry = exchange.entry(received_ms)
                await anyio.to_thread.run_sync(self.platform.journal.record, entry)

        fault = exchange.fault
        try:
            if fault is None or fault.action == "latency":
                if fault is not None:
                    await anyio.sleep(fault.latency_seconds)
                await self.app(scope, counted, _journaling_send(send, exchange, record))
            elif fault.after_commit:
                await self._after_commit(scope, counted, send, exchange, record)
            else:
                await self._before_handler(scope, send, exchange, record)
        except Exception:
            if exchange.status is None:
                exchange.status = 500  # RequestContext answers for the crash
            await record()
            raise

    # -- faults ----------------------------------------------------------------------------------

    async def _before_handler(
        self, scope: Scope, send: Send, exchange: _Exchange, record: Record
    ) -> None:
        """``error`` or ``connection_reset``: the handler never runs."""
        assert exchange.fault is not None  # noqa: S101 - the caller checked
        connection = connection_of(scope)
        if exchange.fault.action == "error":
            problem = exchange.fault.problem(
                operation_id=exchange.operation_id, basic=_uses_basic(scope)
            )
        elif connection is None:
            problem = _cannot_cut()
        else:
            await record()
            await connection.reset()
            return
        await _answer_problem(scope, send, problem, exchange, record)

    async def _after_commit(
        self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange, record: Record
    ) -> None:
        """Run the handler to its commit, hold its answer back, then spoil it."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        assert exchange.fault is not None  # noqa: S101 - the caller checked
        action = exchange.fault.action
        start = next(message for message in held if message["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        exchange.status = start["status"]
        exchange.replayed = _replayed(start)
        if action != "drop_response" and not _has_body(scope, start, body):
            # Nothing to cut in half or truncate, and inventing bytes would break the framing
            # (h11 refuses a body on a 204 or a HEAD's answer): the answer is dropped instead.
            action = "drop_response"
            exchange.fault = replace(exchange.fault, action=action)
        connection = connection_of(scope)
        if action == "malformed_body":
            await _send_cut_body(send, start, body, exchange, record)
        elif connection is None:
            exchange.status = None
            await _answer_problem(scope, send, _cannot_cut(), exchange, record)
        elif action == "truncated_body":
            await _send_truncated(send, start, body, exchange, record)
            await connection.close()
        else:  # drop_response
            exchange.status = None
            await record()
            await connection.close()

    # -- attribution -----------------------------------------------------------------------------

    async def _attribute(
        self, scope: Scope, receive: Receive, operation: str | None
    ) -> tuple[Receive, str | None]:
        """The agency behind the request (and a `receive` that still yields the whole body)."""
        if operation != _TOKEN_OPERATION:
            return receive, self.platform.agencies.holder(Request(scope))
        basic = _basic_client_id(scope)
        if basic is not None:
            return receive, basic
        messages: list[Message] = []
        size = 0
        while size <= MAX_TOKEN_FORM:  # past it the endpoint refuses the body: stop reading it
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        text = "" if size > MAX_TOKEN_FORM else body.decode("latin-1")
        form = dict(parse_qsl(text, keep_blank_values=True))

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay, form.get("client_id") or None


async def _answer_problem(
    scope: Scope, send: Send, problem: ProblemError, exchange: _Exchange, record: Record
) -> None:
    request_id = scope.get("state", {}).get("request_id", "req_unknown")
    reply = problem.render(request_id=request_id, instance=scope["path"])
    headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    journaled = _journaling_send(send, exchange, record)
    await journaled({"type": "http.response.start", "status": reply.status, "headers": headers})
    await journaled({"type": "http.response.body", "body": reply.body})


def _has_body(scope: Scope, start: Message, body: bytes) -> bool:
    """Whether the held answer carries body bytes (not a ``1xx``, ``204``, ``304`` or a ``HEAD``'s
    answer, and not empty)."""
    status: int = start["status"]
    final = status >= HTTPStatus.OK  # a 1xx answer is followed by the real one
    return bool(body) and scope["method"] != "HEAD" and final and status not in _BODYLESS


def _cannot_cut() -> ProblemError:
    return ProblemError(
        "service_unavailable",
        "A connection fault fired, but this server cannot cut connections; run the mock with "
        "crs-mock serve, or in-process through crs_mock.FaultingASGITransport",
    )


def _replayed(start: Message) -> bool:
    return any(
        name.lower() == b"idempotent-replayed" and value.lower() == b"true"
        for name, value in start.get("headers", [])
    )


def _journaling_send(send: Send, exchange: _Exchange, record: Record) -> Send:
    """`send` that journals the exchange just before the answer's last bytes go out."""

    async def journaling(message: Message) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.replayed = _replayed(message)
            exchange.response_bytes = 0
        elif message["type"] == "http.response.body":
            # The server sends no body in answer to a HEAD (RFC 9110 section 9.3.2), whatever
            # the app hands it: none is counted.
            sent = b"" if exchange.scope["method"] == "HEAD" else message.get("body", b"")
            exchange.response_bytes = (exchange.response_bytes or 0) + len(sent)
            if not message.get("more_body", False):
                await record()
        await send(message)

    return journaling


def _counting(receive: Receive, exchange: _Exchange) -> Receive:
    async def counting() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            exchange.request_bytes += len(message.get("body", b""))
        return message

    return counting


def _with_length(start: Message, length: int) -> Message:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return {**start, "headers": [*headers, (b"content-length", str(length).encode())]}


async def _send_cut_body(
    send: Send, start: Message, body: bytes, exchange: _Exchange, record: Record
) -> None:
    """The real status, with a body cut in half (not valid JSON) and a matching length."""
    cut = body[: len(body) // 2]
    exchange.response_bytes = len(cut)
    await record()
    await send(_with_length(start, len(cut)))
    await send({"type": "http.response.body", "body": cut})


async def _send_truncated(
    send: Send, start: Message, body: bytes, exchange: _Exchange, record: Record
) -> None:
    """Announce the whole body and send half of it (the caller hangs up)."""
    half = body[: len(body) // 2]
    exchange.response_bytes = len(half)
    await record()
    await send(_with_length(start, len(body)))
    await send({"type": "http.response.body", "body": half, "more_body": True})


def _uses_basic(scope: Scope) -> bool:
    """Whether the request authenticates with HTTP Basic (a token request may)."""
    return any(
        name.lower() == b"authorization" and value[:6].lower() == b"basic "
        for name, value in scope["headers"]
    )


def _basic_client_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, encoded = value.decode("latin-1").partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, colon, _ = decoded.partition(":")
            return unquote_plus(client_id) if colon and client_id else None
    return None
