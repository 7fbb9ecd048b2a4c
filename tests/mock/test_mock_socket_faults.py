"""Connection faults over a real socket, seen through the SDK (sockets are the point here)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import (
    FaultingSyncASGITransport,
    FaultRule,
    JournalFilter,
    ReviewClock,
    ThreadedServer,
    create_app,
)
from crs_sdk import CRSClient, DecodeError, RetryPolicy, TransportError
from crs_sdk.testing import make_report_create, no_retry_waits
from mock.mock_support import AGENCIES, START, report_body
from mock.upload_support import metadata_for, tus_http

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crs_mock import MockPlatform


@pytest.fixture
def platform(server: ThreadedServer) -> Iterator[MockPlatform]:
    mock: MockPlatform = server.app.state.mock
    yield mock
    mock.reset("demo-agency")


@pytest.fixture
def sdk(server: ThreadedServer) -> Iterator[CRSClient]:
    with (
        no_retry_waits(),
        CRSClient(server.base_url, client_id="demo-agency", client_secret="demo-secret") as client,
    ):
        yield client


def journal(platform: MockPlatform, operation_id: str) -> list[tuple[int | None, str | None, bool]]:
    entries = platform.journal.query(
        JournalFilter(agency_id="demo-agency", operation_id=operation_id)
    )
    return [(e.status_code, e.fault_action, e.idempotent_replayed) for e in entries]


def fault(platform: MockPlatform, action: str, operation_id: str) -> None:
    rule = FaultRule(action=action, operation_id=operation_id, agency_id="demo-agency", next_n=1)
    platform.faults.add(rule)


def test_reset_is_a_transport_error_without_retries(sdk: CRSClient, platform: MockPlatform) -> None:
    fault(platform, "connection_reset", "listReports")
    with pytest.raises(TransportError, match="ReadError") as caught:
        list(sdk.with_options(retry=RetryPolicy.disabled()).reports.list())
    assert "reset by peer" in str(caught.value.__cause__)
    assert journal(platform, "listReports")[-1] == (None, "connection_reset", False)


def test_reset_is_retried(sdk: CRSClient, platform: MockPlatform) -> None:
    fault(platform, "connection_reset", "listReports")
    assert list(sdk.reports.list()) == []
    assert journal(platform, "listReports")[-2:] == [
        (None, "connection_reset", False),
        (200, None, False),
    ]


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ("drop_response", TransportError),
        ("truncated_body", TransportError),
        ("malformed_body", DecodeError),
    ],
)
def test_answers_spoiled_after_commit(
    sdk: CRSClient, platform: MockPlatform, action: str, error: type[Exception]
) -> None:
    fault(platform, action, "listReports")
    with pytest.raises(error):
        list(sdk.with_options(retry=RetryPolicy.disabled()).reports.list())


@contextmanager
def logged_errors() -> Iterator[list[logging.LogRecord]]:
    """Errors the app and uvicorn log while the block runs (uvicorn's do not reach the root)."""
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("crs_mock", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield errors
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def bodiless_request(http: httpx.Client, operation_id: str) -> httpx.Request:
    """A request for `operation_id`, whose answer has no body (made ready on `http`)."""
    if operation_id == "tusOptions":  # 204
        return http.build_request("OPTIONS", "/v1/uploads")
    if operation_id == "deleteWebhookEndpoint":  # 204
        endpoint = {"url": "https://receiver.example/hook", "event_types": ["*"]}
        created = http.post("/v1/webhook-endpoints", json=endpoint)
        return http.build_request("DELETE", f"/v1/webhook-endpoints/{created.json()['id']}")
    report_id = http.post("/v1/reports", json=report_body()).json()["id"]
    data = b"evidence"
    tus = {"Upload-Length": str(len(data)), "Upload-Metadata": metadata_for(data)}
    if operation_id == "createEvidenceUpload":  # 201, an empty body
        return http.build_request("POST", f"/v1/reports/{report_id}/evidence", headers=tus)
    created = http.post(f"/v1/reports/{report_id}/evidence", headers=tus)
    return http.build_request("HEAD", created.headers["location"])  # getUploadOffset


@pytest.mark.parametrize("action", ["malformed_body", "truncated_body"])
@pytest.mark.parametrize(
    "operation_id",
    ["deleteWebhookEndpoint", "tusOptions", "getUploadOffset", "createEvidenceUpload"],
)
def test_answers_without_a_body_are_dropped(
    server: ThreadedServer, platform: MockPlatform, action: str, operation_id: str
) -> None:
    # Cutting or truncating nothing would mean inventing bytes, which h11 refuses on a 204 or a
    # HEAD's answer (the fault then never reached the client and broke the kept-alive connection).
    with tus_http(server.base_url) as http, logged_errors() as errors:
        request = bodiless_request(http, operation_id)
        fault(platform, action, operation_id)
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            http.send(request)
        [rule] = platform.faults.list("demo-agency")
        assert rule.remaining == 0
        entry = platform.journal.query(JournalFilter(operation_id=operation_id))[-1]
        assert (entry.fault_id, entry.fault_action) == (rule.id, "drop_response")
        assert (entry.status_code, entry.response_body_size) == (None, None)
        assert http.get("/v1/reports").status_code == 200  # on a new connection
    assert errors == []


def test_dropped_create_is_retried_into_exactly_one_report(
    sdk: CRSClient, platform: MockPlatform
) -> None:
    fault(platform, "drop_response", "createReport")
    report = sdk.reports.create(make_report_create())
    assert [r.id for r in sdk.reports.list()] == [report.id]
    assert journal(platform, "createReport") == [
        (None, "drop_response", False),
        (201, None, True),  # the retry, same Idempotency-Key: the stored answer replayed
    ]
    keys = {
        e.idempotency_key
        for e in platform.journal.query(JournalFilter(operation_id="createReport"))
    }
    assert len(keys) == 1


def test_in_process_sync_client_sees_the_same_failures() -> None:
    app = create_app(agencies=AGENCIES, clock=ReviewClock(start=START, frozen=True))
    platform: MockPlatform = app.state.mock
    fault(platform, "drop_response", "createReport")
    try:
        with (
            no_retry_waits(),
            CRSClient(
                "http://mock.test",
                client_id="demo-agency",
                client_secret="demo-secret",
                transport=FaultingSyncASGITransport(app),
            ) as client,
        ):
            client.reports.create(make_report_create())
            assert len(list(client.reports.list())) == 1
            fault(platform, "connection_reset", "listReports")
            with pytest.raises(TransportError, match="ReadError"):
                list(client.with_options(retry=RetryPolicy.disabled()).reports.list())
    finally:
        platform.close()


def test_idle_connections_outlive_the_client_pools() -> None:
    # Else a pooled connection could be reused just as the server closes it: a ReadError that no
    # fault rule asked for (a raw httpx benchmark client met one).
    from crs_mock._socket_faults import uvicorn_config

    config = uvicorn_config(create_app(agencies=AGENCIES))
    assert config.timeout_keep_alive > httpx.Limits().keepalive_expiry  # type: ignore[operator]
    config.app.state.mock.close()
