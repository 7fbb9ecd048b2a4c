"""Webhook endpoints: CRUD, URL rules, secrets, event-type filtering, synthetic events, reset.

Deliveries go to an in-process receiver (`httpx.MockTransport`); the tests drive the outbox with
``await mock.deliver_due()`` since an in-process app runs no lifespan worker.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import MockPlatform, ReviewClock, create_app
from crs_sdk import UnknownEvent
from mock.mock_support import (
    AGENCIES,
    START_TEXT,
    Agency,
    advance,
    assert_problem,
    assert_schema,
)
from mock.webhook_support import (
    Receiver,
    app_delivering_to,
    body,
    deliveries,
    register,
    verify,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.applications import Starlette

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def app(clock: ReviewClock, receiver: Receiver) -> Iterator[Starlette]:
    yield from app_delivering_to(clock, receiver)


# -- endpoints ----------------------------------------------------------------------------------


async def test_create_shows_the_secret_once(demo: Agency) -> None:
    response = await demo.post(
        "/v1/webhook-endpoints",
        {
            "url": "https://hooks.example/crs",
            "event_types": ["report.decided", "report.info_requested"],
            "description": "Case management (test)",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert_schema("WebhookEndpointWithSecret", created)
    assert response.headers["location"] == f"/v1/webhook-endpoints/{created['id']}"
    assert created["id"].startswith("whe_")
    assert created["enabled"] is True
    assert created["disabled_reason"] is None
    assert created["secret_rotation_ends_at"] is None
    assert created["created_at"] == START_TEXT
    assert created["description"] == "Case management (test)"
    assert created["secret"].startswith("whsec_")
    assert 24 <= len(base64.b64decode(created["secret"].removeprefix("whsec_"))) <= 64

    fetched = (await demo.get(f"/v1/webhook-endpoints/{created['id']}")).json()
    assert_schema("WebhookEndpoint", fetched)
    assert "secret" not in fetched
    assert fetched == {key: value for key, value in created.items() if key != "secret"}
    listed = (await demo.get("/v1/webhook-endpoints")).json()
    assert_schema("WebhookEndpointPage", listed)
    assert listed == {"data": [fetched], "next_cursor": None}
    assert created["secret"] not in json.dumps(listed)


async def test_two_endpoints_get_different_secrets_and_page(demo: Agency) -> None:
    first = await register(demo)
    second = await register(demo, "https://other.example/hook", ["report.created"])
    assert first["secret"] != second["secret"]
    page = (await demo.get("/v1/webhook-endpoints", params={"limit": 1})).json()
    assert [endpoint["id"] for endpoint in page["data"]] == [first["id"]]
    rest = await demo.get("/v1/webhook-endpoints", params={"cursor": page["next_cursor"]})
    assert [endpoint["id"] for endpoint in rest.json()["data"]] == [second["id"]]
    assert rest.json()["next_cursor"] is None
    bad = await demo.get("/v1/webhook-endpoints", params={"cursor": "nonsense"})
    assert assert_problem(bad, 400, "invalid_request")["parameter"] == "cursor"


async def test_delete(demo: Agency) -> None:
    endpoint = await register(demo)
    response = await demo.client.delete(
        f"/v1/webhook-endpoints/{endpoint['id']}", headers=demo.headers
    )
    assert response.status_code == 204
    assert_problem(await demo.get(f"/v1/webhook-endpoints/{endpoint['id']}"), 404, "not_found")
    assert (await demo.get("/v1/webhook-endpoints")).json()["data"] == []


async def test_idempotent_create_replays_the_same_endpoint(demo: Agency) -> None:
    payload = {"url": "https://hooks.example/crs", "event_types": ["*"]}
    first = await demo.post("/v1/webhook-endpoints", payload, key="hook-1")
    again = await demo.post("/v1/webhook-endpoints", payload, key="hook-1")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len((await demo.get("/v1/webhook-endpoints")).json()["data"]) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example/crs",
        "https://hooks.example:8443/crs?x=1",
        "http://127.0.0.1:8000/hooks",
        "http://127.20.30.40/hooks",
        "http://[::1]:9000/hooks",
        "http://localhost/hooks",
        "http://LOCALHOST:8080/",
        "http://[::ffff:127.0.0.1]:8000/hooks",  # loopback, IPv4-mapped
    ],
)
async def test_accepted_urls(demo: Agency, url: str) -> None:
    assert (await register(demo, url))["url"] == url


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://hooks.example/crs", "loopback"),
        ("http://10.0.0.1/crs", "loopback"),
        ("http://localhost.example.com/", "loopback"),
        ("ftp://hooks.example/crs", "http or https"),
        ("https:///no-host", "host"),
        ("https://hooks.example:99999/", "port"),
        ("http://[::1/crs", "valid URL"),
        # urlsplit accepts these hosts; httpx cannot build a request to them.
        ("https://xn--a.com/", "IDNA"),
        ("https://[::1]]/crs", "valid URL"),  # urlsplit takes them; httpx could not deliver
        ("http://[::1]x/crs", "valid URL"),
        ("https://[v1.fe]/crs", "valid URL"),
        ("https://hooks.example:0/crs", "port"),
        ("https://user:secret@hooks.example/crs", "credentials"),
        ("https://user@hooks.example/crs", "credentials"),
        ("https://a\u00adb.example/", "IDNA"),
        ("http://xn--a.com/", "IDNA"),
        ("https://hooks\x85.example/", "U+0085"),  # a control character: the contract says so
    ],
)
async def test_refused_urls(demo: Agency, url: str, detail: str) -> None:
    response = await demo.post("/v1/webhook-endpoints", {"url": url, "event_types": ["*"]})
    problem = assert_problem(response, 422, "validation_error")
    assert [error["pointer"] for error in problem["errors"]] == ["/url"]
    assert detail in problem["errors"][0]["detail"]


async def test_insecure_urls_when_allowed(clock: ReviewClock) -> None:
    application = create_app(clock=clock, agencies=AGENCIES, allow_insecure_webhooks=True)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
        agency = Agency(http, "demo-agency")
        await agency.login()
        assert (await register(agency, "http://hooks.example/crs"))["url"] == (
            "http://hooks.example/crs"
        )
    application.state.mock.close()


@pytest.mark.parametrize(
    "payload",
    [
        {"url": "https://hooks.example/", "event_types": []},
        {"url": "https://hooks.example/", "event_types": ["report.nonsense"]},
        {"url": "https://hooks.example/", "event_types": ["*", "report.created"]},
        {"url": "https://hooks.example/"},
        {"url": "https://hooks.example/", "event_types": ["*"], "secret": "whsec_x"},
    ],
)
async def test_invalid_bodies(demo: Agency, payload: dict[str, object]) -> None:
    assert_problem(await demo.post("/v1/webhook-endpoints", payload), 422, "validation_error")


async def test_another_agencys_endpoint_is_not_found(demo: Agency, other: Agency) -> None:
    endpoint = await register(demo)
    base = f"/v1/webhook-endpoints/{endpoint['id']}"
    assert_problem(await other.get(base), 404, "not_found")
    assert_problem(await other.get(f"{base}/deliveries"), 404, "not_found")
    for action in ("rotate-secret", "disable", "enable", "deliveries/dlv_0/retry"):
        assert_problem(await other.post(f"{base}/{action}"), 404, "not_found")
    deleted = await other.client.delete(base, headers=other.headers)
    assert_problem(deleted, 404, "not_found")
    assert (await other.get("/v1/webhook-endpoints")).json()["data"] == []
    assert (await demo.get(base)).status_code == 200


async def test_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/webhook-endpoints"), 401, "unauthorized")


# -- deliveries of a report's lifecycle ---------------------------------------------------------


async def test_lifecycle_delivers_every_event_once(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo)
    report = await demo.submitted()
    await advance(client, 10)
    assert await mock.deliver_due() == 5
    assert await mock.deliver_due() == 0

    log = await demo.events()
    assert [event["type"] for event in log] == [
        "report.created",
        "report.submitted",
        "report.acknowledged",
        "report.in_review",
        "report.decided",
    ]
    by_id = {body(request)["id"]: request for request in receiver.received}
    assert sorted(by_id) == [event["id"] for event in log]
    for event in log:
        request = by_id[event["id"]]
        assert request.method == "POST"
        assert str(request.url) == endpoint["url"]
        assert json.loads(request.content) == event
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("crs-mock/")
        assert request.headers["webhook-id"].startswith("msg_")
        verified = verify(endpoint["secret"], request)
        assert verified.id == event["id"]
        assert verified.type == event["type"]
    assert body(by_id[log[-1]["id"]])["data"]["report_id"] == report["id"]
    assert len({request.headers["webhook-id"] for request in receiver.received}) == 5

    attempts = await deliveries(demo, endpoint["id"])
    assert_schema("WebhookDeliveryPage", {"data": attempts, "next_cursor": None})
    assert {attempt["event_id"] for attempt in attempts} == set(by_id)
    for attempt in attempts:
        assert attempt["status"] == "succeeded"
        assert attempt["status_code"] == 204
        assert attempt["attempt"] == 1
        assert attempt["error"] is None
        assert attempt["next_attempt_at"] is None
        assert attempt["duration_ms"] >= 0
        assert attempt["endpoint_id"] == endpoint["id"]
        assert attempt["webhook_id"] == by_id[attempt["event_id"]].headers["webhook-id"]
    # Newest first.
    assert [a["event_id"] for a in attempts] == sorted(
        (a["event_id"] for a in attempts), reverse=True
    )


async def test_deliveries_page_newest_first(
    demo: Agency, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(demo, event_types=["report.created"])
    for n in range(3):
        await demo.create(client_reference=f"CP-{n}")
    await mock.deliver_due()
    first = (
        await demo.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params={"limit": 2})
    ).json()
    rest = (
        await demo.get(
            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries",
            params={"cursor": first["next_cursor"]},
        )
    ).json()
    assert rest["next_cursor"] is None
    events = [attempt["event_id"] for attempt in first["data"] + rest["data"]]
    assert events == sorted(body(request)["id"] for request in receiver.received)[::-1]


async def test_event_type_filtering(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    created = await register(demo, "https://a.example/hook", ["report.created"])
    decided = await register(demo, "https://b.example/hook", ["report.decided", "report.expired"])
    paused = await register(demo, "https://c.example/hook")
    await demo.post(f"/v1/webhook-endpoints/{paused['id']}/disable")
    await demo.submitted()
    await advance(client, 10)
    await mock.deliver_due()
    assert [body(r)["type"] for r in receiver.to(created["url"])] == ["report.created"]
    assert [body(r)["type"] for r in receiver.to(decided["url"])] == ["report.decided"]
    assert receiver.to(paused["url"]) == []
    assert await deliveries(demo, paused["id"]) == []


async def test_only_the_agencys_own_events(
    demo: Agency, other: Agency, mock: MockPlatform, receiver: Receiver
) -> None:
    await register(demo)
    await other.create()
    await mock.deliver_due()
    assert receiver.received == []


async def test_endpoint_registered_later_gets_only_new_events(
    demo: Agency, mock: MockPlatform, receiver: Receiver
) -> None:
    await demo.create(client_reference="before")
    await register(demo)
    await demo.create(client_reference="after")
    await mock.deliver_due()
    assert [body(r)["data"]["client_reference"] for r in receiver.received] == ["after"]


# -- synthetic events ---------------------------------------------------------------------------


async def test_synthetic_event_of_an_unknown_type(
    demo: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    everything = await register(demo, "https://all.example/hook")
    decisions = await register(demo, "https://decided.example/hook", ["report.decided"])
    response = await client.post(
        "/_mock/events",
        json={"type": "report.escalated_to_law_enforcement", "data": {"report_id": "rpt_x1"}},
    )
    assert response.status_code == 201, response.text
    event = response.json()
    assert_schema("MockEvent", event)
    assert event["type"] == "report.escalated_to_law_enforcement"
    assert event["timestamp"] == START_TEXT
    assert (await demo.events())[-1] == event
    await mock.deliver_due()
    (request,) = receiver.to(everything["url"])
    assert json.loads(request.content) == event
    verified = verify(everything["secret"], request)
    assert isinstance(verified, UnknownEvent)
    assert verified.data == {"report_id": "rpt_x1"}
    assert receiver.to(decisions["url"]) == []
    (attempt,) = await deliveries(demo, everything["id"])
    assert attempt["event_type"] == "report.escalated_to_law_enforcement"


async def test_synthetic_event_of_a_known_type_for_another_agency(
    other: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    endpoint = await register(other, event_types=["report.expired"])
    data = {
        "report_id": "rpt_1",
        "client_reference": "X",
        "status": "expired",
        "previous_status": "draft",
    }
    response = await client.post(
        "/_mock/events", json={"client_id": "other-agency", "type": "report.expired", "data": data}
    )
    assert response.status_code == 201, response.text
    await mock.deliver_due()
    (request,) = receiver.received
    assert verify(endpoint["secret"], request).type == "report.expired"


@pytest.mark.parametrize(
    ("payload", "pointer"),
    [
        ({"client_id": "nobody", "type": "report.created", "data": {}}, "/client_id"),
        ({"type": "Not A Type", "data": {}}, "/type"),
        ({"type": "report.created"}, "/data"),
        ({"type": "report.created", "data": []}, "/data"),
    ],
)
async def test_synthetic_event_validation(
    client: httpx.AsyncClient, payload: dict[str, object], pointer: str
) -> None:
    problem = assert_problem(
        await client.post("/_mock/events", json=payload), 422, "validation_error"
    )
    assert [error["pointer"] for error in problem["errors"]] == [pointer]


# -- reset --------------------------------------------------------------------------------------


async def test_reset_clears_endpoints(
    demo: Agency, other: Agency, client: httpx.AsyncClient, mock: MockPlatform, receiver: Receiver
) -> None:
    await register(demo)
    kept = await register(other)
    await demo.create()
    response = await client.post("/_mock/reset", json={"agency_id": "demo-agency"})
    assert response.status_code == 204
    assert (await demo.get("/v1/webhook-endpoints")).json()["data"] == []
    assert [e["id"] for e in (await other.get("/v1/webhook-endpoints")).json()["data"]] == [
        kept["id"]
    ]
    assert await mock.deliver_due() == 0  # the pending delivery went with its endpoint
    assert (await client.post("/_mock/reset")).status_code == 204
    await other.login()
    assert (await other.get("/v1/webhook-endpoints")).json()["data"] == []
    assert receiver.received == []
