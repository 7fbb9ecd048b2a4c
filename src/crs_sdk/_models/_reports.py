"""Reports: what the agency sends (``*Create``, action bodies) and what the platform answers."""

from collections.abc import Iterable
from datetime import datetime

import attrs

from crs_sdk._enums import (
    Category,
    ContentType,
    ItemOutcome,
    Platform,
    Priority,
    ReportStatus,
    RequestedAction,
    ViolationBasis,
)
from crs_sdk._models._fields import (
    as_tuple,
    aware,
    length,
    multi_line,
    optional_length,
    single_line,
    unique,
)

# --- requests ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LegalBasis:
    """The law a reported item breaks.

    Attributes:
        jurisdiction: ISO 3166-1 alpha-2 (``GB``) or ISO 3166-2 (``GB-SCT``) code.
        instrument: The act or regulation, e.g. ``Online Safety Act 2023``.
        provision: The section, article or paragraph.
        explanation: How the content breaks it.
    """

    jurisdiction: str = attrs.field(validator=[length(2, 6), single_line])
    instrument: str = attrs.field(validator=[length(1, 300), single_line])
    provision: str = attrs.field(validator=[length(1, 300), single_line])
    explanation: str | None = attrs.field(
        default=None, validator=[optional_length(1, 2000), multi_line]
    )


@attrs.frozen(kw_only=True)
class Officer:
    """The officer responsible for a report.

    Attributes:
        name: Full name.
        email: Work e-mail address.
    """

    name: str = attrs.field(validator=[length(1, 200), single_line])
    email: str = attrs.field(validator=[length(3, 320), single_line])


@attrs.frozen(kw_only=True)
class ReportItemCreate:
    """One piece of content to report.

    Attributes:
        url: Absolute ``http(s)`` URL of the content.
        platform: The service it lives on.
        content_type: What kind of content it is.
        account: The account that posted it, if known.
        observed_at: When the agency saw it (timezone-aware).
    """

    url: str = attrs.field(validator=[length(1, 2048), single_line])
    platform: Platform = attrs.field(validator=single_line)
    content_type: ContentType = attrs.field(validator=single_line)
    account: str | None = attrs.field(
        default=None, validator=[optional_length(1, 256), single_line]
    )
    observed_at: datetime | None = attrs.field(default=None, validator=aware)


def _items(value: Iterable[ReportItemCreate]) -> tuple[ReportItemCreate, ...]:
    return as_tuple(value)


def _legal_bases(value: Iterable[LegalBasis]) -> tuple[LegalBasis, ...]:
    return as_tuple(value)


def _actions(value: Iterable[RequestedAction]) -> tuple[RequestedAction, ...]:
    return as_tuple(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return as_tuple(value)


@attrs.frozen(kw_only=True)
class ReportCreate:
    """The body of ``createReport``: a new report, created in ``draft``.

    Sequences may be given as lists; they are stored as tuples. Fields left at their default are
    left out of the request, and the server applies the same default.

    Strings are single lines without control characters, except ``explanation`` and
    ``escalation_reason`` (and a legal basis's ``explanation``), which may also hold TAB, LF and CR;
    anything else is an `~crs_sdk.InvalidFieldError`. Enum fields given as strings (a value this
    SDK does not know yet) follow the single-line rule too: no control character, no unpaired
    surrogate.

    Attributes:
        client_reference: The agency's own case number, unique per agency.
        items: The content reported, 1 to 100 items.
        category: Why the content is reported.
        violation_basis: Illegal, against policy, or both.
        legal_basis: The law broken; at least one when illegal content is claimed.
        explanation: Free text, up to 10,000 characters.
        requested_actions: What the platform should do, 1 to 4, without repeats.
        territorial_scope: ISO 3166-1 alpha-2 codes where the request applies.
        reporting_officer: Who is responsible.
        good_faith_declaration: Must be true before the report can be submitted.
        priority: How urgent the report is.
        escalation_reason: Why, when ``priority`` is not ``standard``.
    """

    client_reference: str = attrs.field(validator=[length(1, 128), single_line])
    items: tuple[ReportItemCreate, ...] = attrs.field(converter=_items, validator=length(1, 100))
    category: Category = attrs.field(validator=single_line)
    violation_basis: ViolationBasis = attrs.field(validator=single_line)
    legal_basis: tuple[LegalBasis, ...] = attrs.field(
        default=(), converter=_legal_bases, validator=length(0, 20)
    )
    explanation: str = attrs.field(validator=[length(1, 10_000), multi_line])
    requested_actions: tuple[RequestedAction, ...] = attrs.field(
        converter=_actions, validator=[length(1, 4), unique, single_line]
    )
    territorial_scope: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=single_line
    )
    reporting_officer: Officer
    good_faith_declaration: bool = False
    priority: Priority = attrs.field(default=Priority.STANDARD, validator=single_line)
    escalation_reason: str | None = attrs.field(
        default=None, validator=[optional_length(1, 2000), multi_line]
    )


@attrs.frozen(kw_only=True)
class SubmitRequest:
    """The optional body of ``submitReport``.

    Attributes:
        good_faith_declaration: ``True`` confirms the declaration at submission.
    """

    good_faith_declaration: bool | None = None


@attrs.frozen(kw_only=True)
class WithdrawRequest:
    """The body of ``withdrawReport``.

    Attributes:
        reason: Why the agency withdraws the report.
    """

    reason: str | None = attrs.field(default=None, validator=[optional_length(1, 2000), multi_line])


@attrs.frozen(kw_only=True)
class ResponseCreate:
    """The body of ``respondToReport``: the answer to an information request.

    Attributes:
        message: The answer, up to 10,000 characters.
        evidence_ids: Evidence uploaded while the report was ``info_requested``.
    """

    message: str = attrs.field(validator=[length(1, 10_000), multi_line])
    evidence_ids: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=single_line
    )


@attrs.frozen(kw_only=True)
class AppealRequest:
    """The body of ``appealReport``. A report can be appealed once.

    Attributes:
        reason: Why the decision should be reviewed again.
    """

    reason: str = attrs.field(validator=[length(1, 10_000), multi_line])


# --- responses --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ItemDecision:
    """The platform's decision about one item.

    Attributes:
        outcome: What was decided.
        actions_taken: What the platform did.
        reason: Why, if the platform says.
        decided_at: When.
    """

    outcome: ItemOutcome
    actions_taken: tuple[RequestedAction, ...]
    reason: str | None
    decided_at: datetime


@attrs.frozen(kw_only=True)
class ReportDecision:
    """The platform's decision about a whole report.

    Attributes:
        outcome: One of the decided statuses (``crs_sdk.DECIDED_STATUSES``).
        summary: The platform's summary.
        decided_at: When.
    """

    outcome: ReportStatus
    summary: str
    decided_at: datetime


@attrs.frozen(kw_only=True)
class InfoRequest:
    """The platform's open request for more information.

    Attributes:
        id: ``inf_...``
        question: What the platform asks.
        requested_at: When it asked.
        due_at: When the answer is due, if there is a deadline.
    """

    id: str
    question: str
    requested_at: datetime
    due_at: datetime | None


@attrs.frozen(kw_only=True)
class Appeal:
    """The agency's appeal of a decision.

    Attributes:
        reason: Why the decision should be reviewed again.
        appealed_at: When.
    """

    reason: str
    appealed_at: datetime


@attrs.frozen(kw_only=True)
class StatusChange:
    """One entry of a report's status history.

    Attributes:
        status: The status entered.
        at: When.
        note: Context, if any.
    """

    status: ReportStatus
    at: datetime
    note: str | None


@attrs.frozen(kw_only=True)
class ReportItem:
    """One reported item, as the platform holds it.

    Attributes:
        id: ``itm_...``
        url: The content's URL.
        platform: The service it lives on.
        content_type: What kind of content it is.
        account: The account that posted it, if given.
        observed_at: When the agency saw it, if given.
        decision: The platform's decision, once made.
    """

    id: str
    url: str
    platform: Platform
    content_type: ContentType
    account: str | None
    observed_at: datetime | None
    decision: ItemDecision | None


@attrs.frozen(kw_only=True)
class Report:
    """A report, as the platform holds it.

    It carries every :class:`ReportCreate` field (with :class:`ReportItem` items) plus the
    platform's state. Unknown statuses or categories from a newer server are kept as ``UNKNOWN``
    pseudo-members (see :class:`~crs_sdk.OpenEnum`).

    Attributes:
        id: ``rpt_...``
        client_reference: The agency's own case number.
        status: Where the report is in its lifecycle.
        items: The reported content, each with its own decision.
        category: Why the content is reported.
        violation_basis: Illegal, against policy, or both.
        legal_basis: The law broken.
        explanation: The agency's explanation.
        requested_actions: What the agency asked for.
        territorial_scope: Where the request applies.
        reporting_officer: Who is responsible.
        good_faith_declaration: Whether the declaration has been made.
        priority: How urgent the report is.
        escalation_reason: Why it is urgent, if it is.
        info_request: The open request for information, if any.
        decision: The platform's decision, once made.
        appeal: The agency's appeal, if any.
        status_history: Every status change, oldest first.
        evidence_count: How many pieces of evidence are attached.
        created_at: When the report was created.
        updated_at: When it last changed.
        submitted_at: When it was submitted, if it was.
    """

    id: str
    client_reference: str
    status: ReportStatus
    items: tuple[ReportItem, ...]
    category: Category
    violation_basis: ViolationBasis
    legal_basis: tuple[LegalBasis, ...]
    explanation: str
    requested_actions: tuple[RequestedAction, ...]
    territorial_scope: tuple[str, ...]
    reporting_officer: Officer
    good_faith_declaration: bool
    priority: Priority
    escalation_reason: str | None
    info_request: InfoRequest | None
    decision: ReportDecision | None
    appeal: Appeal | None
    status_history: tuple[StatusChange, ...]
    evidence_count: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
