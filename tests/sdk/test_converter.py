"""The converter: forward compatibility, strictness, error paths, timestamps, omission, events."""

import copy
import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crs_sdk import (
    Category,
    ContentType,
    DecodeError,
    Event,
    EventType,
    InfoRequestedEvent,
    InvalidFieldError,
    ItemDecision,
    LegalBasis,
    Officer,
    Page,
    Platform,
    Problem,
    ProblemCode,
    Report,
    ReportCreate,
    ReportDecidedEvent,
    ReportEvent,
    ReportItemCreate,
    ReportStatus,
    RequestedAction,
    SubmitRequest,
    TokenResponse,
    UnknownEvent,
    ViolationBasis,
    structure,
    structure_event,
    unstructure,
)
from crs_sdk._converter import format_datetime, from_platform, parse_datetime
from crs_sdk._models._fields import as_sent

REPORT: dict[str, Any] = {
    "id": "rpt_01",
    "client_reference": "CASE-2026-0042",
    "status": "in_review",
    "items": [
        {
            "id": "itm_01",
            "url": "https://www.facebook.com/groups/123/posts/456",
            "platform": "facebook",
            "content_type": "post",
            "account": None,
            "observed_at": "2026-11-22T18:30:00Z",
            "decision": None,
        }
    ],
    "category": "grooming",
    "violation_basis": "both",
    "legal_basis": [
        {
            "jurisdiction": "GB",
            "instrument": "Online Safety Act 2023",
            "provision": "s. 10",
            "explanation": None,
        }
    ],
    "explanation": "An adult asks children for private photos.",
    "requested_actions": ["remove", "preserve"],
    "territorial_scope": ["GB"],
    "reporting_officer": {"name": "A. Officer", "email": "a.officer@ministry.gov"},
    "good_faith_declaration": True,
    "priority": "high",
    "escalation_reason": "Ongoing contact with a minor.",
    "info_request": None,
    "decision": None,
    "appeal": None,
    "status_history": [
        {"status": "draft", "at": "2026-11-23T10:00:00Z", "note": None},
        {"status": "in_review", "at": "2026-11-23T10:15:00.5Z", "note": "queued"},
    ],
    "evidence_count": 2,
    "created_at": "2026-11-23T10:00:00Z",
    "updated_at": "2026-11-23T10:15:00.5Z",
    "submitted_at": "2026-11-23T10:05:00Z",
}


def report_json(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(REPORT)
    data.update(changes)
    return data


# --- forward compatibility --------------------------------------------------------------------


def test_report_decodes() -> None:
    report = structure(REPORT, Report)
    assert report.status is ReportStatus.IN_REVIEW
    assert report.items[0].platform is Platform.FACEBOOK
    assert report.requested_actions == (RequestedAction.REMOVE, RequestedAction.PRESERVE)
    assert report.updated_at == datetime(2026, 11, 23, 10, 15, 0, 500_000, tzinfo=timezone.utc)


def test_unknown_fields_are_ignored() -> None:
    data = report_json(risk_score=0.93, reviewer={"team": "EU"})
    data["items"][0]["thumbnail"] = "https://cdn.example/t.jpg"
    assert structure(data, Report) == structure(REPORT, Report)


def test_unknown_enum_values_are_kept_and_re_encoded() -> None:
    data = report_json(status="escalated_to_regulator", category="new_category")
    report = structure(data, Report)
    assert report.status == "escalated_to_regulator"
    assert not report.status.is_known
    assert not report.status.is_terminal
    assert isinstance(report.category, Category)
    assert report.category.value == "new_category"
    assert report.items == structure(REPORT, Report).items
    assert report.explanation == REPORT["explanation"]
    encoded = unstructure(report)
    assert encoded["status"] == "escalated_to_regulator"
    assert encoded["category"] == "new_category"
    assert structure(json.loads(json.dumps(encoded)), Report) == report


def test_unstructure_gives_plain_json_types() -> None:
    encoded = unstructure(structure(report_json(status="escalated"), Report))
    assert type(encoded["status"]) is str
    assert type(encoded["category"]) is str
    assert type(encoded["items"]) is list
    assert type(encoded["requested_actions"][0]) is str
    assert encoded == json.loads(json.dumps(encoded))


# --- decoding errors --------------------------------------------------------------------------


@pytest.mark.parametrize("bad_url", [42, None, ["https://x"], {"href": "https://x"}, True])
def test_wrong_type_names_the_path(bad_url: Any) -> None:
    data = report_json()
    data["items"][0]["url"] = bad_url
    with pytest.raises(DecodeError, match=r"\$\.items\[0\]\.url") as info:
        structure(data, Report)
    assert info.value.path == "$.items[0].url"
    assert info.value.errors == ("expected a string @ $.items[0].url",)


def test_missing_field_names_the_path() -> None:
    data = report_json()
    del data["items"][0]["url"]
    with pytest.raises(DecodeError) as info:
        structure(data, Report)
    assert str(info.value) == "cannot decode Report: required field missing @ $.items[0].url"
    assert info.value.path == "$.items[0].url"


def test_every_error_is_listed() -> None:
    data = report_json(evidence_count="2", created_at="yesterday", status=7)
    del data["id"]
    with pytest.raises(DecodeError) as info:
        structure(data, Report)
    paths = {error.rpartition(" @ ")[2] for error in info.value.errors}
    assert paths == {"$.id", "$.evidence_count", "$.created_at", "$.status"}


def test_error_messages_never_repeat_the_value() -> None:
    data = {"access_token": 12345, "token_type": "Bearer", "expires_in": "SECRET-ISH"}
    with pytest.raises(DecodeError) as info:
        structure(data, TokenResponse)
    assert "12345" not in str(info.value)
    assert "SECRET-ISH" not in str(info.value)


@pytest.mark.parametrize("data", [[], "report", 3, None])
def test_not_an_object(data: Any) -> None:
    with pytest.raises(DecodeError, match=r"expected an object @ \$$"):
        structure(data, Report)


def test_nested_page_paths() -> None:
    data = {"data": [REPORT, report_json(items=[{"url": "https://x"}])], "next_cursor": None}
    with pytest.raises(DecodeError) as info:
        structure(data, Page[Report])
    assert info.value.path.startswith("$.data[1].items[0].")


def test_the_platforms_answers_are_decoded_without_the_request_checks() -> None:
    data = report_json(
        legal_basis=[{"jurisdiction": "X" * 9, "instrument": "", "provision": "\n", "notes": None}]
    )
    with pytest.raises(DecodeError, match=r"LegalBasis\.jurisdiction must have length"):
        structure(data, Report)
    report = from_platform(data, Report)
    assert report.legal_basis[0].jurisdiction == "X" * 9
    with pytest.raises(DecodeError, match=r"required field missing @ \$\.status"):
        from_platform({k: v for k, v in data.items() if k != "status"}, Report)  # shape still
    with pytest.raises(DecodeError, match=r"@ \$\.evidence_count"):
        from_platform(data | {"evidence_count": "2"}, Report)  # and JSON types


def test_the_checks_are_off_only_where_an_answer_is_decoded() -> None:
    """`as_sent` is per thread (and task): a model built meanwhile elsewhere is still checked."""
    inside, built = threading.Event(), threading.Event()
    refused: list[BaseException] = []

    def decode() -> None:
        with as_sent():
            inside.set()
            built.wait(30)

    def build() -> None:
        inside.wait(30)
        try:
            LegalBasis(jurisdiction="X" * 9, instrument="Act", provision="s.1")
        except InvalidFieldError as exc:
            refused.append(exc)
        built.set()

    threads = [threading.Thread(target=decode), threading.Thread(target=build)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(refused) == 1
    with pytest.raises(InvalidFieldError):
        LegalBasis(jurisdiction="X" * 9, instrument="Act", provision="s.1")  # and after


def test_validator_failures_are_decode_errors() -> None:
    data = unstructure(minimal_report_create())
    with pytest.raises(DecodeError, match=r"ReportCreate.items must have length 1\.\.100"):
        structure(data | {"items": []}, ReportCreate)
    with pytest.raises(DecodeError, match=r"requested_actions must have length 1\.\.4"):
        structure(data | {"requested_actions": []}, ReportCreate)


@pytest.mark.parametrize(
    ("cls", "data", "path"),
    [
        (Problem, {"status": True}, "$.status"),
        (Problem, {"status": 422.5}, "$.status"),
        (Problem, {"status": float("inf")}, "$.status"),
        (Problem, {"status": float("nan")}, "$.status"),
        (Problem, {"retry_after": "5"}, "$.retry_after"),
        (Problem, {"retry_after": False}, "$.retry_after"),
        (Problem, {"code": 1}, "$.code"),
        (SubmitRequest, {"good_faith_declaration": "true"}, "$.good_faith_declaration"),
        (SubmitRequest, {"good_faith_declaration": 1}, "$.good_faith_declaration"),
    ],
)
def test_json_types_are_strict(cls: type, data: dict[str, Any], path: str) -> None:
    with pytest.raises(DecodeError) as info:
        structure(data, cls)
    assert info.value.path == path


@pytest.mark.parametrize(
    ("cls", "data", "path"),
    [
        (Report, report_json(territorial_scope="FR"), "$.territorial_scope"),  # not ("F", "R")
        (Report, report_json(requested_actions="remove"), "$.requested_actions"),
        (Report, report_json(items={"0": REPORT["items"][0]}), "$.items"),  # not its keys
        (Page[Report], {"data": "", "next_cursor": None}, "$.data"),  # not an empty page
        (Page[str], {"data": {"a": 1, "b": 2}, "next_cursor": None}, "$.data"),
        (Problem, {"errors": {"pointer": "/x", "detail": "bad"}}, "$.errors"),
        (Problem, {"errors": None}, "$.errors"),
    ],
)
def test_only_an_array_is_an_array(cls: Any, data: dict[str, Any], path: str) -> None:
    for decode in (structure, from_platform):
        with pytest.raises(DecodeError) as info:
            decode(data, cls)
        assert info.value.path == path
        assert info.value.errors == (f"expected an array @ {path}",)


def test_arrays_decode_to_their_declared_container() -> None:
    page = structure({"data": [REPORT], "next_cursor": None}, Page[Report])
    assert type(page.data) is list
    report = structure(report_json(territorial_scope=["FR", "BE"]), Report)
    assert report.territorial_scope == ("FR", "BE")
    problem = structure({"errors": ({"pointer": "/x", "detail": "bad"},)}, Problem)  # a tuple too
    assert type(problem.errors) is tuple
    with pytest.raises(DecodeError) as info:
        structure(report_json(territorial_scope=["FR", 7, "BE", None]), Report)
    assert info.value.errors == (
        "expected a string @ $.territorial_scope[1]",
        "expected a string @ $.territorial_scope[3]",
    )


def test_numbers_with_a_zero_fraction_are_integers() -> None:
    # JSON Schema 2020-12: "integer" matches any number with a zero fractional part.
    token = from_platform(
        {"access_token": "t", "token_type": "Bearer", "expires_in": 3600.0}, TokenResponse
    )
    assert token.expires_in == 3600
    assert type(token.expires_in) is int
    report = structure(report_json(evidence_count=2.0), Report)
    assert type(report.evidence_count) is int
    assert structure({"status": 422.0}, Problem).status == 422


def test_integers_are_accepted_as_numbers() -> None:
    problem = structure({"retry_after": 5}, Problem)
    assert problem.retry_after == 5.0
    assert isinstance(problem.retry_after, float)


# --- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:15:00Z", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
        ("2026-11-23T10:15:00z", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
        ("2026-11-23T10:15:00+00:00", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
        ("2026-11-23T10:15:00-00:00", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
        ("2026-11-23T12:15:00+02:00", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
        ("2026-11-23T05:45:00-04:30", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
        ("2026-11-23t10:15:00.5Z", datetime(2026, 11, 23, 10, 15, 0, 500_000, timezone.utc)),
        (
            "2026-11-23T10:15:00.123456789Z",
            datetime(2026, 11, 23, 10, 15, 0, 123_456, timezone.utc),
        ),
        ("2026-11-23 10:15:00Z", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
    ],
)
def test_timestamps_decode_to_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is timezone.utc


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T10:15:00",  # no offset: names no instant
        "2026-11-23",
        "2026-13-01T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T10:15:60Z",
        "2026-11-23T10:15:00+24:00",
        "2026-11-23T10:15:00+0200",
        "2026-11-23T10:15:00.Z",
        "0001-01-01T00:00:00+01:00",
        " 2026-11-23T10:15:00Z",
        "",
    ],
)
def test_invalid_timestamps(text: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_datetime(text)


def test_timestamp_error_in_a_model_names_the_field() -> None:
    with pytest.raises(DecodeError) as info:
        structure(report_json(submitted_at="2026-11-23T10:15:00"), Report)
    assert info.value.errors == (
        "expected an RFC 3339 timestamp like 2026-11-23T10:15:00Z @ $.submitted_at",
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc), "2026-11-23T10:15:00Z"),
        (datetime(2026, 11, 23, 10, 15, 0, 1, tzinfo=timezone.utc), "2026-11-23T10:15:00.000001Z"),
        (
            datetime(2026, 11, 23, 12, 15, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-23T10:15:00Z",
        ),
        (datetime(99, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "0099-01-02T03:04:05Z"),
    ],
)
def test_timestamps_encode_as_utc_with_z(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


def test_naive_datetimes_are_not_encoded() -> None:
    with pytest.raises(ValueError, match="time zone"):
        format_datetime(datetime(2026, 1, 1))  # noqa: DTZ001  # the point of the test


@given(st.datetimes(timezones=st.just(timezone.utc)))
def test_timestamp_round_trip(value: datetime) -> None:
    text = format_datetime(value)
    assert text.endswith("Z")
    assert parse_datetime(text) == value


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),  # noqa: DTZ001  # hypothesis bounds are naive
        max_value=datetime(9998, 12, 31),  # noqa: DTZ001
        timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
    )
)
def test_any_offset_decodes_to_the_same_instant(value: datetime) -> None:
    offset = value.utcoffset()
    assert offset is not None
    if offset.seconds % 60 or offset.microseconds:
        return  # RFC 3339 offsets have minute precision
    parsed = parse_datetime(value.isoformat())
    assert parsed == value
    assert parsed.tzinfo is timezone.utc


# --- requests ---------------------------------------------------------------------------------


def minimal_report_create(**overrides: Any) -> ReportCreate:
    fields: dict[str, Any] = {
        "client_reference": "CASE-1",
        "items": [
            ReportItemCreate(
                url="https://facebook.com/p/1",
                platform=Platform.FACEBOOK,
                content_type=ContentType.POST,
            )
        ],
        "category": Category.CSAM,
        "violation_basis": ViolationBasis.POLICY_VIOLATION,
        "explanation": "x",
        "requested_actions": [RequestedAction.REMOVE],
        "reporting_officer": Officer(name="A", email="a@b.gov"),
    }
    return ReportCreate(**(fields | overrides))


def test_unset_optional_request_fields_are_omitted() -> None:
    assert unstructure(minimal_report_create()) == {
        "client_reference": "CASE-1",
        "items": [
            {"url": "https://facebook.com/p/1", "platform": "facebook", "content_type": "post"}
        ],
        "category": "csam",
        "violation_basis": "policy_violation",
        "explanation": "x",
        "requested_actions": ["remove"],
        "reporting_officer": {"name": "A", "email": "a@b.gov"},
    }
    assert unstructure(SubmitRequest()) == {}


def test_set_request_fields_are_sent() -> None:
    item = ReportItemCreate(
        url="https://instagram.com/p/1",
        platform=Platform.INSTAGRAM,
        content_type=ContentType.REEL,
        account="someone",
        observed_at=datetime(2026, 11, 23, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    encoded = unstructure(minimal_report_create(items=[item], priority="urgent"))
    assert encoded["items"][0]["account"] == "someone"
    assert encoded["items"][0]["observed_at"] == "2026-11-23T10:00:00Z"
    assert encoded["priority"] == "urgent"
    assert unstructure(SubmitRequest(good_faith_declaration=False)) == {
        "good_faith_declaration": False
    }


def test_responses_carry_every_field_including_null() -> None:
    encoded = unstructure(structure(REPORT, Report))
    assert set(encoded) == set(REPORT)
    assert encoded["info_request"] is None
    assert encoded["items"][0]["account"] is None


def test_problem_members_that_do_not_apply_are_omitted() -> None:
    # detail and instance are nullable and always present; the kind-specific members are absent.
    problem = Problem(
        type="urn:crs:problem:not_found",
        title="Not found",
        status=404,
        code=ProblemCode.NOT_FOUND,
        request_id="req_1",
    )
    assert unstructure(problem) == {
        "type": "urn:crs:problem:not_found",
        "title": "Not found",
        "status": 404,
        "detail": None,
        "instance": None,
        "code": "not_found",
        "request_id": "req_1",
    }


# --- events -----------------------------------------------------------------------------------

EVENT_DATA: dict[str, Any] = {
    "report_id": "rpt_01",
    "client_reference": "CASE-1",
    "status": "submitted",
    "previous_status": "draft",
}


def event_json(event_type: str, **data: Any) -> dict[str, Any]:
    return {
        "id": "evt_000000000001",
        "type": event_type,
        "timestamp": "2026-11-23T10:15:00Z",
        "data": EVENT_DATA | data,
    }


@pytest.mark.parametrize(
    "event_type",
    [
        "report.created",
        "report.submitted",
        "report.acknowledged",
        "report.in_review",
        "report.responded",
        "report.appealed",
        "report.withdrawn",
        "report.expired",
    ],
)
def test_status_events(event_type: str) -> None:
    event = structure_event(event_json(event_type))
    assert isinstance(event, ReportEvent)
    assert event.type == event_type
    assert event.data.previous_status is ReportStatus.DRAFT


def test_info_requested_event() -> None:
    info = {"id": "inf_1", "question": "Which school?", "requested_at": "2026-11-23T10:15:00Z"}
    event = structure_event(
        event_json("report.info_requested", info_request=info | {"due_at": None})
    )
    assert isinstance(event, InfoRequestedEvent)
    assert event.data.info_request.question == "Which school?"


def test_decided_event() -> None:
    decision = {"outcome": "actioned", "summary": "Removed.", "decided_at": "2026-11-24T10:00:00Z"}
    item_decision = {
        "outcome": "actioned",
        "actions_taken": ["remove"],
        "reason": None,
        "decided_at": "2026-11-24T10:00:00Z",
    }
    data = event_json(
        "report.decided",
        status="actioned",
        previous_status="in_review",
        decision=decision,
        items=[{"item_id": "itm_1", "url": "https://x.example/1", "decision": item_decision}],
    )
    event = structure_event(data)
    assert isinstance(event, ReportDecidedEvent)
    assert event.data.decision.outcome.is_decided
    assert isinstance(event.data.items[0].decision, ItemDecision)


def test_unknown_event_type_is_not_an_error() -> None:
    data = event_json("report.escalated")
    data["data"] = {"report_id": "rpt_01", "whatever": [1, 2, {"x": None}]}
    event = structure_event(data)
    assert isinstance(event, UnknownEvent)
    assert event.type == "report.escalated"
    assert not event.type.is_known
    assert event.data == data["data"]
    assert unstructure(event) == data


def test_known_event_with_bad_data_is_an_error() -> None:
    data = event_json("report.submitted")
    del data["data"]["report_id"]
    with pytest.raises(DecodeError) as info:
        structure_event(data)
    assert info.value.path == "$.data.report_id"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], "$"),
        ({"id": "evt_1", "timestamp": "2026-11-23T10:15:00Z", "data": {}}, "$.type"),
        ({"id": "evt_1", "type": 3, "timestamp": "2026-11-23T10:15:00Z", "data": {}}, "$.type"),
    ],
)
def test_not_an_event(data: Any, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        structure_event(data)
    assert info.value.path == path


def test_page_of_events_dispatches_each_event() -> None:
    data = {
        "data": [event_json("report.submitted"), event_json("report.new_kind")],
        "next_cursor": "evt_000000000002",
    }
    page = structure(data, Page[Event])
    assert [type(event) for event in page.data] == [ReportEvent, UnknownEvent]
    assert page.data[1].type == EventType("report.new_kind")


@pytest.mark.parametrize("data", [[], ["a", 1], "text", None, 5, {"any": "object"}], ids=repr)
def test_an_unknown_event_type_takes_any_data(data: Any) -> None:
    """Before the fix, a new event type whose ``data`` is not an object was a DecodeError: a
    webhook refused (400) on every retry, and a page of the event log that could not be read."""
    payload = {**event_json("report.escalated"), "data": data}
    event = structure_event(payload)
    assert isinstance(event, UnknownEvent)
    assert event.data == data
    assert unstructure(event) == payload
    assert hash(event) == hash(structure_event(copy.deepcopy(payload)))


@pytest.mark.parametrize("data", [[], "text", None])
def test_a_known_event_type_still_needs_its_data(data: Any) -> None:
    with pytest.raises(DecodeError, match=r"@ \$\.data"):
        structure_event({**event_json("report.submitted"), "data": data})
