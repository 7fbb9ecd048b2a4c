"""OAuth 2.0 client credentials at /oauth/token, and bearer tokens on /v1."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import create_app
from mock.mock_support import Agency, advance, assert_problem, assert_schema

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.applications import Starlette

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


async def test_an_agency_no_longer_configured_is_retired_on_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``crs-mock serve --client ...`` on a database the demo agency used: the published demo
    credential stops working (and its tokens), its data stays; naming it again brings it back."""
    db = tmp_path / "state.sqlite3"
    first = create_app(db=db)
    async with _client_of(first) as client:
        demo = Agency(client, "demo-agency")
        await demo.login()
        report = await demo.create()
        old_headers = demo.headers
        first.state.mock.add_agency("added-at-run-time", "its-secret")
    first.state.mock.close()

    second = create_app(db=db, agencies={"ministry": "s3cret"})
    async with _client_of(second) as client:
        refused = await client.post("/oauth/token", data=GRANT, auth=("demo-agency", "demo-secret"))
        assert_problem(refused, 401, "invalid_client")
        old = await client.get("/v1/reports", headers=old_headers)
        assert_problem(old, 401, "unauthorized")
        kept = await client.post(
            "/oauth/token", data=GRANT, auth=("added-at-run-time", "its-secret")
        )
        assert kept.status_code == 200
        assert (
            await client.post("/oauth/token", data=GRANT, auth=("ministry", "s3cret"))
        ).is_success
    second.state.mock.close()
    assert "Agency 'demo-agency' is no longer configured" in caplog.text

    third = create_app(db=db)  # the demo agency configured again: back, with its data
    async with _client_of(third) as client:
        demo = Agency(client, "demo-agency")
        await demo.login()
        assert (await demo.get(f"/v1/reports/{report['id']}")).status_code == 200
    third.state.mock.close()


def _client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crs.test")
