"""The typed models of the wire contract, one module per resource.

Each module is imported on first access to one of its names (PEP 562), not with the package:
creating the attrs classes would otherwise be the largest part of ``import crs_sdk``. The
converter's rules name the request and event classes, so the first decode or encode loads them all.
"""

from typing import TYPE_CHECKING

from crs_sdk._lazy import LazyNames

if TYPE_CHECKING:
    from crs_sdk._models._common import FieldError, Health, Page, Problem, TokenResponse
    from crs_sdk._models._encoding import OMIT_DEFAULTS as OMIT_DEFAULTS
    from crs_sdk._models._events import EVENT_CLASSES as EVENT_CLASSES
    from crs_sdk._models._events import (
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

#: The models, all re-exported by ``crs_sdk``. ``EVENT_CLASSES`` and ``OMIT_DEFAULTS`` are the
#: converter's: loaded here on first access too, but not part of the public face.
__all__ = [
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

_LAZY = LazyNames(
    globals(),
    {
        "crs_sdk._models._common": ("FieldError", "Health", "Page", "Problem", "TokenResponse"),
        "crs_sdk._models._encoding": ("OMIT_DEFAULTS",),
        "crs_sdk._models._events": (
            "EVENT_CLASSES",
            "DecidedItem",
            "Event",
            "EvidenceReceivedEvent",
            "EvidenceReceivedEventData",
            "InfoRequestedEvent",
            "InfoRequestedEventData",
            "ReportDecidedEvent",
            "ReportDecidedEventData",
            "ReportEvent",
            "ReportEventData",
            "UnknownEvent",
        ),
        "crs_sdk._models._evidence": ("Evidence",),
        "crs_sdk._models._reports": (
            "Appeal",
            "AppealRequest",
            "InfoRequest",
            "ItemDecision",
            "LegalBasis",
            "Officer",
            "Report",
            "ReportCreate",
            "ReportDecision",
            "ReportItem",
            "ReportItemCreate",
            "ResponseCreate",
            "StatusChange",
            "SubmitRequest",
            "WithdrawRequest",
        ),
        "crs_sdk._models._webhooks": (
            "RotateSecretRequest",
            "WebhookDelivery",
            "WebhookEndpoint",
            "WebhookEndpointCreate",
            "WebhookEndpointWithSecret",
        ),
    },
)


def __getattr__(name: str) -> object:
    return _LAZY.load(name)


def __dir__() -> list[str]:
    return _LAZY.names()
