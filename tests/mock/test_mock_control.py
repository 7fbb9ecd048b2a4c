"""The /_mock/ control API, service endpoints, request ids and routing problems."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING

import pytest

from crs_mock import MockControl, ReviewClock, create_app
from crs_mock._clock import LATEST_TIME
from mock.mock_support import START_TEXT, Agency, assert_problem, assert_schema, report_body

if TYPE_CHECKING:
    from pathlib import Path

    import httpx
    from starlette.applications import Starlette

    from crs_mock import MockPlatform

pytestmark = pytest.mark.anyio


async def test_healthz_and_openapi(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.json() == {"status": "ok"}
    assert health.headers["x-request-id"].startswith("req_")
    document = await client.get("/openapi.json")
    assert document.status_code == 200
    packaged = resources.files("crs_mock").joinpath("openapi.json").read_bytes()
    assert document.content == packaged
    assert json.loads(document.content)["openapi"].startswith("3.1")


async def test_every_response_has_its_own_request_id(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404, "not_found")
    wrong = await client.put("/v1/reports")
    assert_problem(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, HEAD, POST"


async def test_clock(client: httpx.AsyncClient, mock: MockPlatform) -> None:
    clock = (await client.get("/_mock/clock")).json()
    assert_schema("ClockState", clock)
    assert clock == {"now": START_TEXT, "frozen": True}
    advanced = (await client.post("/_mock/clock/advance", json={"seconds": 90.5})).json()
    assert advanced == {"now": "2026-01-01T00:01:30.500Z", "frozen": True}
    running = (await client.post("/_mock/clock/unfreeze")).json()
    assert running["frozen"] is False
    frozen = (await client.post("/_mock/clock/freeze")).json()
    assert frozen["frozen"] is True
    assert frozen["now"] >= advanced["now"]
    assert mock.clock.frozen


@pytest.mark.parametrize(
    "start",
    [math.nan, -1.0, LATEST_TIME + 1, datetime(9999, 12, 31, tzinfo=timezone.utc)],
    ids=["nan", "before-1970", "past-the-latest", "year-9999"],
)
def test_a_clock_cannot_start_where_no_timestamp_can_be_written(start: float | datetime) -> None:
    """Such a start was taken, and every answer with a timestamp in it was a 500."""
    with pytest.raises(ValueError, match="start must be from 1970-01-01T00:00:00Z to 9000-01-01"):
        ReviewClock(start=start)
    assert ReviewClock(start=LATEST_TIME, frozen=True).now() == LATEST_TIME


@pytest.mark.parametrize("body", [{}, {"seconds": -1}, {"seconds": "10"}, {"seconds": 1, "x": 2}])
async def test_clock_advance_validation(client: httpx.AsyncClient, body: object) -> None:
    assert_problem(await client.post("/_mock/clock/advance", json=body), 422, "validation_error")


async def test_reset_everything(
    client: httpx.AsyncClient, demo: Agency, mock: MockPlatform
) -> None:
    await demo.create()
    last_id = (await demo.events())[-1]["id"]
    await client.post("/_mock/agencies", json={"client_id": "extra", "client_secret": "s3cret"})
    response = await client.post("/_mock/reset")
    assert response.status_code == 204
    assert (await demo.get("/v1/reports")).json()["data"] == []  # the token still works
    assert await demo.events() == []
    agencies = (await client.get("/_mock/agencies")).json()["data"]
    assert [agency["client_id"] for agency in agencies] == ["demo-agency", "other-agency"]
    assert mock.clock.frozen is False  # reset to real time, running
    mock.clock.freeze()
    await demo.create()
    assert (await demo.events())[0]["id"] > last_id  # ids are never reissued


async def test_reset_one_agency(client: httpx.AsyncClient, demo: Agency, other: Agency) -> None:
    await demo.create()
    await other.create()
    response = await client.post("/_mock/reset", json={"agency_id": "demo-agency"})
    assert response.status_code == 204
    assert (await demo.get("/v1/reports")).json()["data"] == []
    assert len((await other.get("/v1/reports")).json()["data"]) == 1
    unknown = await client.post("/_mock/reset", json={"agency_id": "nobody"})
    body = assert_problem(unknown, 422, "validation_error")  # as the contract says: a 404 is not
    assert body["errors"] == [{"pointer": "/agency_id", "detail": "No agency nobody"}]
    assert len((await other.get("/v1/reports")).json()["data"]) == 1
    assert_problem(await client.post("/_mock/reset", json={"agency": 1}), 422, "validation_error")


async def test_resetting_an_agency_that_is_gone_from_python_is_a_lookup_error(
    client: httpx.AsyncClient, app: Starlette, mock: MockPlatform
) -> None:
    """The Python API raises a Python exception, not the server's internal problem type: a test
    whose agency a full reset dropped learns so from `MockControl.reset`."""
    await client.post("/_mock/agencies", json={"client_id": "extra", "client_secret": "s3cret"})
    control = MockControl(app, agency_id="extra", client_secret="s3cret", base_url="http://t")
    control.reset()
    assert (await client.post("/_mock/reset")).status_code == 204
    with pytest.raises(LookupError, match="no agency extra; nothing was reset"):
        control.reset()
    with pytest.raises(LookupError, match="no agency nobody"):
        mock.reset("nobody")


@pytest.mark.parametrize(
    ("client_id", "secret", "says"),
    [
        ("", "s3cret", "agency '': client_id: Must be at least 1 character long"),
        ("unit-7", "", "agency 'unit-7': client_secret: Must be at least 1 character long"),
        ("unit\x007", "s3cret", "client_id: Must be a single line without control characters"),
        ("unit-7", "hush\nhush", "client_secret: Must be a single line without control"),
    ],
)
def test_the_python_api_seeds_only_agencies_the_control_api_would(
    mock: MockPlatform, tmp_path: Path, client_id: str, secret: str, says: str
) -> None:
    """They were stored (an empty client id, a secret with a line break); refused now before
    anything is written, and the message never shows the secret."""
    with pytest.raises(ValueError, match=re.escape(says)) as refused:
        mock.add_agency(client_id, secret)
    assert "hush" not in str(refused.value)
    assert not mock.agencies.known(client_id)
    db = tmp_path / "mock.sqlite3"
    with pytest.raises(ValueError, match=re.escape(says)):
        create_app(db=db, agencies={client_id: secret})
    assert not db.exists()


async def test_agencies(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_mock/agencies", json={"client_id": "ministry-cp-unit", "client_secret": "s3cret-for-ci"}
    )
    assert created.status_code == 201
    assert_schema("Agency", created.json())
    assert created.json()["configured"] is False
    assert "s3cret" not in created.text
    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ministry-cp-unit", "s3cret-for-ci"),
    )
    assert token.status_code == 200
    replaced = await client.post(
        "/_mock/agencies", json={"client_id": "ministry-cp-unit", "client_secret": "rotated"}
    )
    assert replaced.status_code == 200
    listed = await client.get("/_mock/agencies")
    assert_schema("AgencyPage", listed.json())
    assert "rotated" not in listed.text
    assert "demo-secret" not in listed.text
    old = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ministry-cp-unit", "s3cret-for-ci"),
    )
    assert_problem(old, 401, "invalid_client")
    missing = await client.post("/_mock/agencies", json={"client_id": "x"})
    problem = assert_problem(missing, 422, "validation_error")
    assert [error["pointer"] for error in problem["errors"]] == ["/client_secret"]


async def test_internal_errors_are_problems(
    demo: Agency, mock: MockPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(mock.review, "schedule_new", broken)
    failed = await demo.post("/v1/reports", report_body(), key="k2")
    assert_problem(failed, 500, "internal_error")
    assert (await demo.get("/v1/reports")).json()["data"] == []
    monkeypatch.undo()
    retried = await demo.post("/v1/reports", report_body(), key="k2")
    assert retried.status_code == 201  # a 5xx is not stored: the retry runs


def test_every_route_is_in_the_contract() -> None:
    from starlette.routing import Route

    from crs_mock._app import ROUTES

    paths = json.loads(resources.files("crs_mock").joinpath("openapi.json").read_bytes())["paths"]
    for route in ROUTES:
        assert isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in paths.get(route.path, {}), f"{method} {route.path}"


def test_public_names() -> None:
    import crs_mock

    assert crs_mock.__all__ == sorted(crs_mock.__all__)
    assert all(hasattr(crs_mock, name) for name in crs_mock.__all__)
    public = {name for name in vars(crs_mock) if not name.startswith("_")}
    assert public == set(crs_mock.__all__) - {"__version__"}
