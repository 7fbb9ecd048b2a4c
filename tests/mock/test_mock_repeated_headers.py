"""A header field read as one value, sent twice: a 400 naming it, and nothing done or kept.

Which value the client meant is anyone's guess; the first one used to win silently.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from mock.mock_support import Agency, assert_problem, report_body
from mock.upload_support import OCTETS, TUS, TusAgency, metadata_for

if TYPE_CHECKING:
    import httpx

    from crs_mock import MockPlatform

pytestmark = pytest.mark.anyio

JSON = "application/json"
TWO_TYPES = [(JSON, JSON), (JSON, "text/plain"), ("text/plain", JSON)]


def assert_names(response: httpx.Response, header: str) -> dict[str, Any]:
    problem = assert_problem(response, 400, "invalid_request")
    assert problem["header"] == header
    assert problem["detail"] == f"{header} must be sent once; this request has 2 of them"
    return problem


def idempotency_keys(mock: MockPlatform) -> list[Any]:
    with mock.store.transaction() as tx:
        return tx.all("SELECT key FROM idempotency_records")


@pytest.mark.parametrize("types", TWO_TYPES)
async def test_two_content_types_on_a_json_write(
    demo: Agency, mock: MockPlatform, types: tuple[str, str]
) -> None:
    draft = await demo.create()
    body = json.dumps(report_body(client_reference="CP-two-types")).encode()
    writes = [
        ("POST", "/v1/reports", body),
        ("POST", f"/v1/reports/{draft['id']}/submit", b"{}"),
        ("POST", f"/v1/reports/{draft['id']}/submit", b""),  # no body: still two types
    ]
    for method, path, content in writes:
        headers = [*demo.headers.items(), ("Idempotency-Key", "key-1")]
        headers += [("Content-Type", value) for value in types]
        answer = await demo.client.request(method, path, content=content, headers=headers)
        assert_names(answer, "Content-Type")
    assert (await demo.get("/v1/reports")).json()["data"] == [draft]
    assert [event["type"] for event in await demo.events()] == ["report.created"]
    assert idempotency_keys(mock) == []
    once = await demo.post("/v1/reports", json.loads(body), key="key-1")
    assert once.status_code == 201, once.text
    assert "idempotent-replayed" not in once.headers


async def test_two_content_types_on_a_webhook_endpoint_creation(demo: Agency) -> None:
    body = json.dumps({"url": "https://hooks.example/crs", "event_types": ["*"]}).encode()
    headers = [*demo.headers.items(), ("Content-Type", JSON), ("Content-Type", JSON)]
    answer = await demo.client.post("/v1/webhook-endpoints", content=body, headers=headers)
    assert_names(answer, "Content-Type")
    assert (await demo.get("/v1/webhook-endpoints")).json()["data"] == []


async def test_two_content_types_on_the_control_api(client: httpx.AsyncClient) -> None:
    rule = json.dumps({"action": "error", "status": 503}).encode()
    headers = [("Content-Type", JSON), ("Content-Type", JSON)]
    assert_names(await client.post("/_mock/faults", content=rule, headers=headers), "Content-Type")
    assert (await client.get("/_mock/faults")).json()["data"] == []
    advance = json.dumps({"seconds": 60}).encode()
    before = (await client.get("/_mock/clock")).json()
    answer = await client.post("/_mock/clock/advance", content=advance, headers=headers)
    assert_names(answer, "Content-Type")
    assert (await client.get("/_mock/clock")).json() == before


async def test_two_content_types_on_the_token_endpoint(client: httpx.AsyncClient) -> None:
    form = "application/x-www-form-urlencoded"
    answer = await client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        auth=("demo-agency", "demo-secret"),
        headers=[("Content-Type", form), ("Content-Type", form)],
    )
    problem = assert_names(answer, "Content-Type")
    assert problem["error"] == "invalid_request"


@pytest.mark.parametrize("header", ["Upload-Length", "Upload-Metadata", "Tus-Resumable"])
async def test_a_tus_creation_with_a_header_twice_creates_no_upload(
    demo: Agency, mock: MockPlatform, header: str
) -> None:
    draft = await demo.create()
    values = {**TUS, "Upload-Length": "3", "Upload-Metadata": metadata_for(b"abc")}
    headers = [
        *demo.headers.items(),
        *values.items(),
        (header, values[header]),
        ("Idempotency-Key", "upload-1"),
    ]
    answer = await demo.client.post(f"/v1/reports/{draft['id']}/evidence", headers=headers)
    assert_names(answer, header)
    assert answer.headers["tus-resumable"] == "1.0.0"
    with mock.store.transaction() as tx:
        assert tx.all("SELECT id FROM uploads") == []
    assert idempotency_keys(mock) == []


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("Upload-Offset", ("0", "0")),
        ("Upload-Offset", ("0", "3")),
        ("Content-Type", (OCTETS,) * 2),
        ("Tus-Resumable", ("1.0.0", "1.0.0")),
        ("Tus-Resumable", ("1.0.0", "0.2.2")),
        ("Upload-Checksum", ("sha256 " + "A" * 43 + "=",) * 2),
        ("Upload-Checksum", ("sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", "sha256 " + "A" * 43 + "=")),
    ],
)
async def test_a_chunk_with_a_header_twice_is_not_stored(
    demo: Agency, header: str, values: tuple[str, str]
) -> None:
    tus = TusAgency(demo)
    draft = await demo.create()
    location = await tus.start(draft["id"], b"abcdef")
    single = tus.headers(**{"Upload-Offset": "0", "Content-Type": OCTETS})
    single.pop(header, None)
    headers = [*single.items(), *((header, value) for value in values)]
    answer = await demo.client.patch(location, content=b"abc", headers=headers)
    assert_names(answer, header)
    assert (await tus.head(location)).headers["upload-offset"] == "0"
    assert (await tus.patch(location, 0, b"abcdef")).status_code == 204


@pytest.mark.parametrize("second", ["same", "other"])
async def test_two_authorizations_are_a_400(demo: Agency, mock: MockPlatform, second: str) -> None:
    token = demo.headers["Authorization"]
    other = token if second == "same" else "Bearer not-a-token"
    headers = [("Authorization", token), ("Authorization", other), ("Idempotency-Key", "key-1")]
    answer = await demo.client.post("/v1/reports", json=report_body(), headers=headers)
    assert_names(answer, "Authorization")
    assert answer.headers["www-authenticate"] == 'Bearer realm="crs", error="invalid_request"'
    assert_names(await demo.client.get("/v1/reports?limt=1", headers=headers), "Authorization")
    assert (await demo.get("/v1/reports")).json()["data"] == []
    assert idempotency_keys(mock) == []


async def test_two_authorizations_on_the_token_endpoint(client: httpx.AsyncClient) -> None:
    basic = "Basic ZGVtby1hZ2VuY3k6ZGVtby1zZWNyZXQ="  # demo-agency:demo-secret
    answer = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=[("Authorization", basic), ("Authorization", basic)],
    )
    problem = assert_names(answer, "Authorization")
    assert problem["error"] == "invalid_request"


async def test_head_and_delete_with_two_tus_versions(demo: Agency) -> None:
    tus = TusAgency(demo)
    draft = await demo.create()
    location = await tus.start(draft["id"], b"abcdef")
    headers = [*demo.headers.items(), *TUS.items(), *TUS.items()]
    head = await demo.client.head(location, headers=headers)
    assert head.status_code == 400
    assert head.content == b""
    assert_names(await demo.client.delete(location, headers=headers), "Tus-Resumable")
    assert (await tus.head(location)).headers["upload-offset"] == "0"  # not terminated
