"""Idempotency-Key on /v1 POSTs: replay, reuse with another body, in flight, retention."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import pytest

from mock.mock_support import Agency, advance, assert_problem, report_body
from mock.upload_support import TUS, metadata_for

if TYPE_CHECKING:
    import httpx

    from crs_mock import MockPlatform

pytestmark = pytest.mark.anyio


async def test_replay_returns_the_stored_response(demo: Agency) -> None:
    first = await demo.post("/v1/reports", report_body(), key="create-1")
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = await demo.post("/v1/reports", report_body(), key="create-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert len((await demo.get("/v1/reports")).json()["data"]) == 1
    assert [event["type"] for event in await demo.events()] == ["report.created"]


async def test_reused_key_with_another_body(demo: Agency) -> None:
    await demo.post("/v1/reports", report_body(), key="k")
    response = await demo.post("/v1/reports", report_body(client_reference="CP-other"), key="k")
    assert_problem(response, 422, "idempotency_key_reused")
    report_id = (await demo.get("/v1/reports")).json()["data"][0]["id"]
    elsewhere = await demo.post(f"/v1/reports/{report_id}/submit", key="k")
    assert_problem(elsewhere, 422, "idempotency_key_reused")


async def test_errors_are_stored_and_replayed(demo: Agency) -> None:
    report = await demo.create(good_faith_declaration=False)
    path = f"/v1/reports/{report['id']}/submit"
    refused = await demo.post(path, key="submit-1")
    assert_problem(refused, 422, "validation_error")
    replayed = await demo.post(path, key="submit-1")
    assert replayed.status_code == 422
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == refused.json()
    assert (
        await demo.post(path, {"good_faith_declaration": True}, key="submit-2")
    ).status_code == 200


async def test_keys_are_scoped_to_the_agency(demo: Agency, other: Agency) -> None:
    mine = await demo.post("/v1/reports", report_body(), key="shared")
    theirs = await other.post("/v1/reports", report_body(), key="shared")
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


async def test_keys_are_kept_for_24_hours_of_virtual_time(
    demo: Agency, client: httpx.AsyncClient
) -> None:
    await demo.post("/v1/reports", report_body(), key="daily")
    await advance(client, 23 * 3600)
    await demo.login()
    replay = await demo.post("/v1/reports", report_body(), key="daily")
    assert replay.headers["idempotent-replayed"] == "true"
    await advance(client, 3600)
    await demo.login()
    fresh = await demo.post("/v1/reports", report_body(), key="daily")
    assert_problem(fresh, 409, "duplicate_client_reference")
    assert "idempotent-replayed" not in fresh.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
async def test_malformed_key(demo: Agency, key: str) -> None:
    headers = {**demo.headers, "Idempotency-Key": key, "Content-Type": "application/json"}
    response = await demo.client.post(
        "/v1/reports", content=b"{}", headers={k: v.encode() for k, v in headers.items()}
    )
    assert_problem(response, 400, "invalid_request")


@pytest.mark.parametrize("keys", [("key-a", "key-b"), ("key-a", "key-a")])
async def test_two_keys_are_a_bad_request_that_changes_nothing(
    demo: Agency, keys: tuple[str, str]
) -> None:
    """Which key would be meant is a guess; none is used, not even kept for a replay."""
    draft = await demo.create()
    body = json.dumps(report_body(client_reference="CP-two-keys")).encode()
    writes = [
        ("POST", "/v1/reports", body),
        ("POST", f"/v1/reports/{draft['id']}/submit", b"{}"),
        ("POST", f"/v1/reports/{draft['id']}/withdraw", b"{}"),
    ]
    for method, path, content in writes:
        headers = [*demo.headers.items(), ("Content-Type", "application/json")]
        headers += [("Idempotency-Key", key) for key in keys]
        answer = await demo.client.request(method, path, content=content, headers=headers)
        problem = assert_problem(answer, 400, "invalid_request")
        assert problem["header"] == "Idempotency-Key"
        assert "sent once" in problem["detail"]
    assert (await demo.get("/v1/reports")).json()["data"] == [draft]
    assert [event["type"] for event in await demo.events()] == ["report.created"]
    once = await demo.post("/v1/reports", json.loads(body), key=keys[0])
    assert once.status_code == 201, once.text
    assert "idempotent-replayed" not in once.headers


async def test_two_keys_on_a_tus_creation_create_no_upload(
    demo: Agency, mock: MockPlatform
) -> None:
    draft = await demo.create()
    headers = [
        *demo.headers.items(),
        *TUS.items(),
        ("Upload-Length", "3"),
        ("Upload-Metadata", metadata_for(b"abc")),
        ("Idempotency-Key", "upload-1"),
        ("Idempotency-Key", "upload-2"),
    ]
    answer = await demo.client.post(f"/v1/reports/{draft['id']}/evidence", headers=headers)
    assert_problem(answer, 400, "invalid_request")
    with mock.store.transaction() as tx:
        assert tx.all("SELECT id FROM uploads") == []
        assert tx.all("SELECT key FROM idempotency_records") == []


async def test_two_keys_on_a_delete_keep_the_endpoint(demo: Agency) -> None:
    created = await demo.post(
        "/v1/webhook-endpoints", {"url": "https://hooks.example/crs", "event_types": ["*"]}
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    headers = [*demo.headers.items(), ("Idempotency-Key", "d-1"), ("Idempotency-Key", "d-2")]
    answer = await demo.client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=headers)
    assert_problem(answer, 400, "invalid_request")
    assert (await demo.get(f"/v1/webhook-endpoints/{endpoint_id}")).status_code == 200


async def test_a_delete_with_a_key_replays_its_204(demo: Agency) -> None:
    """The contract documents it: a retried delete whose answer was lost is not a 404."""
    endpoints = []
    for number in range(2):
        created = await demo.post(
            "/v1/webhook-endpoints",
            {"url": f"https://hooks.example/{number}", "event_types": ["*"]},
        )
        endpoints.append(f"/v1/webhook-endpoints/{created.json()['id']}")
    keyed = {**demo.headers, "Idempotency-Key": "delete-1"}
    first = await demo.client.delete(endpoints[0], headers=keyed)
    assert first.status_code == 204
    again = await demo.client.delete(endpoints[0], headers=keyed)
    assert again.status_code == 204
    assert again.headers["idempotent-replayed"] == "true"
    assert_problem(await demo.client.delete(endpoints[0], headers=demo.headers), 404, "not_found")
    reused = await demo.client.delete(endpoints[1], headers=keyed)
    assert_problem(reused, 422, "idempotency_key_reused")
    assert (await demo.get(endpoints[1])).status_code == 200


def test_the_contract_documents_the_key_of_a_delete() -> None:
    from crs_mock._validation import contract

    operation = contract()["paths"]["/v1/webhook-endpoints/{endpoint_id}"]["delete"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"]
    assert {"409", "422"} <= set(operation["responses"])


async def test_key_in_flight(
    demo: Agency, mock: MockPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second request with the key of one still being processed gets a 409, not a duplicate."""
    release = threading.Event()
    original = mock.review.schedule_new

    def held(*args: Any, **kwargs: Any) -> None:
        assert release.wait(10)
        original(*args, **kwargs)

    monkeypatch.setattr(mock.review, "schedule_new", held)
    results: dict[str, httpx.Response] = {}

    async def first() -> None:
        results["first"] = await demo.post("/v1/reports", report_body(), key="slow")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(first)
        in_flight = await anyio.to_thread.run_sync(
            mock.idempotency.wait_for_in_flight, "demo-agency", "slow", 10
        )
        assert in_flight
        second = await demo.post("/v1/reports", report_body(), key="slow")
        assert_problem(second, 409, "idempotency_key_in_flight")
        other_body = await demo.post("/v1/reports", report_body(client_reference="x"), key="slow")
        assert_problem(other_body, 422, "idempotency_key_reused")
        release.set()
    assert results["first"].status_code == 201
    replay = await demo.post("/v1/reports", report_body(), key="slow")
    assert replay.headers["idempotent-replayed"] == "true"
