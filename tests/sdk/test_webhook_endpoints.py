"""``client.webhook_endpoints`` against respx mocks, both clients."""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
import respx

import crs_sdk.testing
from crs_sdk import (
    ALL_EVENT_TYPES,
    AsyncCRSClient,
    CRSClient,
    DeliveryStatus,
    EventType,
    NotFoundError,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointWithSecret,
)

BASE = "https://crs.test"
SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5"

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _no_waits() -> Any:
    with crs_sdk.testing.no_retry_waits():
        yield


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def router() -> Any:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.post("/oauth/token").respond(
            200, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
        )
        yield mock


def make_client(flavour: str) -> Any:
    cls = CRSClient if flavour == "sync" else AsyncCRSClient
    return cls(BASE, client_id="a", client_secret="s")


async def call(client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    target = client
    for part in method.split("."):
        target = getattr(target, part)
    result = target(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def collect(pager: Any) -> list[Any]:
    if hasattr(pager, "__aiter__"):
        return [item async for item in pager]
    return list(pager)


async def close(client: Any) -> None:
    if isinstance(client, AsyncCRSClient):
        await client.aclose()
    else:
        client.close()


def endpoint_json(endpoint_id: str = "whe_1", **overrides: Any) -> dict[str, Any]:
    body = {
        "id": endpoint_id,
        "url": "https://agency.example/hooks",
        "event_types": ["report.decided"],
        "description": None,
        "enabled": True,
        "disabled_reason": None,
        "created_at": "2026-11-23T10:15:00Z",
        "secret_rotation_ends_at": None,
    }
    body.update(overrides)
    return body


def delivery_json(delivery_id: str = "dlv_1", **overrides: Any) -> dict[str, Any]:
    body = {
        "id": delivery_id,
        "endpoint_id": "whe_1",
        "event_id": "evt_000000000001",
        "event_type": "report.decided",
        "webhook_id": "msg_1",
        "attempt": 1,
        "status": "failed",
        "status_code": 500,
        "duration_ms": 12,
        "error": None,
        "attempted_at": "2026-11-23T10:15:00Z",
        "next_attempt_at": "2026-11-23T10:15:05Z",
    }
    body.update(overrides)
    return body


async def test_create_returns_the_secret_but_hides_it(
    flavour: str, router: Any, caplog: pytest.LogCaptureFixture
) -> None:
    route = router.post("/v1/webhook-endpoints").respond(
        201, json=endpoint_json(secret=SECRET, event_types=["*"])
    )
    client = make_client(flavour)
    with caplog.at_level(logging.DEBUG):
        endpoint = await call(
            client,
            "webhook_endpoints.create",
            WebhookEndpointCreate(
                url="https://agency.example/hooks",
                event_types=ALL_EVENT_TYPES,
                description="case system",
            ),
            idempotency_key="whk-1",
        )
    await close(client)
    assert isinstance(endpoint, WebhookEndpointWithSecret)
    assert endpoint.secret == SECRET
    assert SECRET not in repr(endpoint)
    assert SECRET not in caplog.text
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == "whk-1"
    assert json.loads(request.content) == {
        "url": "https://agency.example/hooks",
        "event_types": ["*"],
        "description": "case system",
    }


async def test_create_refuses_other_bodies(flavour: str, router: Any) -> None:
    client = make_client(flavour)
    with pytest.raises(TypeError):
        await call(client, "webhook_endpoints.create", {"url": "https://x"})
    await close(client)


async def test_list_follows_cursors(flavour: str, router: Any) -> None:
    route = router.get("/v1/webhook-endpoints")
    route.side_effect = [
        respx.MockResponse(200, json={"data": [endpoint_json("whe_1")], "next_cursor": "c2"}),
        respx.MockResponse(200, json={"data": [endpoint_json("whe_2")], "next_cursor": None}),
    ]
    client = make_client(flavour)
    endpoints = await collect(client.webhook_endpoints.list(page_size=1))
    await close(client)
    assert [e.id for e in endpoints] == ["whe_1", "whe_2"]
    assert all(type(e) is WebhookEndpoint for e in endpoints)
    assert route.calls[0].request.url.params.multi_items() == [("limit", "1")]
    assert route.calls[1].request.url.params.multi_items() == [("limit", "1"), ("cursor", "c2")]


async def test_get_and_delete(flavour: str, router: Any) -> None:
    router.get("/v1/webhook-endpoints/whe_1").respond(200, json=endpoint_json())
    deleted = router.delete("/v1/webhook-endpoints/whe_1").respond(204)
    client = make_client(flavour)
    endpoint = await call(client, "webhook_endpoints.get", "whe_1")
    assert await call(client, "webhook_endpoints.delete", "whe_1") is None
    await close(client)
    assert endpoint.event_types == (EventType.REPORT_DECIDED,)
    assert deleted.called


async def test_delete_carries_one_idempotency_key_across_its_retries(
    flavour: str, router: Any
) -> None:
    deleted = router.delete("/v1/webhook-endpoints/whe_1").mock(
        side_effect=[httpx.Response(503), httpx.Response(204), httpx.Response(204)]
    )
    client = make_client(flavour)
    with crs_sdk.testing.no_retry_waits():
        assert await call(client, "webhook_endpoints.delete", "whe_1") is None
        await call(client, "webhook_endpoints.delete", "whe_1", idempotency_key="del-1")
    await close(client)
    keys = [c.request.headers["Idempotency-Key"] for c in deleted.calls]
    assert len(keys) == 3
    uuid.UUID(keys[0])
    assert keys[1] == keys[0]
    assert keys[2] == "del-1"
    with pytest.raises(ValueError, match="idempotency_key"):
        await call(make_client(flavour), "webhook_endpoints.delete", "whe_1", idempotency_key="")


async def test_get_unknown_is_not_found(flavour: str, router: Any) -> None:
    router.get("/v1/webhook-endpoints/whe_9").respond(
        404,
        json={
            "type": "urn:crs:problem:not_found",
            "title": "Not found",
            "status": 404,
            "code": "not_found",
        },
        headers={"Content-Type": "application/problem+json"},
    )
    client = make_client(flavour)
    with pytest.raises(NotFoundError):
        await call(client, "webhook_endpoints.get", "whe_9")
    await close(client)


async def test_ids_stay_one_path_segment(flavour: str, router: Any) -> None:
    route = router.get("/v1/webhook-endpoints/a%2Fb").respond(200, json=endpoint_json("a/b"))
    client = make_client(flavour)
    await call(client, "webhook_endpoints.get", "a/b")
    await close(client)
    assert route.called


@pytest.mark.parametrize(("grace", "body"), [(None, b""), (0, b'{"grace_period_seconds":0}')])
async def test_rotate_secret(flavour: str, router: Any, grace: int | None, body: bytes) -> None:
    route = router.post("/v1/webhook-endpoints/whe_1/rotate-secret").respond(
        200,
        json=endpoint_json(secret=SECRET, secret_rotation_ends_at="2026-11-24T10:15:00Z"),
    )
    client = make_client(flavour)
    endpoint = await call(
        client, "webhook_endpoints.rotate_secret", "whe_1", grace_period_seconds=grace
    )
    await close(client)
    assert endpoint.secret == SECRET
    assert SECRET not in repr(endpoint)
    request = route.calls.last.request
    assert request.content.replace(b" ", b"") == body
    uuid.UUID(request.headers["Idempotency-Key"])


async def test_rotate_secret_checks_the_grace_period(flavour: str, router: Any) -> None:
    client = make_client(flavour)
    with pytest.raises(ValueError, match="grace_period_seconds"):
        await call(client, "webhook_endpoints.rotate_secret", "whe_1", grace_period_seconds=-1)
    await close(client)


@pytest.mark.parametrize("action", ["disable", "enable"])
async def test_disable_and_enable(flavour: str, router: Any, action: str) -> None:
    enabled = action == "enable"
    route = router.post(f"/v1/webhook-endpoints/whe_1/{action}").respond(
        200, json=endpoint_json(enabled=enabled)
    )
    client = make_client(flavour)
    endpoint = await call(client, f"webhook_endpoints.{action}", "whe_1")
    await close(client)
    assert endpoint.enabled is enabled
    assert route.calls.last.request.content == b""
    assert "Idempotency-Key" in route.calls.last.request.headers


async def test_deliveries(flavour: str, router: Any) -> None:
    router.get("/v1/webhook-endpoints/whe_1/deliveries").respond(
        200,
        json={
            "data": [delivery_json("dlv_1"), delivery_json("dlv_2", attempt=2, status="pending")],
            "next_cursor": None,
        },
    )
    client = make_client(flavour)
    deliveries = await collect(client.webhook_endpoints.deliveries("whe_1"))
    await close(client)
    assert [(d.id, d.attempt, d.status) for d in deliveries] == [
        ("dlv_1", 1, DeliveryStatus.FAILED),
        ("dlv_2", 2, DeliveryStatus.PENDING),
    ]


async def test_retry_delivery(flavour: str, router: Any) -> None:
    route = router.post("/v1/webhook-endpoints/whe_1/deliveries/dlv_1/retry").respond(
        202, json=delivery_json("dlv_3", attempt=2, status="pending", status_code=None)
    )
    client = make_client(flavour)
    delivery = await call(
        client, "webhook_endpoints.retry_delivery", "whe_1", "dlv_1", idempotency_key="r-1"
    )
    await close(client)
    assert isinstance(delivery, WebhookDelivery)
    assert delivery.id == "dlv_3"
    assert route.calls.last.request.headers["Idempotency-Key"] == "r-1"


async def test_page_size_is_checked(flavour: str, router: Any) -> None:
    client = make_client(flavour)
    with pytest.raises(ValueError, match="page_size"):
        client.webhook_endpoints.list(page_size=101)
    with pytest.raises(ValueError, match="page_size"):
        client.webhook_endpoints.deliveries("whe_1", page_size=0)
    await close(client)
