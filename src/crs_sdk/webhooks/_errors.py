"""Why a webhook delivery was refused.

::

    CRSError
    └── WebhookVerificationError
        ├── InvalidHeaderError              header present but unusable (duplicated, not ASCII)
        │   └── MissingHeaderError          a Standard Webhooks header is absent or empty
        ├── TimestampError                  ``webhook-timestamp`` is not integer unix seconds
        │   ├── StaleTimestampError         older than the tolerance
        │   └── FutureTimestampError        further ahead than the tolerance
        ├── InvalidSignatureError           no ``v1`` signature matches any configured secret
        ├── ReplayedWebhookError            this ``webhook-id`` was already accepted
        └── MalformedPayloadError           signed correctly, but not an Event

Every message says what failed and never carries a secret or an expected signature, so an error can
be logged, and its message sent back to the sender, as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crs_sdk._exceptions import CRSError

if TYPE_CHECKING:
    from datetime import datetime, timedelta

__all__ = [
    "FutureTimestampError",
    "InvalidHeaderError",
    "InvalidSignatureError",
    "MalformedPayloadError",
    "MissingHeaderError",
    "ReplayedWebhookError",
    "StaleTimestampError",
    "TimestampError",
    "WebhookVerificationError",
]


class WebhookVerificationError(CRSError):
    """A webhook delivery failed verification; its body must not be trusted.

    Attributes:
        code: A short machine-readable reason, stable across versions (``"invalid_signature"``,
            ``"stale_timestamp"``, ...).
    """

    code: str = "verification_failed"


class InvalidHeaderError(WebhookVerificationError):
    """A Standard Webhooks header is present but unusable.

    Raised when ``webhook-id`` or ``webhook-timestamp`` appears several times with different values,
    or when ``webhook-id`` is not 1 to 256 printable ASCII characters.

    Attributes:
        header: The lower-case header name.
    """

    code = "invalid_header"

    def __init__(self, header: str, message: str | None = None) -> None:
        self.header = header
        super().__init__(message or f"header {header} is invalid")


class MissingHeaderError(InvalidHeaderError):
    """A Standard Webhooks header (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) is
    missing or empty.

    Attributes:
        header: The lower-case name of the missing header.
    """

    code = "missing_header"

    def __init__(self, header: str) -> None:
        super().__init__(header, f"header {header} is missing")


class TimestampError(WebhookVerificationError):
    """``webhook-timestamp`` is not integer unix seconds, or (subclasses) outside the tolerance.

    Attributes:
        timestamp: The header's value in unix seconds, or ``None`` if it did not parse.
        now: The verifier's clock when it checked, or ``None`` if the value did not parse.
        tolerance: The verifier's tolerance, or ``None`` if the value did not parse.
    """

    code = "invalid_timestamp"

    def __init__(
        self,
        message: str,
        *,
        timestamp: int | None = None,
        now: datetime | None = None,
        tolerance: timedelta | None = None,
    ) -> None:
        self.timestamp = timestamp
        self.now = now
        self.tolerance = tolerance
        super().__init__(message)


class StaleTimestampError(TimestampError):
    """``webhook-timestamp`` is older than the verifier's tolerance."""

    code = "stale_timestamp"


class FutureTimestampError(TimestampError):
    """``webhook-timestamp`` is further in the future than the verifier's tolerance."""

    code = "future_timestamp"


class InvalidSignatureError(WebhookVerificationError):
    """No ``v1`` signature in ``webhook-signature`` matches the body under any configured secret."""

    code = "invalid_signature"


class ReplayedWebhookError(WebhookVerificationError):
    """The signature is valid, but this ``webhook-id`` was already accepted within the replay TTL.

    Senders retry with the same ``webhook-id``, so this is also what a duplicate delivery of a
    webhook that was already processed looks like; :func:`~crs_sdk.webhooks.handle_webhook`
    acknowledges it with a ``2xx``.

    Attributes:
        webhook_id: The ``webhook-id`` header's value.
    """

    code = "replayed"

    def __init__(self, webhook_id: str) -> None:
        self.webhook_id = webhook_id
        super().__init__(f"webhook {webhook_id} was already received")


class MalformedPayloadError(WebhookVerificationError):
    """The delivery is authentic, but its body is not JSON or does not fit the Event model.

    The original error is the ``__cause__``.
    """

    code = "malformed_payload"
