"""Webhook endpoints and their deliveries (Standard Webhooks 1.0)."""

from collections.abc import Iterable
from datetime import datetime

import attrs

from crs_sdk._enums import DeliveryStatus, EventType
from crs_sdk._models._fields import (
    as_tuple,
    invalid,
    length,
    multi_line,
    optional_length,
    single_line,
)


def _event_types(value: Iterable[EventType]) -> tuple[EventType, ...]:
    return as_tuple(value)


@attrs.frozen(kw_only=True)
class WebhookEndpointCreate:
    """The body of ``createWebhookEndpoint``.

    Attributes:
        url: The ``http(s)`` URL that receives the deliveries.
        event_types: The event types to deliver, or ``crs_sdk.ALL_EVENT_TYPES`` for every
            type, including ones added later.
        description: A note for humans, up to 500 characters.
    """

    url: str = attrs.field(validator=[length(1), single_line])
    event_types: tuple[EventType, ...] = attrs.field(
        converter=_event_types, validator=[length(1), single_line]
    )
    description: str | None = attrs.field(
        default=None, validator=[optional_length(0, 500), multi_line]
    )


@attrs.frozen(kw_only=True)
class RotateSecretRequest:
    """The body of ``rotateWebhookSecret``.

    Attributes:
        grace_period_seconds: How long deliveries stay signed with the old secret as well
            (0 to 604,800; one day by default).
    """

    grace_period_seconds: int = attrs.field(default=86_400)

    @grace_period_seconds.validator
    def _check_grace_period(self, attribute: "attrs.Attribute[int]", value: int) -> None:
        if not 0 <= value <= 604_800:  # noqa: PLR2004  # the contract's bound, named in the message
            raise invalid(self, attribute, "must lie in 0..604800")


@attrs.frozen(kw_only=True)
class WebhookEndpoint:
    """A registered webhook endpoint.

    Attributes:
        id: ``whe_...``
        url: Where deliveries go.
        event_types: The subscribed event types (``*`` for all).
        description: The note given at creation, if any.
        enabled: Whether deliveries are being made.
        disabled_reason: Why the endpoint was disabled, if it was.
        created_at: When it was registered.
        secret_rotation_ends_at: While a rotation is in its grace period, when the old secret
            stops being used.
    """

    id: str
    url: str
    event_types: tuple[EventType, ...]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    secret_rotation_ends_at: datetime | None


@attrs.frozen(kw_only=True)
class WebhookEndpointWithSecret(WebhookEndpoint):
    """A webhook endpoint with its signing secret, returned only on creation and rotation.

    Store the secret at once: it is never shown again. It does not appear in ``repr()``.

    Attributes:
        secret: The signing secret, ``whsec_`` followed by base64.
    """

    secret: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One attempt to deliver an event to an endpoint.

    Attributes:
        id: ``dlv_...``
        endpoint_id: The endpoint.
        event_id: The event delivered.
        event_type: Its type.
        webhook_id: The ``webhook-id`` header, stable across attempts.
        attempt: The attempt number, from 1.
        status: Pending, succeeded or failed.
        status_code: The receiver's HTTP status, if it answered.
        duration_ms: How long the attempt took, if it was made.
        error: What went wrong, if something did.
        attempted_at: When the attempt was (or is to be) made.
        next_attempt_at: When the next attempt is scheduled, if one is.
    """

    id: str
    endpoint_id: str
    event_id: str
    event_type: EventType
    webhook_id: str
    attempt: int
    status: DeliveryStatus
    status_code: int | None
    duration_ms: int | None
    error: str | None
    attempted_at: datetime
    next_attempt_at: datetime | None
