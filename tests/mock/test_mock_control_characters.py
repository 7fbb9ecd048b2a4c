"""Control characters in request bodies: refused with a `422` at the field, nothing changes.

Single-line fields (identifiers, references, names, e-mail addresses, URLs, codes) refuse every C0
control, TAB, LF and CR included, DEL and every C1 control; multi-line text (explanations, reasons,
messages, descriptions, questions, summaries) allows TAB, LF and CR. A final LF is refused too
(Python's ``$`` would let it through a pattern; ECMA-262's, the contract's, does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from mock.mock_support import assert_problem, item, report_body, state

if TYPE_CHECKING:
    from collections.abc import Awaitable

    import httpx

    from crs_mock import MockPlatform
    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio

LEGAL_BASIS = {"jurisdiction": "GB", "instrument": "Online Safety Act 2023", "provision": "s. 59"}
ACCOUNT_WITH_ESC = {**item("https://x.example/2"), "account": "a\x1b[31m"}


async def assert_refused(
    mock: MockPlatform, request: Awaitable[httpx.Response], expected: tuple[str, str]
) -> None:
    """`request` (not sent yet) is a `422` with one error, `expected` = (pointer, what it found
    there), and changes nothing."""
    pointer, found = expected
    before = state(mock)
    problem = assert_problem(await request, 422, "validation_error")
    [error] = problem["errors"]
    assert error["pointer"] == pointer
    assert error["detail"].endswith(f"; found {found}"), error
    assert state(mock) == before


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"explanation": "Seen at 21:40\x00"}, ("/explanation", "U+0000 at index 13")),
        ({"client_reference": "CP-\x00-1"}, ("/client_reference", "U+0000 at index 3")),
        ({"client_reference": "CP-2026-0001\n"}, ("/client_reference", "U+000A at index 12")),
        (
            {"items": [item("https://www.instagram.com/p/\x00x/")]},
            ("/items/0/url", "U+0000 at index 28"),
        ),
        (
            {"items": [item("https://x.example/1"), ACCOUNT_WITH_ESC]},
            ("/items/1/account", "U+001B at index 1"),
        ),
        (
            {"violation_basis": "both", "legal_basis": [{**LEGAL_BASIS, "provision": "s.\t59"}]},
            ("/legal_basis/0/provision", "U+0009 at index 2"),
        ),
        (
            {"violation_basis": "both", "legal_basis": [{**LEGAL_BASIS, "explanation": "a\x85"}]},
            ("/legal_basis/0/explanation", "U+0085 at index 1"),
        ),
        (
            {"violation_basis": "both", "legal_basis": [{**LEGAL_BASIS, "jurisdiction": "GB\n"}]},
            ("/legal_basis/0/jurisdiction", "U+000A at index 2"),
        ),
        (
            {"reporting_officer": {"name": "Amelia\x7f", "email": "a@ministry.example.gov"}},
            ("/reporting_officer/name", "U+007F at index 6"),
        ),
        (
            {"reporting_officer": {"name": "Amelia", "email": "a\x00@ministry.example.gov"}},
            ("/reporting_officer/email", "U+0000 at index 1"),
        ),
        (
            {"priority": "urgent", "escalation_reason": "Ongoing\x9f"},
            ("/escalation_reason", "U+009F at index 7"),
        ),
        ({"territorial_scope": ["GB\r"]}, ("/territorial_scope/0", "U+000D at index 2")),
    ],
)
async def test_report_fields_refuse_control_characters(
    demo: Agency, mock: MockPlatform, overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    await assert_refused(mock, demo.post("/v1/reports", report_body(**overrides)), expected)
    assert (await demo.get("/v1/reports")).json()["data"] == []
    assert await demo.events() == []


async def test_a_url_with_a_byte_order_mark_is_refused_as_ecma_262_reads_the_pattern(
    demo: Agency, mock: MockPlatform
) -> None:
    # U+FEFF is white space to ECMA-262's \s (the contract's regex dialect), not to Python's.
    before = state(mock)
    body = report_body(items=[item("https://x.example/a\ufeffb")])
    problem = assert_problem(await demo.post("/v1/reports", body), 422, "validation_error")
    assert [error["pointer"] for error in problem["errors"]] == ["/items/0/url"]
    assert state(mock) == before


async def test_multi_line_text_keeps_tab_lf_and_cr(demo: Agency) -> None:
    text = "First line.\r\n\tSecond line,\tindented.\nThird line.\n"
    report = await demo.create(
        explanation=text,
        violation_basis="both",
        legal_basis=[{**LEGAL_BASIS, "explanation": text}],
        priority="high",
        escalation_reason=text,
    )
    fetched = await demo.report(report["id"])
    assert fetched["explanation"] == fetched["escalation_reason"] == text
    assert fetched["legal_basis"][0]["explanation"] == text
    withdrawn = await demo.post(f"/v1/reports/{report['id']}/withdraw", {"reason": text})
    assert withdrawn.status_code == 200, withdrawn.text
    endpoint = await demo.post(
        "/v1/webhook-endpoints",
        {"url": "https://hooks.example/crs", "event_types": ["*"], "description": text},
    )
    assert endpoint.status_code == 201, endpoint.text
    assert endpoint.json()["description"] == text


@pytest.mark.parametrize(
    ("suffix", "body", "expected"),
    [
        ("/withdraw", {"reason": "Passed to police\x00"}, ("/reason", "U+0000 at index 16")),
        ("/responses", {"message": "\x07See attached"}, ("/message", "U+0007 at index 0")),
        (
            "/responses",
            {"message": "ok", "evidence_ids": ["evd_1\n"]},
            ("/evidence_ids/0", "U+000A at index 5"),
        ),
        ("/appeal", {"reason": "Review again\x1f"}, ("/reason", "U+001F at index 12")),
    ],
)
async def test_action_bodies_refuse_control_characters(
    demo: Agency,
    mock: MockPlatform,
    suffix: str,
    body: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    report = await demo.create()
    await assert_refused(mock, demo.post(f"/v1/reports/{report['id']}{suffix}", body), expected)
    assert (await demo.report(report["id"]))["status"] == "draft"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"url": "https://hooks.example/\x00", "event_types": ["*"]},
            ("/url", "U+0000 at index 22"),
        ),
        (
            {"url": "https://hooks.example/crs", "event_types": ["*"], "description": "Prod\x00"},
            ("/description", "U+0000 at index 4"),
        ),
    ],
)
async def test_webhook_endpoints_refuse_control_characters(
    demo: Agency, mock: MockPlatform, body: dict[str, Any], expected: tuple[str, str]
) -> None:
    await assert_refused(mock, demo.post("/v1/webhook-endpoints", body), expected)
    assert (await demo.get("/v1/webhook-endpoints")).json()["data"] == []


async def test_control_api_bodies_refuse_control_characters(
    client: httpx.AsyncClient, demo: Agency, mock: MockPlatform
) -> None:
    report = f"/_mock/reports/{(await demo.create())['id']}"
    decide_item = {"item_id": "itm_1\n", "outcome": "actioned"}
    cases: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
        (f"{report}/request-info", {"question": "When?\x00"}, ("/question", "U+0000 at index 5")),
        (f"{report}/decide", {"summary": "\x00"}, ("/summary", "U+0000 at index 0")),
        (f"{report}/decide", {"items": [decide_item]}, ("/items/0/item_id", "U+000A at index 5")),
        (
            "/_mock/faults",
            {"action": "error", "status": 503, "path": "/v1/\x00"},
            ("/path", "U+0000 at index 4"),
        ),
        (
            "/_mock/agencies",
            {"client_id": "unit\t2", "client_secret": "s"},
            ("/client_id", "U+0009 at index 4"),
        ),
        (
            "/_mock/events",
            {"client_id": "demo\x00", "type": "a.b", "data": {}},
            ("/client_id", "U+0000 at index 4"),
        ),
    ]
    for path, body, expected in cases:
        await assert_refused(mock, client.post(path, json=body), expected)
    assert (await demo.events())[-1]["type"] == "report.created"
