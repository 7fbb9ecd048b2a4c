"""The closed vocabularies of the wire contract, as forward-compatible enums.

Every enum here derives from :class:`OpenEnum`: a value the SDK does not know yet (a newer server
may add a status, a category, an event type) decodes to a *pseudo-member* of the right class instead
of failing. The pseudo-member keeps the raw string as its ``value``, is named ``UNKNOWN``, reports
``is_known == False`` and encodes back to the same string, so a report is never lost, and never
altered, because of one new word.
"""

import enum
import threading
from typing import Any, Final

#: The name every pseudo-member carries.
_UNKNOWN_NAME: Final = "UNKNOWN"
#: Upper bound of cached pseudo-members per enum, so a server inventing a new word per response
#: cannot grow memory without limit. Past it, pseudo-members are still created, just not cached.
_CACHE_LIMIT: Final = 256

_unknown_members: dict[type["OpenEnum"], dict[str, "OpenEnum"]] = {}
_unknown_lock = threading.Lock()


class OpenEnum(str, enum.Enum):
    """A string enum that accepts values it does not know.

    ``MyEnum("new_value")`` returns a pseudo-member (an instance of ``MyEnum`` named ``UNKNOWN``
    whose ``value`` is ``"new_value"``) instead of raising :exc:`ValueError`. Like every member, a
    pseudo-member compares and hashes equal to its string value, and ``str()``/``format()`` give
    the value. Pseudo-members are cached (up to a bound), so the same unknown value usually gives
    the same object; compare them with ``==``, not ``is``.

    Values that are not strings are still rejected with :exc:`ValueError`.
    """

    @classmethod
    def _missing_(cls, value: object) -> "OpenEnum | None":
        if not isinstance(value, str):
            return None
        with _unknown_lock:
            cache = _unknown_members.setdefault(cls, {})
            cached = cache.get(value)
            if cached is not None:
                return cached
            pseudo = str.__new__(cls, value)
            pseudo._name_ = _UNKNOWN_NAME
            pseudo._value_ = value
            if len(cache) < _CACHE_LIMIT:
                cache[value] = pseudo
            return pseudo

    @property
    def is_known(self) -> bool:
        """Whether this is a real member, as opposed to a pseudo-member for an unknown value."""
        return type(self).__members__.get(self._name_) is self

    def __str__(self) -> str:
        return str(self._value_)

    def __format__(self, format_spec: str) -> str:
        return format(str(self._value_), format_spec)

    def __hash__(self) -> int:
        return str.__hash__(self)

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        # By value, so a pseudo-member pickles too: Python 3.11.0 to 3.11.4 (Debian 12 has 3.11.2)
        # pickle members by name, and a pseudo-member's name (UNKNOWN) is no member's.
        return type(self), (self._value_,)


class ReportStatus(OpenEnum):
    """Where a report is in its lifecycle (see the wire contract)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    IN_REVIEW = "in_review"
    INFO_REQUESTED = "info_requested"
    ACTIONED = "actioned"
    PARTIALLY_ACTIONED = "partially_actioned"
    NO_ACTION = "no_action"
    REJECTED = "rejected"
    CONTENT_UNAVAILABLE = "content_unavailable"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"

    @property
    def is_decided(self) -> bool:
        """Whether the platform has decided the report (one of ``DECIDED_STATUSES``)."""
        return self in DECIDED_STATUSES

    @property
    def is_terminal(self) -> bool:
        """Whether the report will not move again without the agency acting.

        True for the decided statuses and for ``withdrawn`` and ``expired``. Decided statuses are
        *final until appealed*: an appeal moves the report back to ``in_review``. An unknown
        status is never terminal.
        """
        return self in TERMINAL_STATUSES


#: The statuses that carry a platform decision.
DECIDED_STATUSES: Final[frozenset[ReportStatus]] = frozenset(
    {
        ReportStatus.ACTIONED,
        ReportStatus.PARTIALLY_ACTIONED,
        ReportStatus.NO_ACTION,
        ReportStatus.REJECTED,
        ReportStatus.CONTENT_UNAVAILABLE,
    }
)

#: The statuses a report stays in unless the agency acts (decided ones until appealed).
TERMINAL_STATUSES: Final[frozenset[ReportStatus]] = DECIDED_STATUSES | {
    ReportStatus.WITHDRAWN,
    ReportStatus.EXPIRED,
}

#: The statuses from which a report may be withdrawn.
WITHDRAWABLE_STATUSES: Final[frozenset[ReportStatus]] = frozenset(
    {
        ReportStatus.DRAFT,
        ReportStatus.SUBMITTED,
        ReportStatus.ACKNOWLEDGED,
        ReportStatus.IN_REVIEW,
        ReportStatus.INFO_REQUESTED,
    }
)


class ItemOutcome(OpenEnum):
    """The platform's decision about one reported item."""

    ACTIONED = "actioned"
    NO_ACTION = "no_action"
    REJECTED = "rejected"
    CONTENT_UNAVAILABLE = "content_unavailable"


class Platform(OpenEnum):
    """The service a reported item lives on."""

    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    THREADS = "threads"
    MESSENGER = "messenger"
    WHATSAPP = "whatsapp"
    OTHER = "other"


class ContentType(OpenEnum):
    """What kind of content a reported item is."""

    POST = "post"
    COMMENT = "comment"
    PHOTO = "photo"
    VIDEO = "video"
    REEL = "reel"
    STORY = "story"
    PROFILE = "profile"
    PAGE = "page"
    GROUP = "group"
    LIVE = "live"
    MESSAGE = "message"


class Category(OpenEnum):
    """Why the content is reported; child protection categories first."""

    CSAM = "csam"
    GROOMING = "grooming"
    SEXTORTION = "sextortion"
    CHILD_TRAFFICKING = "child_trafficking"
    CHILD_CYBERBULLYING = "child_cyberbullying"
    MINOR_PRIVACY = "minor_privacy"
    SELF_HARM_CHALLENGE = "self_harm_challenge"
    AGE_INAPPROPRIATE = "age_inappropriate"
    TERRORISM = "terrorism"
    HATE_SPEECH = "hate_speech"
    FRAUD = "fraud"
    NCII = "ncii"
    OTHER_ILLEGAL = "other_illegal"


class ViolationBasis(OpenEnum):
    """Whether the content is claimed illegal, against platform policy, or both."""

    ILLEGAL_CONTENT = "illegal_content"
    POLICY_VIOLATION = "policy_violation"
    BOTH = "both"


class RequestedAction(OpenEnum):
    """What the agency asks the platform to do (also what the platform did, per item)."""

    REMOVE = "remove"
    GEO_RESTRICT = "geo_restrict"
    PRESERVE = "preserve"
    ACCOUNT_ACTION = "account_action"


class Priority(OpenEnum):
    """How urgent a report is; anything but ``standard`` needs an escalation reason."""

    STANDARD = "standard"
    HIGH = "high"
    URGENT = "urgent"


class EvidenceRelevance(OpenEnum):
    """How a piece of evidence relates to the report."""

    PRIMARY = "primary"
    SUPPORTING = "supporting"


class EventType(OpenEnum):
    """The type of an event in the event log (and of a webhook delivery)."""

    REPORT_CREATED = "report.created"
    REPORT_SUBMITTED = "report.submitted"
    REPORT_ACKNOWLEDGED = "report.acknowledged"
    REPORT_IN_REVIEW = "report.in_review"
    REPORT_INFO_REQUESTED = "report.info_requested"
    REPORT_RESPONDED = "report.responded"
    REPORT_DECIDED = "report.decided"
    REPORT_APPEALED = "report.appealed"
    REPORT_WITHDRAWN = "report.withdrawn"
    REPORT_EXPIRED = "report.expired"
    EVIDENCE_RECEIVED = "evidence.received"


#: Pass as ``event_types`` of a webhook endpoint to receive every event type, including future
#: ones. The wire form is ``["*"]``; ``*`` is not an event type, so it is an ``UNKNOWN``
#: pseudo-member of :class:`EventType`.
ALL_EVENT_TYPES: Final[tuple[EventType, ...]] = (EventType("*"),)


class DeliveryStatus(OpenEnum):
    """The state of one webhook delivery attempt."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProblemCode(OpenEnum):
    """The machine-readable code of a problem (error) response."""

    VALIDATION_ERROR = "validation_error"
    INVALID_TRANSITION = "invalid_transition"
    NOT_FOUND = "not_found"
    DUPLICATE_CLIENT_REFERENCE = "duplicate_client_reference"
    DUPLICATE_EVIDENCE = "duplicate_evidence"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_FLIGHT = "idempotency_key_in_flight"
    UNAUTHORIZED = "unauthorized"
    INVALID_CLIENT = "invalid_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_REQUEST = "invalid_request"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    INTEGRITY_MISMATCH = "integrity_mismatch"
    UPLOAD_OFFSET_MISMATCH = "upload_offset_mismatch"
    EVIDENCE_LIMIT_REACHED = "evidence_limit_reached"
    UPLOAD_EXPIRED = "upload_expired"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
