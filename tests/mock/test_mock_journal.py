"""The request journal: what is kept (and what never is), filters, the long-poll wait, bounds."""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from crs_mock import MockControl
from crs_mock._journal import JournalFilter
from crs_mock._operations import faultable_operations
from mock.mock_support import Agency, assert_problem, assert_schema, report_body

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from crs_mock import MockPlatform, ThreadedServer

pytestmark = pytest.mark.anyio


async def journal(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/_mock/requests", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert_schema("JournalPage", page)
    return list(page["data"])


async def test_an_entry_describes_the_exchange(client: httpx.AsyncClient, demo: Agency) -> None:
    response = await demo.post("/v1/reports", report_body(), key="key-1")
    [entry] = await journal(client, operation_id="createReport")
    assert entry["id"] == response.headers["x-request-id"]
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1/reports"
    assert entry["query"] is None
    assert entry["status_code"] == 201
    assert entry["client_id"] == "demo-agency"
    assert entry["idempotency_key"] == "key-1"
    assert entry["idempotent_replayed"] is False
    assert entry["request_body_size"] == len(response.request.content)
    assert entry["response_body_size"] == len(response.content)
    assert entry["fault_id"] is None
    assert entry["duration_ms"] >= 0
    assert entry["received_at"] == "2026-01-01T00:00:00.000Z"
    assert entry["request_headers"]["authorization"] == "[redacted]"
    assert entry["request_headers"]["idempotency-key"] == "key-1"


async def test_secrets_are_never_stored(client: httpx.AsyncClient, mock: MockPlatform) -> None:
    await client.post(
        "/oauth/token?client_secret=leak-1",
        data={"grant_type": "client_credentials", "client_id": "demo-agency"}
        | {"client_secret": "demo-secret"},
        headers={"Cookie": "session=leak-2", "X-Api-Token": "leak-3"},
    )
    token = (
        await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("demo-agency", "demo-secret"),
        )
    ).json()["access_token"]
    await client.get("/v1/reports", headers={"Authorization": f"Bearer {token}"})
    with mock.store.transaction() as tx:
        stored = json.dumps([dict(row) for row in tx.all("SELECT * FROM journal")])
    for secret in ("demo-secret", "leak-1", "leak-2", "leak-3", token):
        assert secret not in stored
    entries = await journal(client)
    assert [e["client_id"] for e in entries] == ["demo-agency"] * 3
    assert entries[0]["query"] == "client_secret=%5Bredacted%5D"
    assert entries[0]["request_headers"]["cookie"] == "[redacted]"
    assert entries[0]["request_headers"]["x-api-token"] == "[redacted]"


async def test_control_api_is_not_journaled(client: httpx.AsyncClient) -> None:
    await client.get("/_mock/clock")
    await client.get("/healthz")
    assert [e["path"] for e in await journal(client)] == ["/healthz"]


async def test_filters(client: httpx.AsyncClient, demo: Agency, other: Agency) -> None:
    report = await demo.create()
    await demo.post(f"/v1/reports/{report['id']}/submit")
    await demo.get("/v1/reports/rpt_missing")
    await other.get("/v1/reports")

    def paths(entries: list[dict[str, Any]]) -> list[str]:
        return [f"{e['method']} {e['path']}" for e in entries]

    assert paths(await journal(client, agency_id="other-agency")) == [
        "POST /oauth/token",
        "GET /v1/reports",
    ]
    assert paths(await journal(client, agency_id="demo-agency", method="GET")) == [
        "GET /v1/reports/rpt_missing"
    ]
    assert paths(await journal(client, path="/v1/reports/*/submit")) == [
        f"POST /v1/reports/{report['id']}/submit"
    ]
    assert paths(await journal(client, status=404)) == ["GET /v1/reports/rpt_missing"]
    assert len(await journal(client, operation_id="createToken")) == 2
    assert await journal(client, since="2026-01-01T00:00:01Z") == []


async def test_pages(client: httpx.AsyncClient, demo: Agency) -> None:
    for _ in range(4):
        await demo.get("/v1/reports")
    first = (await client.get("/_mock/requests", params={"limit": 3})).json()
    assert len(first["data"]) == 3
    rest = await journal(client, cursor=first["next_cursor"])
    assert [e["sequence"] for e in first["data"] + rest] == list(range(1, 6))


@pytest.mark.parametrize(
    "params",
    [{"since": "yesterday"}, {"status": "ok"}, {"cursor": "x"}, {"path": "v1"}, {"limit": 0}],
)
async def test_bad_filters_are_400s(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    answer = await client.get("/_mock/requests", params=params)
    problem = assert_problem(answer, 400, "invalid_request")
    assert problem["parameter"] == next(iter(params))


@pytest.mark.parametrize(
    "operation_id", ["submitReprot", "SubmitReport", "mockListRequests", "mockCreateFault"]
)
@pytest.mark.parametrize("path", ["/_mock/requests", "/_mock/requests/wait"])
async def test_an_operation_id_that_could_never_match_is_a_400(
    client: httpx.AsyncClient, demo: Agency, path: str, operation_id: str
) -> None:
    """Only operations outside /_mock/ are journaled: a typo used to match nothing, silently."""
    await demo.get("/v1/reports")
    params = {"operation_id": operation_id} | ({"timeout": 0} if path.endswith("/wait") else {})
    problem = assert_problem(await client.get(path, params=params), 400, "invalid_request")
    assert problem["detail"].startswith("operation_id must be")
    assert problem["parameter"] == "operation_id"


def test_the_python_journal_queries_refuse_an_unknown_operation_id(
    crs_mock_app: MockControl,
) -> None:
    with pytest.raises(ValueError, match="operation_id must be the operationId"):
        crs_mock_app.requests(operation_id="submitReprot")
    with pytest.raises(ValueError, match="operation_id must be the operationId"):
        crs_mock_app.wait_for_request(operation_id="mockListRequests", timeout=0)


def test_the_journal_filter_takes_the_operations_a_fault_rule_takes() -> None:
    contract = json.loads(resources.files("crs_mock").joinpath("openapi.json").read_bytes())
    fault = contract["components"]["schemas"]["FaultRuleCreate"]["properties"]["operation_id"]
    assert set(fault["enum"]) == faultable_operations()
    for path in ("/_mock/requests", "/_mock/requests/wait"):
        parameters = contract["paths"][path]["get"]["parameters"]
        [parameter] = [p for p in parameters if p.get("name") == "operation_id"]
        assert parameter["schema"]["enum"] == fault["enum"]
    for operation_id in faultable_operations():
        JournalFilter(operation_id=operation_id)


async def test_wait_returns_when_a_request_arrives(client: httpx.AsyncClient, demo: Agency) -> None:
    await demo.get("/v1/reports")  # before the wait: not what it waits for
    answers: list[dict[str, Any]] = []

    async def wait() -> None:
        params = {"agency_id": "demo-agency", "operation_id": "listReports", "timeout": 10}
        response = await client.get("/_mock/requests/wait", params=params)
        answers.append(response.json())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await demo.get("/v1/reports/rpt_x")  # does not match
            await anyio.wait_all_tasks_blocked()
            assert answers == []
            await demo.get("/v1/reports")
    [answer] = answers
    assert_schema("JournalWait", answer)
    [entry] = answer["data"]
    assert entry["operation_id"] == "listReports"
    assert answer["cursor"] == str(entry["sequence"])


async def test_wait_after_a_cursor_and_timeout(client: httpx.AsyncClient, demo: Agency) -> None:
    await demo.get("/v1/reports")
    found = (await client.get("/_mock/requests/wait", params={"after": 0, "timeout": 1})).json()
    assert len(found["data"]) == 2  # the token request and the list
    empty = await client.get(
        "/_mock/requests/wait", params={"after": found["cursor"], "timeout": 0.05}
    )
    assert empty.json() == {"data": [], "cursor": found["cursor"]}
    too_long = await client.get("/_mock/requests/wait", params={"timeout": 61})
    assert assert_problem(too_long, 400, "invalid_request")["parameter"] == "timeout"


async def test_a_wait_without_time_answers_what_is_already_there(
    client: httpx.AsyncClient, demo: Agency
) -> None:
    await demo.get("/v1/reports")
    answer = (await client.get("/_mock/requests/wait", params={"after": 0, "timeout": 0})).json()
    assert [entry["sequence"] for entry in answer["data"]] == [1, 2]
    assert answer["cursor"] == "2"
    later = {"after": answer["cursor"], "timeout": 0}
    assert (await client.get("/_mock/requests/wait", params=later)).json() == {
        "data": [],
        "cursor": "2",
    }


async def test_wait_answers_at_most_limit_entries(client: httpx.AsyncClient, demo: Agency) -> None:
    for _ in range(4):
        await demo.get("/v1/reports")  # with the token request: positions 1 to 5
    seen: list[int] = []
    after = "0"
    while len(seen) < 5:
        params = {"after": after, "limit": 2, "timeout": 1}
        answer = (await client.get("/_mock/requests/wait", params=params)).json()
        assert_schema("JournalWait", answer)
        assert 1 <= len(answer["data"]) <= 2
        seen += [entry["sequence"] for entry in answer["data"]]
        assert answer["cursor"] == str(seen[-1])
        after = answer["cursor"]
    assert seen == [1, 2, 3, 4, 5]


async def test_wait_answers_100_entries_by_default(client: httpx.AsyncClient) -> None:
    for _ in range(101):
        await client.get("/healthz")
    answer = (await client.get("/_mock/requests/wait", params={"after": 0, "timeout": 1})).json()
    assert [entry["sequence"] for entry in answer["data"]] == list(range(1, 101))
    assert answer["cursor"] == "100"


@pytest.mark.parametrize("limit", ["0", "1001", "x", "1.5", "\u0662"])
async def test_wait_refuses_a_bad_limit(client: httpx.AsyncClient, limit: str) -> None:
    params = {"after": 0, "limit": limit, "timeout": 0}
    problem = assert_problem(
        await client.get("/_mock/requests/wait", params=params), 400, "invalid_request"
    )
    assert "'limit'" in problem["detail"]
    assert problem["parameter"] == "limit"


async def test_the_journal_is_bounded_per_agency(
    client: httpx.AsyncClient, mock: MockPlatform, demo: Agency, other: Agency
) -> None:
    mock.journal.limit = 3
    for _ in range(5):
        await demo.get("/v1/reports")
    demo_entries = await journal(client, agency_id="demo-agency")
    assert [e["sequence"] for e in demo_entries] == [5, 6, 7]  # 1, 2: the tokens
    assert len(await journal(client, agency_id="other-agency")) == 1


async def test_reset_clears_the_journal(
    client: httpx.AsyncClient, demo: Agency, other: Agency
) -> None:
    await client.post("/_mock/reset", json={"agency_id": "demo-agency"})
    assert {e["client_id"] for e in await journal(client)} == {"other-agency"}
    await client.post("/_mock/reset")
    assert await journal(client) == []


async def test_a_head_answer_is_journaled_with_no_body(server: ThreadedServer) -> None:
    """Over a real socket the server sends no body in answer to a HEAD, so none is journaled
    (the body the app made for the GET it shares a route with is not sent)."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        head = await http.head("/openapi.json")
        assert head.status_code == 200
        assert head.content == b""
        page = await http.get("/_mock/requests", params={"method": "HEAD", "path": "/openapi.json"})
    [entry] = page.json()["data"]
    assert entry["id"] == head.headers["x-request-id"]
    assert entry["response_body_size"] == 0


async def test_a_request_with_an_expired_token_is_its_agencys(
    client: httpx.AsyncClient, demo: Agency, app: Starlette
) -> None:
    """The 401 an expired token gets is the agency's request: it was journaled with no agency,
    so a test's journal (scoped to its agency) never showed it, and no rule of the agency fired."""
    control = MockControl(app, agency_id="demo-agency", client_secret="-", base_url="http://t")
    await client.post("/_mock/clock/advance", json={"seconds": 3600})
    control.fault("error", status=503, operation_id="getReport", next_n=1)
    refused = await demo.get("/v1/reports")
    assert refused.status_code == 401
    [entry] = control.requests(status=401)
    assert entry.id == refused.headers["x-request-id"]
    assert (await journal(client, agency_id="demo-agency", status=401))[0]["id"] == entry.id
    assert (await demo.get("/v1/reports/rpt_x")).status_code == 503  # the agency's rule fired
    unknown = await client.get("/v1/reports", headers={"Authorization": "Bearer not-issued"})
    assert (await journal(client, status=401))[-1]["id"] == unknown.headers["x-request-id"]
    assert (await journal(client, status=401))[-1]["client_id"] is None
