"""Helpers for the mock server's tests: contract checks, request bodies, an agency client."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from crs_mock import ReviewClock, ThreadedServer, create_app
from crs_mock._store import STATE_TABLES

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from crs_mock import MockPlatform

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
START_TEXT = "2026-01-01T00:00:00.000Z"
AGENCIES = {"demo-agency": "demo-secret", "other-agency": "other-secret"}

REPORT: dict[str, Any] = {
    "client_reference": "CP-2026-0001",
    "items": [
        {
            "url": "https://www.facebook.com/groups/1/posts/2",
            "platform": "facebook",
            "content_type": "post",
        }
    ],
    "category": "grooming",
    "violation_basis": "policy_violation",
    "explanation": "The account solicits private contact from children.",
    "requested_actions": ["remove", "preserve"],
    "reporting_officer": {"name": "Amelia Hartley", "email": "amelia.hartley@ministry.example.gov"},
    "good_faith_declaration": True,
}


def serving(**options: Any) -> Iterator[ThreadedServer]:
    """The app (`create_app` with `options`) on a real loopback socket, on a frozen clock."""
    application = create_app(
        agencies=AGENCIES, clock=ReviewClock(start=START, frozen=True), **options
    )
    try:
        with ThreadedServer(application) as running:
            yield running
    finally:
        application.state.mock.close()


def report_body(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(REPORT)
    body.update(overrides)
    return body


def item(url: str) -> dict[str, str]:
    return {"url": url, "platform": "instagram", "content_type": "reel"}


_CONTRACT = json.loads(resources.files("crs_mock").joinpath("openapi.json").read_bytes())
_REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:test:contract", Resource.from_contents(_CONTRACT, default_specification=DRAFT202012)
)


def assert_schema(name: str, instance: Any) -> None:
    """`instance` is a valid `name` of the contract (components/schemas)."""
    validator = Draft202012Validator(
        {"$ref": f"urn:test:contract#/components/schemas/{name}"}, registry=_REGISTRY
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, errors


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """`response` is a contract Problem with this status and code; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert_schema("Problem", body)
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:crs:problem:{code}"
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["instance"] == response.request.url.path
    return body


def state(mock: MockPlatform) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a request could change (the journal aside)."""
    with mock.store.transaction() as tx:
        return {
            table: [tuple(row) for row in tx.all(f"SELECT * FROM {table} ORDER BY 1")]  # noqa: S608
            for table in (*STATE_TABLES, "agencies", "fault_rules")
        }


@dataclass
class Agency:
    """An httpx client acting as one agency, with a valid token."""

    client: httpx.AsyncClient
    client_id: str
    headers: dict[str, str] = field(default_factory=dict)

    async def login(self) -> None:
        response = await self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, AGENCIES[self.client_id]),
        )
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.headers, **kwargs)

    async def post(
        self, path: str, body: Any = None, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(path, json=body, headers=headers, **kwargs)

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.post("/v1/reports", report_body(**overrides))
        assert response.status_code == 201, response.text
        report: dict[str, Any] = response.json()
        return report

    async def submitted(self, **overrides: Any) -> dict[str, Any]:
        report = await self.create(**overrides)
        response = await self.post(f"/v1/reports/{report['id']}/submit")
        assert response.status_code == 200, response.text
        submitted: dict[str, Any] = response.json()
        return submitted

    async def report(self, report_id: str) -> dict[str, Any]:
        response = await self.get(f"/v1/reports/{report_id}")
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        return report

    async def events(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.get("/v1/events", params=params)
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["data"]
        return events


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    response = await client.post("/_mock/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text
