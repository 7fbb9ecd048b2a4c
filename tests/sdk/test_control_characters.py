"""Request models refuse the control characters the contract refuses, before anything is sent.

Single-line fields refuse every C0 control (TAB, LF and CR included), DEL and every C1 control;
multi-line text allows TAB, LF and CR. Both refuse an unpaired surrogate (no UTF-8 form, so no
request could carry it). The message names the character and its index, not the value.
"""

import re
from typing import Any

import attrs
import pytest

import crs_sdk
from crs_sdk import (
    ALL_EVENT_TYPES,
    AppealRequest,
    ContentType,
    EvidenceFile,
    LegalBasis,
    Officer,
    Priority,
    ReportItemCreate,
    ResponseCreate,
    WebhookEndpointCreate,
    WithdrawRequest,
)
from crs_sdk.testing import make_report_create as report

SINGLE_LINE = "must be a single line without control characters"
MULTI_LINE = "must not contain control characters other than TAB, LF and CR"
CONTROL_CHARACTERS = [chr(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
URL = "https://facebook.com/p/1"


def item(**overrides: Any) -> ReportItemCreate:
    return attrs.evolve(report().items[0], **{"url": URL, **overrides})


def legal_basis(**overrides: Any) -> LegalBasis:
    return attrs.evolve(report().legal_basis[0], **overrides)


def endpoint(**overrides: Any) -> WebhookEndpointCreate:
    fields: dict[str, Any] = {"url": "https://hooks.example/crs", "event_types": ALL_EVENT_TYPES}
    return WebhookEndpointCreate(**(fields | overrides))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: report(explanation="Seen at 21:40\x00"),
            f"ReportCreate.explanation {MULTI_LINE}; found U+0000 at index 13",
        ),
        (
            lambda: report(client_reference="CASE-1\n"),
            f"ReportCreate.client_reference {SINGLE_LINE}; found U+000A at index 6",
        ),
        (
            lambda: report(priority=Priority.HIGH, escalation_reason="Ongoing\x9f"),
            f"ReportCreate.escalation_reason {MULTI_LINE}; found U+009F at index 7",
        ),
        (
            lambda: report(territorial_scope=["GB", "G\x00"]),
            f"ReportCreate.territorial_scope {SINGLE_LINE}; found U+0000 at index 1 of item 1",
        ),
        (
            lambda: item(url=URL + "\x00"),
            f"ReportItemCreate.url {SINGLE_LINE}; found U+0000 at index 24",
        ),
        (
            lambda: item(account="a\tb"),
            f"ReportItemCreate.account {SINGLE_LINE}; found U+0009 at index 1",
        ),
        (
            lambda: legal_basis(instrument="Act\r"),
            f"LegalBasis.instrument {SINGLE_LINE}; found U+000D at index 3",
        ),
        (
            lambda: legal_basis(explanation="\x7f"),
            f"LegalBasis.explanation {MULTI_LINE}; found U+007F at index 0",
        ),
        (
            lambda: Officer(name="A. Officer", email="a\x00@ministry.gov"),
            f"Officer.email {SINGLE_LINE}; found U+0000 at index 1",
        ),
        (
            lambda: WithdrawRequest(reason="\x1b[2J"),
            f"WithdrawRequest.reason {MULTI_LINE}; found U+001B at index 0",
        ),
        (
            lambda: ResponseCreate(message="See\x00"),
            f"ResponseCreate.message {MULTI_LINE}; found U+0000 at index 3",
        ),
        (
            lambda: ResponseCreate(message="ok", evidence_ids=["evd_1", "evd_2\n"]),
            f"ResponseCreate.evidence_ids {SINGLE_LINE}; found U+000A at index 5 of item 1",
        ),
        (
            lambda: AppealRequest(reason="Again\x85"),
            f"AppealRequest.reason {MULTI_LINE}; found U+0085 at index 5",
        ),
        (
            lambda: endpoint(url="https://hooks.example/\x00"),
            f"WebhookEndpointCreate.url {SINGLE_LINE}; found U+0000 at index 22",
        ),
        (
            lambda: endpoint(description="Prod\x00"),
            f"WebhookEndpointCreate.description {MULTI_LINE}; found U+0000 at index 4",
        ),
    ],
)
def test_control_characters_are_refused_naming_character_and_index(
    build: Any, message: str
) -> None:
    with pytest.raises(crs_sdk.InvalidFieldError) as caught:
        build()
    assert str(caught.value) == message


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_character_is_refused_but_line_breaks_in_multi_line_text(
    character: str,
) -> None:
    with pytest.raises(crs_sdk.InvalidFieldError, match=rf"U\+{ord(character):04X} at index 4$"):
        report(client_reference=f"CASE{character}1")
    text = f"Line{character}2"
    if character in "\t\n\r":
        assert report(explanation=text).explanation == text
    else:
        with pytest.raises(crs_sdk.InvalidFieldError, match=MULTI_LINE):
            report(explanation=text)


def test_multi_line_text_keeps_tab_lf_and_cr() -> None:
    text = "First line.\r\n\tSecond line,\tindented.\nThird line.\n"
    built = report(
        explanation=text,
        legal_basis=[legal_basis(explanation=text)],
        priority=Priority.URGENT,
        escalation_reason=text,
    )
    assert built.explanation == built.escalation_reason == built.legal_basis[0].explanation == text
    assert WithdrawRequest(reason=text).reason == text
    assert ResponseCreate(message=text).message == text
    assert AppealRequest(reason=text).reason == text
    assert endpoint(description=text).description == text


@pytest.mark.parametrize(
    "text", ["Zoë Ødegård", "a\u00a0b", "a\u2028b", "a\u200bb", "🙂", "\u2115"]
)
def test_other_characters_are_not_control_characters(text: str) -> None:
    assert report(client_reference=text, explanation=text).client_reference == text


def test_the_message_never_names_the_value() -> None:
    with pytest.raises(crs_sdk.InvalidFieldError) as caught:
        report(explanation="Victim J. Doe, 12\x00")
    assert "Doe" not in str(caught.value)
    assert caught.value.model == "ReportCreate"
    assert caught.value.field == "explanation"


NO_UTF8 = "must not contain an unpaired surrogate (it has no UTF-8 form)"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: report(explanation="a\ud800"), "ReportCreate.explanation"),
        (lambda: report(client_reference="\udfff"), "ReportCreate.client_reference"),
        (lambda: report(territorial_scope=["GB", "\ud800"]), "ReportCreate.territorial_scope"),
        (lambda: item(account="\ud800"), "ReportItemCreate.account"),
        (lambda: legal_basis(instrument="\ud800"), "LegalBasis.instrument"),
        (lambda: Officer(name="\ud800", email="a@b.c"), "Officer.name"),
        (lambda: WithdrawRequest(reason="\ud800"), "WithdrawRequest.reason"),
        (lambda: ResponseCreate(message="\ud800"), "ResponseCreate.message"),
        (lambda: AppealRequest(reason="\ud800"), "AppealRequest.reason"),
        (lambda: endpoint(description="\ud800"), "WebhookEndpointCreate.description"),
        (lambda: EvidenceFile(b"%PDF", filename="\ud800.pdf"), "EvidenceFile.filename"),
        # Enum fields given as strings (values the SDK does not know yet) or pseudo-members.
        (lambda: item(platform="facebook\ud800"), "ReportItemCreate.platform"),
        (lambda: item(content_type=ContentType("\udfff")), "ReportItemCreate.content_type"),
        (lambda: report(category="csam\ud800"), "ReportCreate.category"),
        (lambda: report(violation_basis="\ud800"), "ReportCreate.violation_basis"),
        (lambda: report(requested_actions=["remove", "\ud800"]), "ReportCreate.requested_actions"),
        (
            lambda: report(priority=Priority("high\ud800"), escalation_reason="Ongoing"),
            "ReportCreate.priority",
        ),
        (
            lambda: endpoint(event_types=["report.decided\ud800"]),
            "WebhookEndpointCreate.event_types",
        ),
        (
            lambda: EvidenceFile(b"%PDF", filename="a.pdf", relevance="\ud800"),
            "EvidenceFile.relevance",
        ),
    ],
)
def test_an_unpaired_surrogate_is_refused_as_it_has_no_utf8_form(build: Any, message: str) -> None:
    pattern = rf"^{message} {re.escape(NO_UTF8)}; found U\+D[89A-F][0-9A-F]{{2}} at index \d+"
    with pytest.raises(crs_sdk.InvalidFieldError, match=pattern) as caught:
        build()
    assert "\ud800" not in str(caught.value)
    assert not isinstance(caught.value, UnicodeError)


def test_a_surrogate_is_named_with_its_index() -> None:
    with pytest.raises(crs_sdk.InvalidFieldError) as caught:
        report(explanation="Seen at 21:40\ud800")
    assert str(caught.value) == f"ReportCreate.explanation {NO_UTF8}; found U+D800 at index 13"
    with pytest.raises(crs_sdk.InvalidFieldError) as caught:
        ResponseCreate(message="ok", evidence_ids=["evd_1", "evd_\udc002"])
    assert str(caught.value) == (
        f"ResponseCreate.evidence_ids {NO_UTF8}; found U+DC00 at index 4 of item 1"
    )


def test_enum_fields_take_unknown_values_but_not_control_characters() -> None:
    assert item(platform="bluesky").platform == "bluesky"  # a value the SDK does not know yet
    assert report(requested_actions=["remove", "demonetise"]).requested_actions[1] == "demonetise"
    with pytest.raises(crs_sdk.InvalidFieldError) as caught:
        item(platform="facebook\n")
    assert str(caught.value) == f"ReportItemCreate.platform {SINGLE_LINE}; found U+000A at index 8"
