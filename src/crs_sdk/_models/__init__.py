"""The typed models of the wire contract, one module per resource.

Requests are encoded without the fields left at their default (the server applies the same
defaults); responses are encoded with every field, ``null`` included, as the contract requires.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from crs_sdk._models._common import FieldError, Health, Page, Problem, TokenResponse
from crs_sdk._models._events import (
    EVENT_CLASSES,
    DecidedItem,
    Event,
    EvidenceReceivedEvent,
    EvidenceReceivedEventData,
    InfoRequestedEvent,
    InfoRequestedEventData,
    ReportDecidedEvent,
    ReportDecidedEventData,
    ReportEvent,
    ReportEventData,
    UnknownEvent,
)
from crs_sdk._models._evidence import Evidence
from crs_sdk._models._reports import (
    Appeal,
    AppealRequest,
    InfoRequest,
    ItemDecision,
    LegalBasis,
    Officer,
    Report,
    ReportCreate,
    ReportDecision,
    ReportItem,
    ReportItemCreate,
    ResponseCreate,
    StatusChange,
    SubmitRequest,
    WithdrawRequest,
)
from crs_sdk._models._webhooks import (
    RotateSecretRequest,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointWithSecret,
)

#: Models encoded without the fields that equal their default, each with the fields it always
#: carries: request bodies, and problems (whose kind-specific members are absent, not ``null``,
#: when they do not apply). LegalBasis and Officer are not here: they are part of the Report answer
#: too, where nullable fields are present.
OMIT_DEFAULTS: Final[Mapping[type, frozenset[str]]] = MappingProxyType(
    {
        AppealRequest: frozenset(),
        Problem: frozenset({"detail", "instance"}),
        ReportCreate: frozenset(),
        ReportItemCreate: frozenset(),
        ResponseCreate: frozenset(),
        RotateSecretRequest: frozenset(),
        SubmitRequest: frozenset(),
        WebhookEndpointCreate: frozenset(),
        WithdrawRequest: frozenset(),
    }
)

__all__ = [
    "EVENT_CLASSES",
    "OMIT_DEFAULTS",
    "Appeal",
    "AppealRequest",
    "DecidedItem",
    "Event",
    "Evidence",
    "EvidenceReceivedEvent",
    "EvidenceReceivedEventData",
    "FieldError",
    "Health",
    "InfoRequest",
    "InfoRequestedEvent",
    "InfoRequestedEventData",
    "ItemDecision",
    "LegalBasis",
    "Officer",
    "Page",
    "Problem",
    "Report",
    "ReportCreate",
    "ReportDecidedEvent",
    "ReportDecidedEventData",
    "ReportDecision",
    "ReportEvent",
    "ReportEventData",
    "ReportItem",
    "ReportItemCreate",
    "ResponseCreate",
    "RotateSecretRequest",
    "StatusChange",
    "SubmitRequest",
    "TokenResponse",
    "UnknownEvent",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEndpointCreate",
    "WebhookEndpointWithSecret",
    "WithdrawRequest",
]
