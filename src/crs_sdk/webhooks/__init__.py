"""Receiving CRS webhooks: Standard Webhooks 1.0 verification, replay protection, typed events.

A delivery is a ``POST`` whose body is one Event (the same JSON as in ``GET /v1/events``) with three
headers: ``webhook-id`` (stable across the sender's retries), ``webhook-timestamp`` (integer unix
seconds) and ``webhook-signature`` (space-separated ``v1,<base64 HMAC-SHA256>`` values over
``{id}.{timestamp}.{body}``; several while a secret is being rotated).

:class:`WebhookVerifier` checks all of that on the raw body *before* parsing it, and only then
decodes the event. :func:`handle_webhook` adds the answer to the sender (:func:`ahandle_webhook` in
async frameworks, which awaits an ``async`` handler: ``handle_webhook`` answers ``500`` to a
handler that returns a coroutine rather than acknowledge an event nobody handled), and
:class:`WebhookASGIApp` / :class:`WebhookWSGIApp` wrap them as ready-made applications::

    import os

    from crs_sdk import Event
    from crs_sdk.webhooks import SQLiteReplayGuard, WebhookASGIApp, WebhookVerifier

    verifier = WebhookVerifier(
        os.environ["CRS_WEBHOOK_SECRET"], replay_guard=SQLiteReplayGuard("webhook-ids.sqlite3")
    )


    async def on_event(event: Event) -> None: ...


    app = WebhookASGIApp(verifier, on_event)

Answers
-------

Standard Webhooks senders retry every delivery that is not answered with a ``2xx``.

========  ==========================================================================================
status    when
========  ==========================================================================================
``204``   verified and new; the handler returned
``200``   a duplicate of a delivery already processed (the replay guard knows its ``webhook-id``);
          the handler is *not* called again
``409``   a repeat of a delivery whose handler is still running in this process: not yet done, so
          the sender is asked to retry later rather than told it was processed
``400``   verification failed; the body is a short reason (``invalid_signature: ...``), never
          secret material
``500``   the handler raised (logged on the ``crs_sdk.webhooks`` logger); the ``webhook-id`` is
          released, so the sender's retry calls the handler again
``405``   (applications) the method is not ``POST``
``411``   (WSGI application) no ``Content-Length``
``413``   (applications) the body is larger than ``max_body_size`` (1 MiB by default)
========  ==========================================================================================

A duplicate is acknowledged with a ``2xx``, not refused with a ``400``: a sender retries when it did
not see our ``2xx`` (a timeout, a dropped connection), with the same ``webhook-id``. A ``400`` would
make it retry a webhook that *was* processed until it gives up and marks the endpoint as failing. A
captured delivery replayed by someone else gains nothing from the ``2xx``: the handler does not run.

Without a replay guard every verified delivery calls the handler. With one, the handler is called at
most once per ``webhook-id`` (within the guard's TTL) *successfully*: an id is recorded when the
delivery verifies, and released again if its body does not decode or its handler raises. A retry
that arrives while the first delivery is still being recorded or handled gets ``409``, so that it
is sent again if that handler fails. A delivery counts as in progress only once its timestamp and
signature checked out: a request that fails them touches neither the replay guard nor the
in-progress state, so a forged request that reuses a real ``webhook-id`` cannot make the genuine
delivery, or its retry, answer anything but what it would have answered alone. That in-progress
state is kept per verifier, in its process: receivers in several processes (or several verifiers)
sharing a :class:`SQLiteReplayGuard` can still acknowledge such a repeat as a duplicate. Keep
handlers short (hand the work to a queue), make them idempotent (the event ``id`` is a natural
key), and after an outage catch up from ``GET /v1/events``.

Replay protection
-----------------

A :class:`ReplayGuard` remembers accepted ``webhook-id`` values for a TTL.
:class:`MemoryReplayGuard` keeps them in the process; :class:`SQLiteReplayGuard` in a file that
several processes (workers of one server, several servers on one host) share.

The TTL defaults to ``2 x tolerance + 1 minute`` (``DEFAULT_REPLAY_TTL``, 11 minutes). A
verifier accepts a delivery while its clock is within ``tolerance`` of the signed timestamp, so one
signed message is acceptable during a window ``2 x tolerance`` long (from ``timestamp - tolerance``
to ``timestamp + tolerance``). An id remembered at least that long after it was first accepted
cannot be replayed: until it expires the guard refuses it, and afterwards the timestamp check does.
The extra minute absorbs clock differences between the processes that share a guard.
:class:`WebhookVerifier` refuses a guard whose ``ttl`` is shorter than ``2 x tolerance``, so
raising the tolerance without the TTL cannot open a hole.

That TTL stops *replays*. A sender's retry is signed again with a fresh timestamp and the same
``webhook-id``, so a retry that comes after the TTL (the Standard Webhooks retry schedule runs for
more than a day) is new to the guard and calls the handler again. To recognise those too, pass a
longer ``ttl``, for example ``SQLiteReplayGuard(path, ttl=timedelta(days=2))``.

Exceptions
----------

::

    CRSError
    └── WebhookVerificationError
        ├── InvalidHeaderError              header present but unusable (repeated, not ASCII)
        │   └── MissingHeaderError          a Standard Webhooks header is absent or empty
        ├── TimestampError                  webhook-timestamp is not integer unix seconds
        │   ├── StaleTimestampError         older than the tolerance
        │   └── FutureTimestampError        further ahead than the tolerance
        ├── InvalidSignatureError           no v1 signature matches any configured secret
        ├── ReplayedWebhookError            this webhook-id was already accepted
        └── MalformedPayloadError           signed correctly, but not an Event
"""

from crs_sdk.webhooks._asgi import WebhookASGIApp, ahandle_webhook
from crs_sdk.webhooks._errors import (
    FutureTimestampError,
    InvalidHeaderError,
    InvalidSignatureError,
    MalformedPayloadError,
    MissingHeaderError,
    ReplayedWebhookError,
    StaleTimestampError,
    TimestampError,
    WebhookVerificationError,
)
from crs_sdk.webhooks._receive import DEFAULT_MAX_BODY_SIZE, WebhookResponse, handle_webhook
from crs_sdk.webhooks._replay import (
    DEFAULT_REPLAY_TTL,
    DEFAULT_TOLERANCE,
    MemoryReplayGuard,
    ReplayGuard,
    SQLiteReplayGuard,
)
from crs_sdk.webhooks._sign import build_headers, generate_secret, sign
from crs_sdk.webhooks._verify import HeaderTypes, VerifiedWebhook, WebhookVerifier
from crs_sdk.webhooks._wsgi import WebhookWSGIApp

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_REPLAY_TTL",
    "DEFAULT_TOLERANCE",
    "FutureTimestampError",
    "HeaderTypes",
    "InvalidHeaderError",
    "InvalidSignatureError",
    "MalformedPayloadError",
    "MemoryReplayGuard",
    "MissingHeaderError",
    "ReplayGuard",
    "ReplayedWebhookError",
    "SQLiteReplayGuard",
    "StaleTimestampError",
    "TimestampError",
    "VerifiedWebhook",
    "WebhookASGIApp",
    "WebhookResponse",
    "WebhookVerificationError",
    "WebhookVerifier",
    "WebhookWSGIApp",
    "ahandle_webhook",
    "build_headers",
    "generate_secret",
    "handle_webhook",
    "sign",
]
