"""crs_sdk: a typed Python client for the Content Reporting System (CRS) API.

Everything public is importable from here; the modules behind it are private. The evidence
uploader's names (`EvidenceFile` and the resume stores) are loaded on first use, like the client's
``evidence`` resource: a program that never uploads does not import them.
"""

import typing as _typing

from crs_sdk._async_client import AsyncCRSClient
from crs_sdk._client import CRSClient
from crs_sdk._config import ClientConfig
from crs_sdk._converter import structure, structure_event, unstructure
from crs_sdk._enums import (
    ALL_EVENT_TYPES,
    DECIDED_STATUSES,
    TERMINAL_STATUSES,
    WITHDRAWABLE_STATUSES,
    Category,
    ContentType,
    DeliveryStatus,
    EventType,
    EvidenceRelevance,
    ItemOutcome,
    OpenEnum,
    Platform,
    Priority,
    ProblemCode,
    ReportStatus,
    RequestedAction,
    ViolationBasis,
)
from crs_sdk._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ChecksumMismatchError,
    ConfigurationError,
    ConflictError,
    ConnectError,
    CRSError,
    DeadlineExceeded,
    DecodeError,
    DuplicateEvidenceError,
    DuplicateReportError,
    IdempotencyConflictError,
    IncompleteReportError,
    IntegrityError,
    InvalidFieldError,
    InvalidTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeout,
    RetryBudgetExhausted,
    RetryError,
    ServerError,
    ServiceUnavailableError,
    TransportError,
    UnsupportedMediaTypeError,
    ValidationError,
    WaitTimeout,
)
from crs_sdk._models import (
    Appeal,
    AppealRequest,
    DecidedItem,
    Event,
    Evidence,
    EvidenceReceivedEvent,
    EvidenceReceivedEventData,
    FieldError,
    Health,
    InfoRequest,
    InfoRequestedEvent,
    InfoRequestedEventData,
    ItemDecision,
    LegalBasis,
    Officer,
    Page,
    Problem,
    Report,
    ReportCreate,
    ReportDecidedEvent,
    ReportDecidedEventData,
    ReportDecision,
    ReportEvent,
    ReportEventData,
    ReportItem,
    ReportItemCreate,
    ResponseCreate,
    RotateSecretRequest,
    StatusChange,
    SubmitRequest,
    TokenResponse,
    UnknownEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointWithSecret,
    WithdrawRequest,
)
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._retry import RetryBudget, RetryEvent, RetryPolicy
from crs_sdk._version import __version__

if _typing.TYPE_CHECKING:
    from crs_sdk._resume import FileResumeStore, MemoryResumeStore, ResumeStore
    from crs_sdk._upload import EvidenceFile

__all__ = [
    "ALL_EVENT_TYPES",
    "DECIDED_STATUSES",
    "TERMINAL_STATUSES",
    "WITHDRAWABLE_STATUSES",
    "APIError",
    "Appeal",
    "AppealRequest",
    "AsyncCRSClient",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "CRSClient",
    "CRSError",
    "Category",
    "ChecksumMismatchError",
    "ClientConfig",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "ContentType",
    "DeadlineExceeded",
    "DecidedItem",
    "DecodeError",
    "DeliveryStatus",
    "DuplicateEvidenceError",
    "DuplicateReportError",
    "Event",
    "EventType",
    "Evidence",
    "EvidenceFile",
    "EvidenceReceivedEvent",
    "EvidenceReceivedEventData",
    "EvidenceRelevance",
    "FieldError",
    "FileResumeStore",
    "Health",
    "IdempotencyConflictError",
    "IncompleteReportError",
    "InfoRequest",
    "InfoRequestedEvent",
    "InfoRequestedEventData",
    "IntegrityError",
    "InvalidFieldError",
    "InvalidTransitionError",
    "ItemDecision",
    "ItemOutcome",
    "LegalBasis",
    "MemoryResumeStore",
    "NotFoundError",
    "Officer",
    "OpenEnum",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Platform",
    "Priority",
    "Problem",
    "ProblemCode",
    "RateLimitError",
    "Report",
    "ReportCreate",
    "ReportDecidedEvent",
    "ReportDecidedEventData",
    "ReportDecision",
    "ReportEvent",
    "ReportEventData",
    "ReportItem",
    "ReportItemCreate",
    "ReportStatus",
    "RequestTimeout",
    "RequestedAction",
    "ResponseCreate",
    "ResumeStore",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryError",
    "RetryEvent",
    "RetryPolicy",
    "RotateSecretRequest",
    "ServerError",
    "ServiceUnavailableError",
    "StatusChange",
    "SubmitRequest",
    "SyncPager",
    "TokenResponse",
    "TransportError",
    "UnknownEvent",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "ViolationBasis",
    "WaitTimeout",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEndpointCreate",
    "WebhookEndpointWithSecret",
    "WithdrawRequest",
    "__version__",
    "structure",
    "structure_event",
    "unstructure",
]

#: Names loaded on first access (PEP 562), and the module that defines each.
_LAZY = {
    "EvidenceFile": "crs_sdk._upload",
    "FileResumeStore": "crs_sdk._resume",
    "MemoryResumeStore": "crs_sdk._resume",
    "ResumeStore": "crs_sdk._resume",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
