"""Input a review found answered with a 500 (or taken wrongly): each is now a 4xx problem, and
nothing changes."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import pytest

from crs_mock._clock import LATEST_TIME
from crs_mock._limits import MAX_TOKEN_FORM
from mock.mock_support import AGENCIES, assert_problem, report_body

if TYPE_CHECKING:
    import httpx

    from crs_mock import MockPlatform
    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


async def _reports(demo: Agency) -> list[dict[str, object]]:
    response = await demo.get("/v1/reports")
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


async def test_a_required_body_of_null_is_a_validation_error(demo: Agency) -> None:
    before = await _reports(demo)
    answer = await demo.client.post(
        "/v1/reports", content=b"null", headers={**demo.headers, **JSON}
    )
    body = assert_problem(answer, 422, "validation_error")
    assert body["errors"][0]["pointer"] == ""
    draft = await demo.create()
    for action in ("responses", "appeal"):
        answer = await demo.client.post(
            f"/v1/reports/{draft['id']}/{action}", content=b"null", headers={**demo.headers, **JSON}
        )
        assert_problem(answer, 422, "validation_error")  # the body first, then the status
    assert len(await _reports(demo)) == len(before) + 1


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"explanation": "\\ud800"}', "/explanation"),
        (b'{"items": [{"url": "\\udc00x"}]}', "/items/0/url"),
        (b'{"a\\ud800": 1}', "/a\\ud800"),
    ],
)
async def test_an_unpaired_surrogate_is_a_bad_request(
    demo: Agency, body: bytes, where: str
) -> None:
    before = await _reports(demo)
    answer = await demo.client.post("/v1/reports", content=body, headers={**demo.headers, **JSON})
    problem = assert_problem(answer, 400, "invalid_request")
    assert f"at {where} holds an unpaired surrogate" in problem["detail"]
    assert await _reports(demo) == before


async def test_a_surrogate_pair_is_one_character(demo: Agency) -> None:
    raw = json.dumps(report_body(explanation="Grooming \U0001f600 in a chat."))  # ASCII escapes
    assert "\\ud83d\\ude00" in raw  # the pair, as two escapes
    answer = await demo.client.post(
        "/v1/reports", content=raw.encode(), headers={**demo.headers, **JSON}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["explanation"] == "Grooming \U0001f600 in a chat."


async def test_a_name_twice_in_one_object_is_a_bad_request(demo: Agency) -> None:
    body = b'{"client_reference": "E1", "client_reference": "E2"}'
    answer = await demo.client.post("/v1/reports", content=body, headers={**demo.headers, **JSON})
    problem = assert_problem(answer, 400, "invalid_request")
    assert '"client_reference" appears twice' in problem["detail"]
    assert await _reports(demo) == []


def _cursor(kind: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/v1/reports", "rpt"),
        ("/v1/webhook-endpoints", "whe"),
        ("/v1/reports/{report}/evidence", "evd"),
    ],
)
@pytest.mark.parametrize("seq", [2**63, 10**30])
async def test_a_cursor_beyond_the_database_integers_is_a_bad_request(
    demo: Agency, path: str, kind: str, seq: int
) -> None:
    report = await demo.create()
    answer = await demo.get(path.format(report=report["id"]), params={"cursor": _cursor(kind, seq)})
    assert assert_problem(answer, 400, "invalid_request")["parameter"] == "cursor"


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "1\u00b2"])
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/_mock/requests", "after"),
        ("/_mock/requests", "cursor"),
        ("/_mock/requests/wait", "after"),
    ],
)
async def test_only_ascii_digits_are_journal_positions(
    client: httpx.AsyncClient, path: str, name: str, value: str
) -> None:
    wait = {"timeout": "0"} if path.endswith("/wait") else {}  # listRequests takes no timeout
    answer = await client.get(path, params={name: value, **wait})
    assert assert_problem(answer, 400, "invalid_request")["parameter"] == name


async def test_a_fault_rule_holds_integers_given_as_floats(
    client: httpx.AsyncClient, demo: Agency
) -> None:
    rule = {"action": "error", "status": 503.0, "retry_after": 2.0, "next_n": 1.0}
    created = await client.post("/_mock/faults", json=rule)
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["next_n"]) == (503, 1)
    faulted = await demo.get("/v1/reports")
    assert faulted.status_code == 503
    assert faulted.headers["retry-after"] == "2"


async def test_the_clock_does_not_pass_its_latest_time(
    client: httpx.AsyncClient, mock: MockPlatform
) -> None:
    mock.clock.advance(LATEST_TIME - mock.clock.now() - 100)
    before = (await client.get("/_mock/clock")).json()
    answer = await client.post("/_mock/clock/advance", json={"seconds": 3600})
    body = assert_problem(answer, 422, "validation_error")
    assert body["errors"][0]["pointer"] == "/seconds"
    assert (await client.get("/_mock/clock")).json() == before
    with pytest.raises(ValueError, match="latest time"):
        mock.clock.advance(3600)


@pytest.mark.parametrize("query", ["status=-5", "status=99999", "status=4_04", "status=\u00b2"])
async def test_a_journal_status_filter_is_an_http_status(
    client: httpx.AsyncClient, query: str
) -> None:
    answer = await client.get(f"/_mock/requests?{query}")
    problem = assert_problem(answer, 400, "invalid_request")
    assert "status must be an HTTP status code" in problem["detail"]
    assert problem["parameter"] == "status"
    assert (await client.get("/_mock/requests?status=404")).status_code == 200


async def test_an_empty_agency_filter_is_not_every_agency(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_mock/faults", json={"action": "error", "status": 503, "agency_id": "demo-agency"}
    )
    assert created.status_code == 201, created.text
    answer = await client.delete("/_mock/faults?agency_id=")
    assert assert_problem(answer, 400, "invalid_request")["parameter"] == "agency_id"
    assert len((await client.get("/_mock/faults")).json()["data"]) == 1  # nothing cleared
    answer = await client.get("/_mock/requests?agency_id=")
    assert assert_problem(answer, 400, "invalid_request")["parameter"] == "agency_id"


async def test_a_token_request_body_has_a_size_limit(client: httpx.AsyncClient) -> None:
    form = b"grant_type=client_credentials&padding=" + b"a" * MAX_TOKEN_FORM
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    auth = ("demo-agency", AGENCIES["demo-agency"])
    # By its Content-Length; sent chunked, it is counted as it arrives (test_mock_body_size).
    answer = await client.post("/oauth/token", content=form, headers=headers, auth=auth)
    assert_problem(answer, 413, "payload_too_large")


@pytest.mark.parametrize("path", ["/v1/reports/", "/_mock/clock/", "/v1/events/"])
async def test_a_trailing_slash_is_no_path_of_the_contract(demo: Agency, path: str) -> None:
    assert_problem(await demo.get(path), 404, "not_found")


async def test_a_refused_media_type_is_not_kept_under_the_idempotency_key(demo: Agency) -> None:
    body = json.dumps(report_body()).encode()
    headers = {**demo.headers, "Idempotency-Key": "key-415"}
    wrong = await demo.client.post(
        "/v1/reports", content=body, headers={**headers, "Content-Type": "text/plain"}
    )
    assert_problem(wrong, 415, "unsupported_media_type")
    right = await demo.client.post("/v1/reports", content=body, headers={**headers, **JSON})
    assert right.status_code == 201, right.text  # not the 415 replayed
