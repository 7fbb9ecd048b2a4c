"""OAuth 2.0 client credentials at /oauth/token, and bearer tokens on /v1."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest

from mock.mock_support import Agency, advance, assert_problem, assert_schema

if TYPE_CHECKING:
    import httpx

    from crs_mock import MockPlatform

pytestmark = pytest.mark.anyio

GRANT = {"grant_type": "client_credentials"}


async def test_token_with_http_basic(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data=GRANT, auth=("demo-agency", "demo-secret"))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert_schema("TokenResponse", body)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] is None  # v1 defines no scopes


async def test_token_with_form_fields(client: httpx.AsyncClient) -> None:
    form = {**GRANT, "client_id": "demo-agency", "client_secret": "demo-secret", "scope": "crs"}
    response = await client.post("/oauth/token", data=form)
    assert response.status_code == 200
    token = response.json()["access_token"]
    listed = await client.get("/v1/reports", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200


async def test_basic_credentials_are_form_decoded(
    client: httpx.AsyncClient, mock: MockPlatform
) -> None:
    mock.add_agency("unit:7", "p@ss word")
    raw = base64.b64encode(b"unit%3A7:p%40ss+word").decode()
    response = await client.post(
        "/oauth/token", data=GRANT, headers={"Authorization": f"Basic {raw}"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("auth", "form"),
    [
        (("demo-agency", "wrong"), {}),
        (("nobody", "demo-secret"), {}),
        (None, {"client_id": "demo-agency", "client_secret": "wrong"}),
        (None, {}),
    ],
)
async def test_wrong_client_credentials(
    client: httpx.AsyncClient, auth: tuple[str, str] | None, form: dict[str, str]
) -> None:
    response = await client.post("/oauth/token", data={**GRANT, **form}, auth=auth)
    body = assert_problem(response, 401, "invalid_client")
    assert body["error"] == "invalid_client"
    assert body["error_description"]
    if auth is not None:
        assert response.headers["www-authenticate"] == 'Basic realm="crs"'
    assert "demo-secret" not in response.text


async def test_token_request_errors(client: httpx.AsyncClient) -> None:
    basic = ("demo-agency", "demo-secret")
    missing = await client.post("/oauth/token", data={}, auth=basic)
    assert assert_problem(missing, 400, "invalid_request")["error"] == "invalid_request"
    grant = await client.post("/oauth/token", data={"grant_type": "password"}, auth=basic)
    assert assert_problem(grant, 400, "unsupported_grant_type")["error"] == "unsupported_grant_type"
    scope = await client.post("/oauth/token", data={**GRANT, "scope": "anything"}, auth=basic)
    assert scope.status_code == 200  # v1 defines no scopes; a requested one is ignored
    as_json = await client.post("/oauth/token", json=GRANT, auth=basic)
    assert_problem(as_json, 415, "unsupported_media_type")
    both = await client.post(
        "/oauth/token",
        data={**GRANT, "client_id": "demo-agency", "client_secret": "demo-secret"},
        auth=basic,
    )
    assert_problem(both, 400, "invalid_request")


async def test_missing_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer realm="crs"'


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic ZGVtbzpkZW1v", "Bearer "])
async def test_wrong_token(client: httpx.AsyncClient, header: str) -> None:
    response = await client.post("/v1/reports", json={}, headers={"Authorization": header})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith('Bearer realm="crs"')


async def test_token_expires_on_the_virtual_clock(client: httpx.AsyncClient, demo: Agency) -> None:
    assert (await demo.get("/v1/reports")).status_code == 200
    await advance(client, 3599)
    assert (await demo.get("/v1/reports")).status_code == 200
    await advance(client, 1)
    response = await demo.get("/v1/reports")
    assert_problem(response, 401, "unauthorized")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    await demo.login()
    assert (await demo.get("/v1/reports")).status_code == 200


async def test_agency_isolation(demo: Agency, other: Agency) -> None:
    report = await demo.create()
    for response in [
        await other.get(f"/v1/reports/{report['id']}"),
        await other.post(f"/v1/reports/{report['id']}/submit"),
        await other.post(f"/v1/reports/{report['id']}/withdraw"),
    ]:
        assert_problem(response, 404, "not_found")
    assert (await other.get("/v1/reports")).json()["data"] == []
    assert await other.events() == []
    # Client references are unique per agency, not globally.
    assert (await other.create())["client_reference"] == report["client_reference"]
    assert (await demo.report(report["id"]))["status"] == "draft"
