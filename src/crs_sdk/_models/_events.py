"""Events: the durable event log (``GET /v1/events``) and the webhook payload.

Each known event type has its own class with typed ``data``; any other type (one added to the
platform after this SDK was released) decodes to :class:`UnknownEvent`, never to an error. Dispatch
on the class::

    match event:
        case ReportDecidedEvent(data=data):
            ...
        case UnknownEvent():
            pass  # a newer event type; skip or log it
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeAlias

import attrs

from crs_sdk._enums import EventType, ReportStatus
from crs_sdk._models._evidence import Evidence
from crs_sdk._models._reports import InfoRequest, ItemDecision, ReportDecision

# --- data -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReportEventData:
    """The data of every ``report.*`` event.

    Attributes:
        report_id: The report.
        client_reference: The agency's case number for it.
        status: Its status after the event.
        previous_status: Its status before, or ``None`` on creation.
    """

    report_id: str
    client_reference: str
    status: ReportStatus
    previous_status: ReportStatus | None


@attrs.frozen(kw_only=True)
class InfoRequestedEventData(ReportEventData):
    """The data of ``report.info_requested``.

    Attributes:
        info_request: What the platform asks.
    """

    info_request: InfoRequest


@attrs.frozen(kw_only=True)
class DecidedItem:
    """One item's decision in a ``report.decided`` event.

    Attributes:
        item_id: ``itm_...``
        url: The item's URL.
        decision: What the platform decided about it.
    """

    item_id: str
    url: str
    decision: ItemDecision


@attrs.frozen(kw_only=True)
class ReportDecidedEventData(ReportEventData):
    """The data of ``report.decided``.

    Attributes:
        decision: The decision about the whole report.
        items: The decision about each item.
    """

    decision: ReportDecision
    items: tuple[DecidedItem, ...]


@attrs.frozen(kw_only=True)
class EvidenceReceivedEventData:
    """The data of ``evidence.received``.

    Attributes:
        report_id: The report the evidence belongs to.
        evidence: The finished evidence.
    """

    report_id: str
    evidence: Evidence


# --- events -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReportEvent:
    """A report changed status (every ``report.*`` type without its own class).

    Attributes:
        id: ``evt_...``; ids sort in log order.
        type: What happened, e.g. ``report.submitted``.
        timestamp: When.
        data: The report and its status change.
    """

    id: str
    type: EventType
    timestamp: datetime
    data: ReportEventData


@attrs.frozen(kw_only=True)
class InfoRequestedEvent:
    """The platform asked for more information (``report.info_requested``).

    Attributes:
        id: ``evt_...``
        type: ``report.info_requested``.
        timestamp: When.
        data: The report, its status change and the question.
    """

    id: str
    type: EventType = EventType.REPORT_INFO_REQUESTED
    timestamp: datetime
    data: InfoRequestedEventData


@attrs.frozen(kw_only=True)
class ReportDecidedEvent:
    """The platform decided a report (``report.decided``).

    Attributes:
        id: ``evt_...``
        type: ``report.decided``.
        timestamp: When.
        data: The report, its status change and the decisions.
    """

    id: str
    type: EventType = EventType.REPORT_DECIDED
    timestamp: datetime
    data: ReportDecidedEventData


@attrs.frozen(kw_only=True)
class EvidenceReceivedEvent:
    """A piece of evidence finished uploading (``evidence.received``).

    Attributes:
        id: ``evt_...``
        type: ``evidence.received``.
        timestamp: When.
        data: The report and the evidence.
    """

    id: str
    type: EventType = EventType.EVIDENCE_RECEIVED
    timestamp: datetime
    data: EvidenceReceivedEventData


@attrs.frozen(kw_only=True)
class UnknownEvent:
    """An event of a type this SDK does not know. Not an error: skip it, or read ``data`` raw.

    Hashable like every event (a set of events seen, say): the hash leaves out ``data``, a
    ``dict``, while equality compares it.

    Attributes:
        id: ``evt_...``
        type: The raw type (an ``UNKNOWN`` pseudo-member of :class:`~crs_sdk.EventType`).
        timestamp: When.
        data: The undecoded ``data``, as JSON: an object (a ``dict``) for every type so far,
            but any JSON value is taken (an array, a string, ``null``), since the shape of a
            type's ``data`` is that type's own and the SDK does not know this one.
    """

    id: str
    type: EventType
    timestamp: datetime
    data: Any = attrs.field(hash=False)


#: Any event from the log or a webhook.
Event: TypeAlias = (
    ReportEvent | InfoRequestedEvent | ReportDecidedEvent | EvidenceReceivedEvent | UnknownEvent
)

#: The class that decodes each known event type; any other type is an :class:`UnknownEvent`.
EVENT_CLASSES: Final[Mapping[EventType, type[Event]]] = {
    EventType.REPORT_CREATED: ReportEvent,
    EventType.REPORT_SUBMITTED: ReportEvent,
    EventType.REPORT_ACKNOWLEDGED: ReportEvent,
    EventType.REPORT_IN_REVIEW: ReportEvent,
    EventType.REPORT_RESPONDED: ReportEvent,
    EventType.REPORT_APPEALED: ReportEvent,
    EventType.REPORT_WITHDRAWN: ReportEvent,
    EventType.REPORT_EXPIRED: ReportEvent,
    EventType.REPORT_INFO_REQUESTED: InfoRequestedEvent,
    EventType.REPORT_DECIDED: ReportDecidedEvent,
    EventType.EVIDENCE_RECEIVED: EvidenceReceivedEvent,
}
