"""Receiving a delivery: verify, call the handler once, answer with the right status.

The status codes and the duplicate semantics are documented in :mod:`crs_sdk.webhooks`.
"""

from __future__ import annotations

import inspect
import logging
import threading
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import attrs

from crs_sdk.webhooks._errors import ReplayedWebhookError, WebhookVerificationError
from crs_sdk.webhooks._sign import HEADER_ID
from crs_sdk.webhooks._verify import ADMISSION, Admission, header_value

if TYPE_CHECKING:
    from collections.abc import Callable

    from crs_sdk._models import Event
    from crs_sdk.webhooks._verify import HeaderTypes, WebhookVerifier

__all__ = [
    "ACCEPTED",
    "DEFAULT_MAX_BODY_SIZE",
    "DUPLICATE",
    "HANDLER_FAILED",
    "IN_PROGRESS",
    "LENGTH_REQUIRED",
    "MAX_LENGTH_DIGITS",
    "METHOD_NOT_ALLOWED",
    "Admitted",
    "WebhookResponse",
    "admit",
    "finish",
    "handle_webhook",
    "logger",
    "refuse_awaitable",
    "release",
    "too_large",
]

logger = logging.getLogger("crs_sdk.webhooks")

#: The largest body the ASGI and WSGI adapters read (1 MiB); a larger one is answered ``413``.
DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024
#: A ``Content-Length`` with more digits is too large whatever it says (`int` reads 4,300 at most).
MAX_LENGTH_DIGITS: Final = 19
_MAX_REASON: Final = 200


@attrs.frozen
class WebhookResponse:
    """What to answer the sender.

    Attributes:
        status: The HTTP status code.
        body: A short plain-text explanation (empty for ``204``).
    """

    status: int
    body: str = ""

    @property
    def content(self) -> bytes:
        """The body as UTF-8 bytes."""
        return self.body.encode()

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Content type and length (none for ``204``), and ``Allow`` for ``405``."""
        if self.status == HTTPStatus.NO_CONTENT:
            return ()
        headers = [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", str(len(self.content))),
        ]
        if self.status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers.append(("allow", "POST"))
        return tuple(headers)


ACCEPTED: Final = WebhookResponse(204)
DUPLICATE: Final = WebhookResponse(200, "duplicate delivery: already processed")
HANDLER_FAILED: Final = WebhookResponse(500, "handler failed; please retry")
IN_PROGRESS: Final = WebhookResponse(409, "delivery is being processed; please retry later")
METHOD_NOT_ALLOWED: Final = WebhookResponse(405, "only POST is allowed")
LENGTH_REQUIRED: Final = WebhookResponse(411, "Content-Length is required")


def too_large(limit: int) -> WebhookResponse:
    """The ``413`` answer for a body over ``limit`` bytes."""
    return WebhookResponse(413, f"body larger than {limit} bytes")


@attrs.frozen
class Admitted:
    """A delivery that passed verification and is new: the handler must see it."""

    webhook_id: str
    event: Event


# Deliveries being admitted or handled, per verifier and webhook-id, with how many requests hold
# each. A request holds its id *before* the replay guard records it, so that a repeat the guard
# calls a replay can tell whether the first is still running. If it is, the repeat must not be
# acknowledged as done (if that handler then fails, nobody would send the event again): it is
# answered 409 and the sender retries later. A request holds its id only *after* its timestamp and
# signature checked out: anyone can send a request with a real webhook-id, and a forged one must
# not make a genuine repeat look in progress (a 409 instead of the 200 it deserves).
_in_flight: dict[tuple[int, str], int] = {}
_in_flight_lock = threading.Lock()


def _hold(key: tuple[int, str]) -> None:
    with _in_flight_lock:
        _in_flight[key] = _in_flight.get(key, 0) + 1


def _drop(key: tuple[int, str]) -> None:
    with _in_flight_lock:
        holders = _in_flight.pop(key, 0) - 1
        if holders > 0:
            _in_flight[key] = holders


def _held_by_another(key: tuple[int, str]) -> bool:
    with _in_flight_lock:
        return _in_flight.get(key, 0) > 1


def _refused(exc: WebhookVerificationError) -> WebhookResponse:
    reason = f"{exc.code}: {exc}"
    logger.warning("webhook refused: %s", reason)
    return WebhookResponse(400, reason[:_MAX_REASON])


def _repeat(admission: Admission, exc: ReplayedWebhookError) -> WebhookResponse:
    """The answer to a delivery the replay guard has seen: ``409`` while the first is running."""
    webhook_id = admission.webhook_id
    running = False
    if webhook_id is not None:
        key = (id(admission.verifier), webhook_id)
        running = _held_by_another(key)
        _drop(key)
    shown = webhook_id or exc.webhook_id
    if running:
        logger.info("webhook %s: repeat while the first is being handled", shown)
        return IN_PROGRESS
    logger.info("webhook %s: duplicate delivery acknowledged", shown)
    return DUPLICATE


def _abandon(admission: Admission) -> None:
    """After ``verify`` failed: nothing stays in progress, nor recorded as accepted."""
    webhook_id = admission.webhook_id
    if webhook_id is None:
        return
    if admission.recorded:  # an override refused the delivery after the guard recorded it
        release(admission.verifier, webhook_id)
    else:
        _drop((id(admission.verifier), webhook_id))


def admit(
    verifier: WebhookVerifier, body: bytes | str, headers: HeaderTypes
) -> Admitted | WebhookResponse:
    """Verify a delivery with ``verifier.verify``; return it if the handler must run, else the
    answer to send.

    The public `WebhookVerifier.verify` is called, so a subclass that overrides it is honoured.
    An admitted delivery counts as in progress until `finish` or `release` is called for it; a
    delivery counts as in progress only once its timestamp and signature checked out (reported by
    ``WebhookVerifier._accept`` through `Admission`). An override that raises after
    ``super().verify()`` returned leaves the id neither in progress nor recorded.
    """
    admission = Admission(verifier, lambda webhook_id: _hold((id(verifier), webhook_id)))
    token = ADMISSION.set(admission)
    try:
        event = verifier.verify(body, headers)
    except ReplayedWebhookError as exc:
        return _repeat(admission, exc)
    except WebhookVerificationError as exc:
        _abandon(admission)
        return _refused(exc)
    except BaseException:
        _abandon(admission)
        raise
    finally:
        ADMISSION.reset(token)
    webhook_id = admission.webhook_id
    if webhook_id is None:  # an override that does not call super().verify()
        try:
            webhook_id = header_value(headers, HEADER_ID)
        except WebhookVerificationError as exc:
            return _refused(exc)
        _hold((id(verifier), webhook_id))
    return Admitted(webhook_id=webhook_id, event=event)


def finish(verifier: WebhookVerifier, webhook_id: str) -> None:
    """After the handler succeeded: the id is done (its repeats are acknowledged as duplicates)."""
    _drop((id(verifier), webhook_id))


def release(verifier: WebhookVerifier, webhook_id: str) -> None:
    """After the handler failed: forget the id, so that the sender's retry is processed."""
    guard = verifier.replay_guard
    try:
        if guard is not None:
            guard.forget(webhook_id)
    finally:
        finish(verifier, webhook_id)


def refuse_awaitable(result: object) -> None:
    """Raise `TypeError` if a synchronous receiver's handler returned a coroutine (an ``async
    def`` handler).

    Nobody would await it: the event would be acknowledged (``204``) and never handled, and the
    sender would not send it again. Raised, it is answered ``500`` and logged like any failure of
    the handler, so the sender retries. A task or future is different: the handler scheduled the
    work itself (fire and forget), and it runs whatever the answer, so it is acknowledged as the
    handler's success; refusing it would have the work done again on every retry.
    """
    if not inspect.iscoroutine(result):
        return
    result.close()  # no "never awaited" warning on top of the error
    raise TypeError(
        "the webhook handler returned a coroutine, which handle_webhook does not await (the "
        "event would be lost): with an async handler use ahandle_webhook or WebhookASGIApp"
    )


def handle_webhook(
    verifier: WebhookVerifier,
    body: bytes | str,
    headers: HeaderTypes,
    handler: Callable[[Event], object],
) -> WebhookResponse:
    """Verify one delivery, pass its event to ``handler``, and return what to answer.

    Framework-neutral: call it from any web framework's view with the raw request body and headers,
    and turn the :class:`WebhookResponse` into the framework's response. The status codes, and why a
    duplicate is acknowledged, are documented in :mod:`crs_sdk.webhooks`.

    Args:
        verifier: Checks the delivery; give it a replay guard for at-most-once handling.
        body: The raw request body, exactly as received.
        headers: The request headers.
        handler: Called with the event, at most once per ``webhook-id`` if the verifier has a replay
            guard. If it raises, the answer is ``500`` and the id is released so that the sender's
            retry calls it again. Its return value is ignored, except an awaitable (an ``async``
            handler): that is a failure of the handler (``500``, logged with a `TypeError` that
            names :func:`ahandle_webhook`), never a ``204`` for an event nobody handled.

    Returns:
        ``204`` (handled), ``200`` (duplicate, not handled again), ``409`` (a repeat that arrived
        while the first delivery's handler is still running: the sender retries later), ``400``
        (refused) or ``500`` (the handler raised; logged on the ``crs_sdk.webhooks`` logger).

    Raises:
        Exception: Whatever the replay guard raises (e.g. :class:`sqlite3.OperationalError` when
            its database stays locked); the handler has not been called. Let the web framework
            answer ``500``, and the sender retries.

    Example:
        >>> from crs_sdk.webhooks import build_headers, handle_webhook, WebhookVerifier
        >>> secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        >>> body = b'{"id": "evt_1", "type": "report.brand_new", "timestamp": "2026-11-23T10:15:00Z", "data": {}}'
        >>> headers = build_headers(secret, "msg_1", body)
        >>> handle_webhook(WebhookVerifier(secret), body, headers, lambda event: None)
        WebhookResponse(status=204, body='')
    """  # noqa: E501
    admitted = admit(verifier, body, headers)
    if isinstance(admitted, WebhookResponse):
        return admitted
    try:
        refuse_awaitable(handler(admitted.event))
    except Exception:
        logger.exception("webhook %s: handler failed", admitted.webhook_id)
        release(verifier, admitted.webhook_id)
        return HANDLER_FAILED
    except BaseException:
        release(verifier, admitted.webhook_id)
        raise
    finish(verifier, admitted.webhook_id)
    return ACCEPTED
