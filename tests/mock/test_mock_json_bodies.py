"""JSON request bodies are UTF-8 (RFC 8259 section 8.1) and say so with a JSON Content-Type: any
other body is a ``415`` problem, and changes nothing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from mock.mock_support import assert_problem, report_body

if TYPE_CHECKING:
    import httpx

    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}
WIDE = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


async def _reports(demo: Agency) -> list[dict[str, Any]]:
    response = await demo.get("/v1/reports")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.mark.parametrize("encoding", WIDE)
async def test_a_report_in_utf_16_or_32_is_refused(demo: Agency, encoding: str) -> None:
    body = json.dumps(report_body(explanation="Grooming in a chat \u00e9")).encode(encoding)
    answer = await demo.client.post("/v1/reports", content=body, headers={**demo.headers, **JSON})
    problem = assert_problem(answer, 415, "unsupported_media_type")
    assert "must be UTF-8 (RFC 8259, section 8.1); it looks like UTF-" in problem["detail"]
    assert await _reports(demo) == []


@pytest.mark.parametrize(
    ("body", "byte"),
    [
        # Latin-1: the é of a valid report.
        (
            json.dumps(report_body(explanation="caf\u00e9"), ensure_ascii=False).encode("latin-1"),
            0xE9,
        ),
        # A surrogate encoded as if it were a character (CESU-8): was stored, then a 500.
        (
            json.dumps(report_body(explanation="\x00"))
            .encode()
            .replace(b"\\u0000", b"\xed\xa0\x80"),
            0xED,
        ),
    ],
    ids=["latin-1", "encoded-surrogate"],
)
async def test_bytes_that_are_not_utf_8_are_refused(demo: Agency, body: bytes, byte: int) -> None:
    answer = await demo.client.post("/v1/reports", content=body, headers={**demo.headers, **JSON})
    problem = assert_problem(answer, 415, "unsupported_media_type")
    assert f"byte {body.index(bytes([byte]))} (0x{byte:02X}) is not" in problem["detail"]
    assert await _reports(demo) == []


@pytest.mark.parametrize("encoding", WIDE)
async def test_the_control_api_refuses_utf_16_and_32_too(
    client: httpx.AsyncClient, encoding: str
) -> None:
    rule = json.dumps({"action": "error", "status": 503}).encode(encoding)
    answer = await client.post("/_mock/faults", content=rule, headers=JSON)
    assert_problem(answer, 415, "unsupported_media_type")
    assert (await client.get("/_mock/faults")).json()["data"] == []


async def test_a_utf_8_byte_order_mark_is_ignored(demo: Agency) -> None:
    body = json.dumps(report_body()).encode("utf-8-sig")
    answer = await demo.client.post("/v1/reports", content=body, headers={**demo.headers, **JSON})
    assert answer.status_code == 201, answer.text


async def test_a_charset_parameter_has_no_effect(demo: Agency) -> None:
    """RFC 8259 section 11: application/json has no charset; the body is UTF-8 whatever it says."""
    body = json.dumps(report_body(explanation="caf\u00e9"), ensure_ascii=False).encode()
    headers = {**demo.headers, "Content-Type": "application/json; charset=iso-8859-1"}
    answer = await demo.client.post("/v1/reports", content=body, headers=headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["explanation"] == "caf\u00e9"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/reports", report_body()),
        ("/v1/reports/{report}/submit", {}),
        ("/v1/webhook-endpoints", {"url": "https://hooks.example/crs", "event_types": ["*"]}),
        ("/_mock/faults", {"action": "error", "status": 503}),
        ("/_mock/clock/advance", {"seconds": 60}),
        ("/_mock/reports/{report}/decide", {"outcome": "actioned"}),
    ],
)
async def test_a_body_without_content_type_is_refused(
    demo: Agency, path: str, body: dict[str, Any]
) -> None:
    draft = await demo.create(client_reference="CP-NO-TYPE")
    clock = (await demo.client.get("/_mock/clock")).json()
    url = path.format(report=draft["id"])
    answer = await demo.client.post(url, content=json.dumps(body).encode(), headers=demo.headers)
    problem = assert_problem(answer, 415, "unsupported_media_type")
    assert problem["header"] == "Content-Type"
    assert "no Content-Type" in problem["detail"]
    assert await _reports(demo) == [draft]
    assert (await demo.get("/v1/webhook-endpoints")).json()["data"] == []
    assert (await demo.client.get("/_mock/faults")).json()["data"] == []
    assert (await demo.client.get("/_mock/clock")).json() == clock


async def test_a_refused_body_without_content_type_is_not_kept_under_the_key(
    demo: Agency,
) -> None:
    body = json.dumps(report_body()).encode()
    headers = {**demo.headers, "Idempotency-Key": "key-untyped"}
    untyped = await demo.client.post("/v1/reports", content=body, headers=headers)
    assert_problem(untyped, 415, "unsupported_media_type")
    typed = await demo.client.post("/v1/reports", content=body, headers={**headers, **JSON})
    assert typed.status_code == 201, typed.text  # not the 415 replayed


@pytest.mark.parametrize("content", [b"", b" \r\n"])
async def test_a_write_without_a_body_needs_no_content_type(demo: Agency, content: bytes) -> None:
    draft = await demo.create()
    answer = await demo.client.post(
        f"/v1/reports/{draft['id']}/submit", content=content, headers=demo.headers
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'\x00{"a": 1}', "byte 0 (0x00) is a NUL, which no JSON text starts with"),
        (b"\x00", "byte 0 (0x00) is a NUL, which no JSON text starts with"),
        (b"\x00\x00", "byte 0 (0x00) is a NUL, which no JSON text starts with"),
        (b"\x00\x00{}", "byte 0 (0x00) is a NUL, which no JSON text starts with"),
        (b"\x00{\x00", "byte 0 (0x00) is a NUL, which no JSON text starts with"),
        (b"\x00{\x00}", "it looks like UTF-16BE"),
        (b"{\x00}\x00", "it looks like UTF-16LE"),
        (b"\x00\x00\x00{", "it looks like UTF-32BE"),
        (b"{\x00\x00\x00", "it looks like UTF-32LE"),
        (b"\x001", "it looks like UTF-16BE"),
        (b"1\x00", "it looks like UTF-16LE"),
    ],
)
async def test_zero_bytes_name_a_wide_encoding_only_by_its_pattern(
    demo: Agency, body: bytes, named: str
) -> None:
    """RFC 4627 section 3's patterns; a NUL first byte outside them is named as such."""
    answer = await demo.client.post("/v1/reports", content=body, headers={**demo.headers, **JSON})
    problem = assert_problem(answer, 415, "unsupported_media_type")
    assert (
        problem["detail"] == f"JSON request bodies must be UTF-8 (RFC 8259, section 8.1); {named}."
    )
    assert await _reports(demo) == []


@pytest.mark.parametrize("body", [b'{\x00"a": 1}', b'{"a": 1}\x00'])
async def test_a_nul_after_the_first_byte_is_not_json(demo: Agency, body: bytes) -> None:
    answer = await demo.client.post("/v1/reports", content=body, headers={**demo.headers, **JSON})
    problem = assert_problem(answer, 400, "invalid_request")
    assert "UTF-16" not in problem["detail"]
