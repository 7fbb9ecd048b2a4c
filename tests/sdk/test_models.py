"""The models: enums, construction rules, secrets, and a JSON round trip for every model."""

import copy
import enum
import json
import pickle
import re
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crs_sdk
import crs_sdk.testing
from crs_sdk import (
    Appeal,
    AppealRequest,
    Category,
    ContentType,
    DecidedItem,
    DeliveryStatus,
    EventType,
    Evidence,
    EvidenceReceivedEvent,
    EvidenceReceivedEventData,
    EvidenceRelevance,
    FieldError,
    Health,
    InfoRequest,
    InfoRequestedEvent,
    InfoRequestedEventData,
    ItemDecision,
    ItemOutcome,
    LegalBasis,
    Officer,
    OpenEnum,
    Page,
    Platform,
    Priority,
    Problem,
    ProblemCode,
    Report,
    ReportCreate,
    ReportDecidedEvent,
    ReportDecidedEventData,
    ReportDecision,
    ReportEvent,
    ReportEventData,
    ReportItem,
    ReportItemCreate,
    ReportStatus,
    RequestedAction,
    ResponseCreate,
    RotateSecretRequest,
    StatusChange,
    SubmitRequest,
    TokenResponse,
    UnknownEvent,
    ViolationBasis,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointWithSecret,
    WithdrawRequest,
    structure,
    structure_event,
    unstructure,
)

ALL_ENUMS = [
    Category,
    ContentType,
    DeliveryStatus,
    EventType,
    EvidenceRelevance,
    ItemOutcome,
    Platform,
    Priority,
    ProblemCode,
    ReportStatus,
    RequestedAction,
    ViolationBasis,
]

# --- strategies -------------------------------------------------------------------------------

text = st.text(min_size=1, max_size=20)
# What request models accept: no control characters in a single line, TAB, LF and CR in prose.
printable = st.characters(exclude_categories=["Cc", "Cs"])
line = st.text(printable, min_size=1, max_size=20)
prose = st.text(printable | st.sampled_from("\t\n\r"), min_size=1, max_size=20)
ids = st.from_regex(r"[a-z]{3}_[0-9a-z]{1,12}", fullmatch=True)
urls = st.from_regex(r"https://[a-z]{1,10}\.com/[a-z0-9/]{0,20}", fullmatch=True)
times = st.datetimes(timezones=st.just(timezone.utc))


def repickle(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))  # noqa: S301  # bytes this test just produced


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def members(enum_cls: type[OpenEnum]) -> st.SearchStrategy[Any]:
    """Known members, and now and then a value from a newer server."""
    known = {m.value for m in enum_cls}
    unknown = st.from_regex(r"[a-z][a-z_.]{0,15}", fullmatch=True).filter(lambda v: v not in known)
    return st.sampled_from(list(enum_cls)) | unknown.map(enum_cls)


def tuples(strategy: st.SearchStrategy[Any], **kwargs: Any) -> st.SearchStrategy[Any]:
    return st.lists(strategy, **kwargs).map(tuple)


legal_bases = st.builds(
    LegalBasis,
    jurisdiction=st.from_regex(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", fullmatch=True),
    instrument=line,
    provision=line,
    explanation=optional(prose),
)
officers = st.builds(
    Officer, name=line, email=st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.gov", fullmatch=True)
)
item_creates = st.builds(
    ReportItemCreate,
    url=urls,
    platform=members(Platform),
    content_type=members(ContentType),
    account=optional(line),
    observed_at=optional(times),
)
countries = tuples(st.from_regex(r"[A-Z]{2}", fullmatch=True), max_size=3)
actions = tuples(members(RequestedAction), min_size=1, max_size=4, unique=True)
report_creates = st.builds(
    ReportCreate,
    client_reference=line,
    items=tuples(item_creates, min_size=1, max_size=3),
    category=members(Category),
    violation_basis=members(ViolationBasis),
    legal_basis=tuples(legal_bases, max_size=2),
    explanation=prose,
    requested_actions=actions,
    territorial_scope=countries,
    reporting_officer=officers,
    good_faith_declaration=st.booleans(),
    priority=members(Priority),
    escalation_reason=optional(prose),
)
item_decisions = st.builds(
    ItemDecision,
    outcome=members(ItemOutcome),
    actions_taken=tuples(members(RequestedAction), max_size=3),
    reason=optional(text),
    decided_at=times,
)
report_decisions = st.builds(
    ReportDecision, outcome=members(ReportStatus), summary=text, decided_at=times
)
info_requests = st.builds(
    InfoRequest, id=ids, question=text, requested_at=times, due_at=optional(times)
)
appeals = st.builds(Appeal, reason=text, appealed_at=times)
status_changes = st.builds(
    StatusChange, status=members(ReportStatus), at=times, note=optional(text)
)
report_items = st.builds(
    ReportItem,
    id=ids,
    url=urls,
    platform=members(Platform),
    content_type=members(ContentType),
    account=optional(text),
    observed_at=optional(times),
    decision=optional(item_decisions),
)
reports = st.builds(
    Report,
    id=ids,
    client_reference=text,
    status=members(ReportStatus),
    items=tuples(report_items, min_size=1, max_size=3),
    category=members(Category),
    violation_basis=members(ViolationBasis),
    legal_basis=tuples(legal_bases, max_size=2),
    explanation=text,
    requested_actions=actions,
    territorial_scope=countries,
    reporting_officer=officers,
    good_faith_declaration=st.booleans(),
    priority=members(Priority),
    escalation_reason=optional(text),
    info_request=optional(info_requests),
    decision=optional(report_decisions),
    appeal=optional(appeals),
    status_history=tuples(status_changes, max_size=3),
    evidence_count=st.integers(min_value=0),
    created_at=times,
    updated_at=times,
    submitted_at=optional(times),
)
evidence = st.builds(
    Evidence,
    id=ids,
    report_id=ids,
    filename=text,
    content_type=st.sampled_from(["image/png", "video/mp4", "application/pdf"]),
    size=st.integers(min_value=0),
    sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    relevance=members(EvidenceRelevance),
    captured_at=optional(times),
    received_at=times,
)
field_errors = st.builds(FieldError, pointer=st.from_regex(r"(/[a-z0-9_]{1,8}){0,3}"), detail=text)
problems = st.builds(
    Problem,
    type=st.builds(lambda c: f"urn:crs:problem:{c}", members(ProblemCode)),
    title=optional(text),
    status=optional(st.integers(min_value=400, max_value=599)),
    detail=optional(text),
    instance=optional(text),
    code=optional(members(ProblemCode)),
    request_id=optional(ids),
    errors=tuples(field_errors, max_size=3),
    current_status=optional(members(ReportStatus)),
    existing_report_id=optional(ids),
    existing_evidence_id=optional(ids),
    retry_after=optional(st.floats(min_value=0, max_value=1e6)),
    error=optional(text),
    error_description=optional(text),
)
tokens = st.builds(
    TokenResponse,
    access_token=text,
    token_type=st.just("Bearer"),
    expires_in=optional(st.integers(min_value=1)),
    scope=optional(text),
)
endpoint_fields: dict[str, st.SearchStrategy[Any]] = {
    "id": ids,
    "url": urls,
    "event_types": tuples(members(EventType), min_size=1, max_size=4),
    "description": optional(text),
    "enabled": st.booleans(),
    "disabled_reason": optional(text),
    "created_at": times,
    "secret_rotation_ends_at": optional(times),
}
deliveries = st.builds(
    WebhookDelivery,
    id=ids,
    endpoint_id=ids,
    event_id=ids,
    event_type=members(EventType),
    webhook_id=ids,
    attempt=st.integers(min_value=1, max_value=20),
    status=members(DeliveryStatus),
    status_code=optional(st.integers(min_value=100, max_value=599)),
    duration_ms=optional(st.integers(min_value=0)),
    error=optional(text),
    attempted_at=times,
    next_attempt_at=optional(times),
)
report_event_fields: dict[str, st.SearchStrategy[Any]] = {
    "report_id": ids,
    "client_reference": text,
    "status": members(ReportStatus),
    "previous_status": optional(members(ReportStatus)),
}
report_event_types = [t for t, cls in crs_sdk._models.EVENT_CLASSES.items() if cls is ReportEvent]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
report_events = st.builds(
    ReportEvent,
    id=ids,
    type=st.sampled_from(report_event_types),
    timestamp=times,
    data=st.builds(ReportEventData, **report_event_fields),
)
info_requested_events = st.builds(
    InfoRequestedEvent,
    id=ids,
    timestamp=times,
    data=st.builds(InfoRequestedEventData, info_request=info_requests, **report_event_fields),
)
decided_items = st.builds(DecidedItem, item_id=ids, url=urls, decision=item_decisions)
report_decided_events = st.builds(
    ReportDecidedEvent,
    id=ids,
    timestamp=times,
    data=st.builds(
        ReportDecidedEventData,
        decision=report_decisions,
        items=tuples(decided_items, max_size=3),
        **report_event_fields,
    ),
)
evidence_received_events = st.builds(
    EvidenceReceivedEvent,
    id=ids,
    timestamp=times,
    data=st.builds(EvidenceReceivedEventData, report_id=ids, evidence=evidence),
)
unknown_events = st.builds(
    UnknownEvent,
    id=ids,
    type=st.from_regex(r"future\.[a-z_]{1,10}", fullmatch=True).map(EventType),
    timestamp=times,
    data=st.dictionaries(text, json_values, max_size=4),
)
events = st.one_of(
    report_events,
    info_requested_events,
    report_decided_events,
    evidence_received_events,
    unknown_events,
)

MODELS: dict[Any, st.SearchStrategy[Any]] = {
    LegalBasis: legal_bases,
    Officer: officers,
    ReportItemCreate: item_creates,
    ReportCreate: report_creates,
    SubmitRequest: st.builds(SubmitRequest, good_faith_declaration=optional(st.booleans())),
    WithdrawRequest: st.builds(WithdrawRequest, reason=optional(prose)),
    ResponseCreate: st.builds(ResponseCreate, message=prose, evidence_ids=tuples(ids, max_size=3)),
    AppealRequest: st.builds(AppealRequest, reason=prose),
    WebhookEndpointCreate: st.builds(
        WebhookEndpointCreate,
        url=urls,
        event_types=tuples(members(EventType), min_size=1, max_size=4),
        description=optional(st.text(printable | st.sampled_from("\t\n\r"), max_size=20)),
    ),
    RotateSecretRequest: st.builds(
        RotateSecretRequest, grace_period_seconds=st.integers(min_value=0, max_value=604_800)
    ),
    ItemDecision: item_decisions,
    ReportDecision: report_decisions,
    InfoRequest: info_requests,
    Appeal: appeals,
    StatusChange: status_changes,
    ReportItem: report_items,
    Report: reports,
    Evidence: evidence,
    WebhookEndpoint: st.builds(WebhookEndpoint, **endpoint_fields),
    WebhookEndpointWithSecret: st.builds(
        WebhookEndpointWithSecret,
        secret=st.from_regex(r"whsec_[A-Za-z0-9+/]{8,44}={0,2}", fullmatch=True),
        **endpoint_fields,
    ),
    WebhookDelivery: deliveries,
    TokenResponse: tokens,
    Problem: problems,
    FieldError: field_errors,
    Health: st.builds(Health, status=st.just("ok")),
    Page[Report]: st.builds(
        Page[Report], data=st.lists(reports, max_size=2), next_cursor=optional(text)
    ),
    Page[Evidence]: st.builds(
        Page[Evidence], data=st.lists(evidence, max_size=2), next_cursor=optional(text)
    ),
    ReportEvent: report_events,
    InfoRequestedEvent: info_requested_events,
    ReportDecidedEvent: report_decided_events,
    EvidenceReceivedEvent: evidence_received_events,
    UnknownEvent: unknown_events,
    ReportEventData: st.builds(ReportEventData, **report_event_fields),
    DecidedItem: decided_items,
}


def through_json(obj: Any) -> Any:
    return json.loads(json.dumps(unstructure(obj)))


# --- round trips ------------------------------------------------------------------------------


def test_every_public_model_has_a_strategy() -> None:
    public_models = {
        obj
        for name in crs_sdk.__all__
        if attrs.has(obj := getattr(crs_sdk, name))
        and obj.__module__.startswith("crs_sdk._models.")
        # covered inside their events
        and obj not in {InfoRequestedEventData, ReportDecidedEventData, EvidenceReceivedEventData}
    }
    covered = {getattr(model, "__origin__", model) for model in MODELS}
    assert public_models <= covered


def model_name(model: Any) -> str:
    if isinstance(model, type):
        return model.__name__
    return f"Page[{model.__args__[0].__name__}]"


@pytest.mark.parametrize("model", list(MODELS), ids=model_name)
@given(data=st.data())
def test_json_round_trip(model: Any, data: st.DataObject) -> None:
    obj = data.draw(MODELS[model])
    assert structure(through_json(obj), model) == obj


@given(events)
def test_event_round_trip(event: Any) -> None:
    assert structure_event(through_json(event)) == event


@given(st.lists(events, max_size=3), optional(ids))
def test_event_page_round_trip(data: list[Any], cursor: str | None) -> None:
    page = Page(data=data, next_cursor=cursor)
    assert structure(through_json(page), Page[crs_sdk.Event]) == page


# --- enums ------------------------------------------------------------------------------------


@pytest.mark.parametrize("enum_cls", ALL_ENUMS)
def test_known_values(enum_cls: type[OpenEnum]) -> None:
    for member in enum_cls:
        assert enum_cls(member.value) is member
        assert member.is_known
        assert member == member.value
        assert hash(member) == hash(member.value)
        assert str(member) == member.value
        assert f"{member}" == member.value


@pytest.mark.parametrize("enum_cls", ALL_ENUMS)
def test_unknown_value_is_a_pseudo_member(enum_cls: type[OpenEnum]) -> None:
    pseudo = enum_cls("from_a_newer_server")
    assert isinstance(pseudo, enum_cls)
    assert isinstance(pseudo, str)
    assert pseudo.value == "from_a_newer_server"
    assert pseudo.name == "UNKNOWN"
    assert not pseudo.is_known
    assert pseudo == enum_cls("from_a_newer_server")
    assert pseudo == "from_a_newer_server"
    assert hash(pseudo) == hash("from_a_newer_server")
    assert str(pseudo) == "from_a_newer_server"
    assert f"[{pseudo:>20}]" == "[ from_a_newer_server]"
    assert pseudo not in list(enum_cls)
    assert "UNKNOWN" not in enum_cls.__members__


class Colour(OpenEnum):
    RED = "red"
    BLUE = "blue"


def test_pseudo_members_are_cached_up_to_a_bound() -> None:
    assert Colour("green") is Colour("green")
    flood = [Colour(f"shade_{i}") for i in range(1000)]
    assert flood[-1] == Colour("shade_999")
    assert flood[-1] is not Colour("shade_999")  # past the bound: equal, but not cached
    assert Colour("green") is Colour("green")


def test_pseudo_member_survives_pickle_and_copy() -> None:
    pseudo = ReportStatus("escalated_to_regulator")
    assert repickle(pseudo) == pseudo
    assert not repickle(pseudo).is_known
    assert copy.deepcopy(pseudo) == pseudo
    assert repickle(ReportStatus.DRAFT) is ReportStatus.DRAFT


@pytest.mark.parametrize("value", [42, None, 1.5, b"draft", ["draft"]])
def test_non_string_values_are_still_rejected(value: Any) -> None:
    with pytest.raises(ValueError, match="ReportStatus"):
        ReportStatus(value)


def test_open_enum_is_a_str_enum() -> None:
    assert issubclass(OpenEnum, str)
    assert issubclass(OpenEnum, enum.Enum)


@pytest.mark.parametrize(
    ("status", "decided", "terminal"),
    [
        (ReportStatus.DRAFT, False, False),
        (ReportStatus.SUBMITTED, False, False),
        (ReportStatus.ACKNOWLEDGED, False, False),
        (ReportStatus.IN_REVIEW, False, False),
        (ReportStatus.INFO_REQUESTED, False, False),
        (ReportStatus.ACTIONED, True, True),
        (ReportStatus.PARTIALLY_ACTIONED, True, True),
        (ReportStatus.NO_ACTION, True, True),
        (ReportStatus.REJECTED, True, True),
        (ReportStatus.CONTENT_UNAVAILABLE, True, True),
        (ReportStatus.WITHDRAWN, False, True),
        (ReportStatus.EXPIRED, False, True),
        (ReportStatus("escalated_to_regulator"), False, False),
    ],
)
def test_status_helpers(status: ReportStatus, decided: bool, terminal: bool) -> None:
    assert status.is_decided is decided
    assert status.is_terminal is terminal
    assert (status in crs_sdk.DECIDED_STATUSES) is decided
    assert (status in crs_sdk.TERMINAL_STATUSES) is terminal


def test_withdrawable_statuses_follow_the_contract() -> None:
    assert {s.value for s in crs_sdk.WITHDRAWABLE_STATUSES} == {
        "draft",
        "submitted",
        "acknowledged",
        "in_review",
        "info_requested",
    }


def test_all_event_types_is_the_wildcard() -> None:
    endpoint = WebhookEndpointCreate(
        url="https://x.example/hook", event_types=crs_sdk.ALL_EVENT_TYPES
    )
    assert unstructure(endpoint) == {"url": "https://x.example/hook", "event_types": ["*"]}


# --- construction -----------------------------------------------------------------------------


def make_item(**overrides: Any) -> ReportItemCreate:
    fields: dict[str, Any] = {
        "url": "https://facebook.com/p/1",
        "platform": Platform.FACEBOOK,
        "content_type": ContentType.POST,
    }
    return ReportItemCreate(**(fields | overrides))


def make_report_create(**overrides: Any) -> ReportCreate:
    fields: dict[str, Any] = {
        "client_reference": "CASE-1",
        "items": [make_item()],
        "category": Category.GROOMING,
        "violation_basis": ViolationBasis.POLICY_VIOLATION,
        "explanation": "Adult contacting minors.",
        "requested_actions": [RequestedAction.REMOVE],
        "reporting_officer": Officer(name="A. Officer", email="a.officer@ministry.gov"),
    }
    return ReportCreate(**(fields | overrides))


def test_request_defaults() -> None:
    report = make_report_create()
    assert report.legal_basis == ()
    assert report.territorial_scope == ()
    assert report.priority is Priority.STANDARD
    assert report.good_faith_declaration is False
    assert report.escalation_reason is None


def test_lists_become_tuples_and_models_are_frozen_and_hashable() -> None:
    report = make_report_create(territorial_scope=["GB", "IE"])
    assert report.items == (make_item(),)
    assert report.territorial_scope == ("GB", "IE")
    assert hash(report) == hash(make_report_create(territorial_scope=("GB", "IE")))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        report.explanation = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "event_type", ["report.decided", "evidence.received", "report.submitted", "report.escalated"]
)
def test_every_event_is_hashable_the_unknown_too(event_type: str) -> None:
    """Before the fix, an UnknownEvent (``data`` is a dict) raised TypeError in a set of seen
    events, the first time the platform sent a new event type."""
    event = crs_sdk.testing.make_event(event_type, level=[1, 2])
    same = crs_sdk.structure_event(crs_sdk.unstructure(event))
    assert same == event
    assert {event, same} == {event}
    if isinstance(event, crs_sdk.UnknownEvent):
        other = attrs.evolve(event, data={"level": [3]})
        assert other != event  # data still counts for equality


def test_a_bare_string_is_not_a_sequence() -> None:
    with pytest.raises(TypeError, match="single string"):
        make_report_create(territorial_scope="GB")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"items": []}, "ReportCreate.items must have length 1..100, not 0"),
        ({"items": [make_item()] * 101}, "ReportCreate.items must have length 1..100, not 101"),
        ({"client_reference": ""}, "ReportCreate.client_reference"),
        ({"explanation": ""}, "ReportCreate.explanation"),
        ({"requested_actions": []}, "ReportCreate.requested_actions"),
        (
            {"requested_actions": [RequestedAction.REMOVE, RequestedAction.REMOVE]},
            "must not contain duplicates",
        ),
        ({"escalation_reason": ""}, "ReportCreate.escalation_reason"),
    ],
)
def test_cheap_client_side_checks(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(crs_sdk.InvalidFieldError, match=re.escape(message)):
        make_report_create(**overrides)


def test_observed_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_item(observed_at=datetime(2026, 1, 1))  # noqa: DTZ001  # the point of the test


@pytest.mark.parametrize("seconds", [-1, 604_801])
def test_grace_period_bounds(seconds: int) -> None:
    with pytest.raises(ValueError, match="grace_period_seconds"):
        RotateSecretRequest(grace_period_seconds=seconds)


# --- secrets ----------------------------------------------------------------------------------


def test_access_token_is_not_in_repr() -> None:
    token = TokenResponse(access_token="tok-SECRET", token_type="Bearer", expires_in=3600)
    assert "tok-SECRET" not in repr(token)
    assert "tok-SECRET" not in str(token)
    assert unstructure(token)["access_token"] == "tok-SECRET"


def test_webhook_secret_is_not_in_repr() -> None:
    endpoint = WebhookEndpointWithSecret(
        id="whe_1",
        url="https://x.example/hook",
        event_types=(EventType.REPORT_DECIDED,),
        description=None,
        enabled=True,
        disabled_reason=None,
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        secret_rotation_ends_at=None,
        secret="whsec_c2VjcmV0",
    )
    assert "whsec_" not in repr(endpoint)
    assert isinstance(endpoint, WebhookEndpoint)
    assert unstructure(endpoint)["secret"] == "whsec_c2VjcmV0"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: crs_sdk.ReportItemCreate(url="", platform="facebook", content_type="post"),
            "ReportItemCreate.url must have length",
        ),
        (lambda: crs_sdk.AppealRequest(reason=""), "AppealRequest.reason must have length"),
        (
            lambda: crs_sdk.RotateSecretRequest(grace_period_seconds=-1),
            "RotateSecretRequest.grace_period_seconds must lie in 0..604800",
        ),
    ],
)
def test_invalid_fields_raise_a_typed_error_naming_model_and_field(build, message) -> None:
    with pytest.raises(crs_sdk.InvalidFieldError) as caught:
        build()
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, crs_sdk.CRSError)
    restored = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert str(restored) == str(caught.value)
    assert restored.field == caught.value.field
