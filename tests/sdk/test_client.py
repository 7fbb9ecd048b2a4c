"""Both clients against respx mocks: requests, errors, retries, tokens, pagination, config."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import random
import re
import ssl
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import pytest
import respx

import crs_sdk._retry
import crs_sdk._wait
import crs_sdk.testing
from crs_sdk import (
    APIError,
    AsyncCRSClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectError,
    CRSClient,
    DeadlineExceeded,
    DecodeError,
    DuplicateReportError,
    IdempotencyConflictError,
    InvalidFieldError,
    InvalidTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    Report,
    ReportCreate,
    ReportDecidedEvent,
    ReportEvent,
    ReportStatus,
    RequestTimeout,
    RetryBudget,
    RetryBudgetExhausted,
    RetryError,
    RetryEvent,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
    TransportError,
    UnknownEvent,
    UnsupportedMediaTypeError,
    ValidationError,
    WaitTimeout,
)

if TYPE_CHECKING:
    from collections.abc import Callable

BASE = "https://crs.test"
SECRET = "s3cr3t-value"
TOKEN = "tok-abc-123"

pytestmark = pytest.mark.anyio


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_waits() -> Any:
    with crs_sdk.testing.no_retry_waits():
        yield


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def token_json(token: str = TOKEN, expires_in: int = 3600) -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": None}


@pytest.fixture
def router() -> Any:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.post("/oauth/token", name="token").respond(200, json=token_json())
        yield mock


def make_client(flavour: str, **kwargs: Any) -> CRSClient | AsyncCRSClient:
    kwargs.setdefault("base_url", BASE)
    kwargs.setdefault("client_id", "demo-agency")
    kwargs.setdefault("client_secret", SECRET)
    cls = CRSClient if flavour == "sync" else AsyncCRSClient
    return cls(**kwargs)


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


def problem(status: int, code: str, detail: str = "nope", **extra: Any) -> httpx.Response:
    body = {
        "type": f"urn:crs:problem:{code}",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "instance": None,
        "code": code,
        "request_id": "req_body",
        **extra,
    }
    headers = {"X-Request-Id": "req_42", **extra.pop("headers", {})}
    return httpx.Response(
        status, json=body, headers={**headers, "Content-Type": "application/problem+json"}
    )


def report_create() -> ReportCreate:
    from crs_sdk import (
        Category,
        ContentType,
        Officer,
        Platform,
        ReportItemCreate,
        RequestedAction,
        ViolationBasis,
    )

    return ReportCreate(
        client_reference="CASE-1",
        items=[
            ReportItemCreate(
                url="https://facebook.com/posts/1",
                platform=Platform.FACEBOOK,
                content_type=ContentType.POST,
            )
        ],
        category=Category.GROOMING,
        violation_basis=ViolationBasis.POLICY_VIOLATION,
        explanation="Adult contacting children.",
        requested_actions=[RequestedAction.REMOVE],
        reporting_officer=Officer(name="A. Officer", email="officer@example.gov"),
    )


# --- requests -----------------------------------------------------------------------------------


async def test_create_sends_the_report_with_standard_headers(
    flavour: str, router: Any, make_report: Any
) -> None:
    route = router.post("/v1/reports").respond(201, json=make_report())
    client = make_client(flavour)
    report = await call(client, "reports.create", report_create())
    await close(client)

    assert isinstance(report, Report)
    assert report.status is ReportStatus.DRAFT
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert re.fullmatch(
        rf"crs-sdk/\S+ python/{sys.version_info.major}\.{sys.version_info.minor} httpx/\S+",
        request.headers["User-Agent"],
    )
    uuid.UUID(request.headers["Idempotency-Key"])
    body = json.loads(request.content)
    assert body["client_reference"] == "CASE-1"
    assert body["items"][0]["url"] == "https://facebook.com/posts/1"


async def test_token_request_is_client_credentials_with_basic_auth(
    flavour: str, router: Any, make_report: Any
) -> None:
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour)
    await call(client, "reports.get", "rpt_1")
    await close(client)

    request = router["token"].calls.last.request
    assert request.headers["Authorization"] == httpx.BasicAuth("demo-agency", SECRET)._auth_header
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"grant_type=client_credentials"


async def test_caller_idempotency_key_is_used(flavour: str, router: Any, make_report: Any) -> None:
    route = router.post("/v1/reports/rpt_1/submit").respond(
        200, json=make_report(status="submitted")
    )
    client = make_client(flavour)
    await call(
        client, "reports.submit", "rpt_1", good_faith_declaration=True, idempotency_key="key-1"
    )
    await close(client)
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == "key-1"
    assert json.loads(request.content) == {"good_faith_declaration": True}


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "path", "body"),
    [
        ("reports.submit", ("rpt_1",), {}, "/v1/reports/rpt_1/submit", {}),
        (
            "reports.withdraw",
            ("rpt_1",),
            {"reason": "dup"},
            "/v1/reports/rpt_1/withdraw",
            {"reason": "dup"},
        ),
        ("reports.withdraw", ("rpt_1",), {}, "/v1/reports/rpt_1/withdraw", {}),
        (
            "reports.respond",
            ("rpt_1", "here"),
            {"evidence_ids": ["evd_1"]},
            "/v1/reports/rpt_1/responses",
            {"message": "here", "evidence_ids": ["evd_1"]},
        ),
        (
            "reports.respond",
            ("rpt_1", "here"),
            {},
            "/v1/reports/rpt_1/responses",
            {"message": "here"},
        ),
        ("reports.appeal", ("rpt_1", "wrong"), {}, "/v1/reports/rpt_1/appeal", {"reason": "wrong"}),
    ],
)
async def test_actions(  # noqa: PLR0917 - parametrised
    flavour: str,
    router: Any,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    path: str,
    body: Any,
    make_report: Any,
) -> None:
    route = router.post(path).respond(200, json=make_report(status="in_review"))
    client = make_client(flavour)
    report = await call(client, method, *args, **kwargs)
    await close(client)
    assert report.status is ReportStatus.IN_REVIEW
    assert json.loads(route.calls.last.request.content) == body
    assert route.calls.last.request.headers["Idempotency-Key"]


@pytest.mark.parametrize("evidence_ids", ["evd_123", b"evd_123"])
async def test_respond_refuses_a_bare_string_of_evidence_ids(
    flavour: str, router: Any, evidence_ids: Any
) -> None:
    route = router.post("/v1/reports/rpt_1/responses")
    client = make_client(flavour)
    with pytest.raises(TypeError, match="got a single string"):
        await call(client, "reports.respond", "rpt_1", "here", evidence_ids=evidence_ids)
    await close(client)
    assert not route.called  # not one evidence id per character


async def test_respond_sends_any_iterable_of_evidence_ids(
    flavour: str, router: Any, make_report: Any
) -> None:
    route = router.post("/v1/reports/rpt_1/responses").respond(200, json=make_report())
    client = make_client(flavour)
    await call(client, "reports.respond", "rpt_1", "here", evidence_ids=iter(["evd_1", "evd_2"]))
    await close(client)
    assert json.loads(route.calls.last.request.content)["evidence_ids"] == ["evd_1", "evd_2"]


@pytest.mark.parametrize(
    ("report_id", "raw_path"),
    [
        ("rpt_1", b"/v1/reports/rpt_1"),
        ("../admin", b"/v1/reports/..%2Fadmin"),
        ("..", b"/v1/reports/%2E%2E"),
        ("a?b#c", b"/v1/reports/a%3Fb%23c"),
        ("a b", b"/v1/reports/a%20b"),
    ],
)
async def test_path_parameters_are_quoted(
    flavour: str, router: Any, report_id: str, raw_path: bytes, make_report: Any
) -> None:
    route = router.route(method="GET").respond(200, json=make_report())
    client = make_client(flavour)
    await call(client, "reports.get", report_id)
    await close(client)
    assert route.calls.last.request.url.raw_path == raw_path


#: Every method that puts a caller's id in a URL: (method, arguments with ``ID`` for the id, the
#: argument's name).
ID = object()
UNSENDABLE = "cannot be sent in a URL: it holds an unpaired surrogate"
ID_TAKING_METHODS = [
    ("reports.get", (ID,), {}, "report_id"),
    ("reports.submit", (ID,), {}, "report_id"),
    ("reports.withdraw", (ID,), {}, "report_id"),
    ("reports.respond", (ID, "here"), {}, "report_id"),
    ("reports.appeal", (ID, "wrong"), {}, "report_id"),
    ("reports.wait", (ID,), {}, "report_id"),
    ("evidence.list", (ID,), {}, "report_id"),
    # A file that does not exist: opening it first would raise FileNotFoundError.
    ("evidence.upload", (ID, "/nonexistent/evidence.pdf"), {"resume_store": None}, "report_id"),
    ("events.list", (), {"after": ID}, "after"),
    ("webhook_endpoints.get", (ID,), {}, "endpoint_id"),
    ("webhook_endpoints.delete", (ID,), {}, "endpoint_id"),
    ("webhook_endpoints.rotate_secret", (ID,), {}, "endpoint_id"),
    ("webhook_endpoints.disable", (ID,), {}, "endpoint_id"),
    ("webhook_endpoints.enable", (ID,), {}, "endpoint_id"),
    ("webhook_endpoints.deliveries", (ID,), {}, "endpoint_id"),
    ("webhook_endpoints.retry_delivery", (ID, "dlv_1"), {}, "endpoint_id"),
    ("webhook_endpoints.retry_delivery", ("whe_1", ID), {}, "delivery_id"),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "name"),
    ID_TAKING_METHODS,
    ids=[f"{method}-{name}" for method, _, _, name in ID_TAKING_METHODS],
)
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("\ud800", ValueError, rf"{UNSENDABLE} \(U\+D800 at index 0\)$"),
        ("rpt_\udfff1", ValueError, rf"{UNSENDABLE} \(U\+DFFF at index 4\)$"),
        (42, TypeError, "must be a str, not int$"),
    ],
    ids=["lone-surrogate", "surrogate-inside", "not-a-str"],
)
async def test_ids_that_no_url_can_carry_are_refused_before_sending(  # noqa: PLR0917
    flavour: str,
    router: Any,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str,
    value: object,
    error: type[Exception],
    message: str,
) -> None:
    client = make_client(flavour)
    args = tuple(value if arg is ID else arg for arg in args)
    kwargs = {key: value if arg is ID else arg for key, arg in kwargs.items()}
    with pytest.raises(error, match=f"^{name} {message}") as info:
        await call(client, method, *args, **kwargs)
    await close(client)
    assert router.calls.call_count == 0  # not even a token was fetched
    assert not isinstance(info.value, UnicodeError)


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "name"),
    [m for m in ID_TAKING_METHODS if m[0] != "events.list"],
    ids=[f"{m[0]}-{m[3]}" for m in ID_TAKING_METHODS if m[0] != "events.list"],
)
async def test_an_empty_id_is_refused_before_sending(  # noqa: PLR0917
    flavour: str,
    router: Any,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str,
) -> None:
    client = make_client(flavour)
    args = tuple("" if arg is ID else arg for arg in args)
    with pytest.raises(ValueError, match=f"^{name} must not be empty$"):
        await call(client, method, *args, **kwargs)
    await close(client)
    assert router.calls.call_count == 0


_NOT_HEADER_TEXT = "idempotency_key cannot be sent in a header: it must be printable ASCII"

#: Every method that takes a caller's ``idempotency_key``: (method, arguments).
KEY_TAKING_METHODS = [
    ("reports.create", (crs_sdk.testing.make_report_create(),), {}),
    ("reports.create_and_submit", (crs_sdk.testing.make_report_create(),), {}),
    ("reports.submit", ("rpt_1",), {}),
    ("reports.withdraw", ("rpt_1",), {}),
    ("reports.respond", ("rpt_1", "here"), {}),
    ("reports.appeal", ("rpt_1", "wrong"), {}),
    # A file that does not exist: opening it first would raise FileNotFoundError.
    ("evidence.upload", ("rpt_1", "/nonexistent/evidence.pdf"), {"resume_store": None}),
    (
        "webhook_endpoints.create",
        (crs_sdk.WebhookEndpointCreate(url="https://hooks.test/", event_types=["report.decided"]),),
        {},
    ),
    ("webhook_endpoints.rotate_secret", ("whe_1",), {}),
    ("webhook_endpoints.disable", ("whe_1",), {}),
    ("webhook_endpoints.enable", ("whe_1",), {}),
    ("webhook_endpoints.retry_delivery", ("whe_1", "dlv_1"), {}),
    ("webhook_endpoints.delete", ("whe_1",), {}),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs"), KEY_TAKING_METHODS, ids=[m[0] for m in KEY_TAKING_METHODS]
)
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("case-\u00e91", f"{_NOT_HEADER_TEXT} (U+00E9 at index 5)"),
        ("\ud800", f"{_NOT_HEADER_TEXT} (U+D800 at index 0)"),
        ("a\nb", f"{_NOT_HEADER_TEXT} (U+000A at index 1)"),
        ("", "idempotency_key must not be empty: leave it out for a fresh key"),
        ("k" * 256, "idempotency_key must be at most 255 characters, not 256"),
    ],
    ids=["non-ascii", "lone-surrogate", "line-feed", "empty", "256-characters"],
)
async def test_idempotency_keys_the_contract_refuses_are_refused_before_sending(  # noqa: PLR0917
    flavour: str,
    router: Any,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    key: str,
    message: str,
) -> None:
    client = make_client(flavour)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$") as info:
        await call(client, method, *args, idempotency_key=key, **kwargs)
    await close(client)
    assert router.calls.call_count == 0  # not even a token was fetched
    assert not isinstance(info.value, UnicodeError)


async def test_an_idempotency_key_of_255_characters_is_sent(
    flavour: str, router: Any, make_report: Any
) -> None:
    key = "k" * 255
    route = router.post("/v1/reports").respond(201, json=make_report())
    client = make_client(flavour)
    await call(client, "reports.create", crs_sdk.testing.make_report_create(), idempotency_key=key)
    await close(client)
    assert route.calls.last.request.headers["Idempotency-Key"] == key


async def test_create_refuses_a_dict(flavour: str, router: Any) -> None:
    client = make_client(flavour)
    with pytest.raises(TypeError, match="ReportCreate"):
        await call(client, "reports.create", {"client_reference": "x"})
    await close(client)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (problem(400, "invalid_request"), BadRequestError),
        (problem(403, "unauthorized"), PermissionDeniedError),
        (problem(404, "not_found"), NotFoundError),
        (problem(409, "invalid_transition", current_status="submitted"), InvalidTransitionError),
        (
            problem(409, "duplicate_client_reference", existing_report_id="rpt_0"),
            DuplicateReportError,
        ),
        (problem(409, "idempotency_key_in_flight"), IdempotencyConflictError),
        (problem(413, "payload_too_large"), PayloadTooLargeError),
        (problem(415, "unsupported_media_type"), UnsupportedMediaTypeError),
        (
            problem(422, "validation_error", errors=[{"pointer": "/items/0/url", "detail": "bad"}]),
            ValidationError,
        ),
        (problem(422, "idempotency_key_reused"), ValidationError),
        (problem(429, "rate_limited", retry_after=5), RateLimitError),
        (problem(500, "internal_error"), ServerError),
        (problem(503, "service_unavailable"), ServiceUnavailableError),
        (
            httpx.Response(
                502, text="<html>bad gateway</html>", headers={"X-Request-Id": "req_42"}
            ),
            ServerError,
        ),
        (httpx.Response(418, text="teapot", headers={"X-Request-Id": "req_42"}), APIError),
    ],
    ids=lambda v: getattr(v, "__name__", None) or str(getattr(v, "status_code", v)),
)
async def test_error_mapping(
    flavour: str, router: Any, response: httpx.Response, cls: type
) -> None:
    router.get("/v1/reports/rpt_1").mock(return_value=response)
    client = make_client(flavour, retry=RetryPolicy.disabled())
    with pytest.raises(APIError) as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    error = info.value
    assert type(error) is cls
    assert error.status_code == response.status_code
    assert error.request_id == "req_42"
    if response.headers["content-type"].startswith("application/problem+json"):
        assert error.problem is not None
        assert error.problem.code == json.loads(response.content)["code"]
    else:
        assert error.problem is None
    assert TOKEN not in str(error)
    assert SECRET not in str(error)


async def test_an_empty_after_is_refused_before_anything_is_sent(flavour: str, router: Any) -> None:
    route = router.get("/v1/events")
    client = make_client(flavour)
    with pytest.raises(ValueError, match=r"after must be an event id \(evt_\.\.\.\), or None"):
        client.events.list(after="")
    await close(client)
    assert route.call_count == 0


async def test_invalid_transition_carries_the_current_status(flavour: str, router: Any) -> None:
    router.post("/v1/reports/rpt_1/submit").mock(
        return_value=problem(409, "invalid_transition", current_status="withdrawn")
    )
    client = make_client(flavour)
    with pytest.raises(InvalidTransitionError) as info:
        await call(client, "reports.submit", "rpt_1")
    await close(client)
    assert info.value.current_status is ReportStatus.WITHDRAWN


async def test_undecodable_success_body_is_a_decode_error(flavour: str, router: Any) -> None:
    router.get("/v1/reports/rpt_1").respond(200, json={"id": "rpt_1"})
    router.get("/v1/reports/rpt_2").respond(200, text="not json")
    client = make_client(flavour)
    with pytest.raises(DecodeError) as info:
        await call(client, "reports.get", "rpt_1")
    assert info.value.path.startswith("$")
    with pytest.raises(DecodeError):
        await call(client, "reports.get", "rpt_2")
    await close(client)


@pytest.mark.parametrize(
    ("raised", "cls"),
    [
        (httpx.ConnectError("refused"), ConnectError),
        (httpx.ConnectTimeout("slow connect"), RequestTimeout),
        (httpx.ReadTimeout("slow read"), RequestTimeout),
        (httpx.PoolTimeout("pool"), RequestTimeout),
        (httpx.ReadError("reset"), TransportError),
        (httpx.RemoteProtocolError("closed"), TransportError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.__name__,
)
async def test_transport_errors_are_translated(
    flavour: str, router: Any, raised: Exception, cls: type
) -> None:
    router.get("/v1/reports/rpt_1").mock(side_effect=raised)
    client = make_client(flavour, retry=RetryPolicy.disabled())
    with pytest.raises(TransportError) as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert type(info.value) is cls
    assert info.value.__cause__ is raised


# --- retries ------------------------------------------------------------------------------------


async def test_retries_503_then_succeeds_with_the_same_idempotency_key(
    flavour: str, router: Any, make_report: Any
) -> None:
    route = router.post("/v1/reports").mock(
        side_effect=[
            problem(503, "service_unavailable"),
            httpx.ConnectError("refused"),
            httpx.Response(201, json=make_report()),
        ]
    )
    events: list[RetryEvent] = []
    client = make_client(flavour, retry=RetryPolicy(on_retry=events.append))
    report = await call(client, "reports.create", report_create())
    await close(client)
    assert report.id == "rpt_1"
    keys = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert route.call_count == 3
    assert len(keys) == 1
    assert [(e.attempt, e.status_code, e.exception) for e in events] == [
        (2, 503, None),
        (3, None, "ConnectError"),
    ]
    assert events[0].reason == "503 service_unavailable"
    assert events[0].method == "POST"
    assert events[0].path == "/v1/reports"
    assert router["token"].call_count == 1


async def test_retry_logs_one_info_line_per_retry(
    flavour: str, router: Any, caplog: pytest.LogCaptureFixture, make_report: Any
) -> None:
    router.get("/v1/reports/rpt_1").mock(
        side_effect=[problem(503, "service_unavailable"), httpx.Response(200, json=make_report())]
    )
    client = make_client(flavour, retry=RetryPolicy(jitter=False))
    with caplog.at_level(logging.INFO, logger="crs_sdk"):
        await call(client, "reports.get", "rpt_1")
    await close(client)
    lines = [r.getMessage() for r in caplog.records if r.name == "crs_sdk"]
    assert lines == [
        "retrying GET /v1/reports/rpt_1 in 0.50s (attempt 2/5): 503 service_unavailable"
    ]
    assert all(TOKEN not in line and SECRET not in line for line in caplog.messages)


async def test_retry_after_is_honoured(flavour: str, router: Any, make_report: Any) -> None:
    router.get("/v1/reports/rpt_1").mock(
        side_effect=[
            problem(429, "rate_limited", headers={"Retry-After": "7"}),
            problem(
                503, "service_unavailable", headers={"Retry-After": "Mon, 01 Jan 1990 00:00:00 GMT"}
            ),
            httpx.Response(200, json=make_report()),
        ]
    )
    events: list[RetryEvent] = []
    policy = RetryPolicy(jitter=False, on_retry=events.append)
    client = make_client(flavour, retry=policy)
    await call(client, "reports.get", "rpt_1")
    await close(client)
    assert [e.wait for e in events] == [7.0, 1.0]  # Retry-After, then backoff over a past date


async def test_retry_after_over_the_cap_raises_rate_limit_error(flavour: str, router: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(
        return_value=problem(429, "rate_limited", headers={"Retry-After": "600"})
    )
    client = make_client(flavour, retry=RetryPolicy(max_retry_after=60.0))
    with pytest.raises(RateLimitError) as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert info.value.retry_after == 600.0
    assert route.call_count == 1


async def test_max_attempts_raises_the_last_error(flavour: str, router: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(return_value=problem(503, "service_unavailable"))
    client = make_client(flavour, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ServiceUnavailableError):
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert route.call_count == 3


async def test_deadline_exceeded(flavour: str, router: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(
        return_value=problem(503, "service_unavailable", headers={"Retry-After": "4"})
    )
    client = make_client(flavour, retry=RetryPolicy(max_attempts=10, deadline=10.0))
    with pytest.raises(DeadlineExceeded) as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert isinstance(info.value.__cause__, ServiceUnavailableError)
    assert route.call_count == 3  # waits 4 + 4; the third 4 s would pass the deadline


async def test_no_attempt_is_sent_once_the_deadline_has_passed(flavour: str, router: Any) -> None:
    def slow_token(request: httpx.Request) -> httpx.Response:
        time.sleep(0.2)  # a token endpoint slower than the whole deadline (a simulated server)
        return httpx.Response(200, json=token_json())

    router.routes["token"].mock(side_effect=slow_token)
    route = router.get("/v1/reports/rpt_1").respond(200, json={})
    client = make_client(flavour, retry=RetryPolicy(deadline=0.05))
    with pytest.raises(DeadlineExceeded) as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert route.call_count == 0  # not sent with timeouts of zero
    assert isinstance(info.value.__cause__, RequestTimeout)
    assert "no time left" in str(info.value.__cause__)


async def test_the_token_request_timeout_is_clipped_to_the_calls_deadline(
    flavour: str, router: Any, make_report: Any
) -> None:
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour, timeout=30.0, retry=RetryPolicy(deadline=5.0))
    await call(client, "reports.get", "rpt_1")
    timeout = router.routes["token"].calls.last.request.extensions["timeout"]
    assert all(0 < timeout[part] <= 5.0 for part in ("connect", "read", "write", "pool"))
    await close(client)
    unbounded = make_client(flavour, timeout=30.0, retry=RetryPolicy(deadline=None))
    await call(unbounded, "reports.get", "rpt_1")
    timeout = router.routes["token"].calls.last.request.extensions["timeout"]
    assert timeout == httpx.Timeout(30.0).as_dict()
    await close(unbounded)


@pytest.mark.parametrize("deadline", [math.inf, 1e10])
async def test_a_deadline_beyond_what_a_lock_can_wait_is_no_limit(
    flavour: str, router: Any, make_report: Any, deadline: float
) -> None:
    # threading.Lock.acquire(timeout=...) raises OverflowError above threading.TIMEOUT_MAX.
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour, timeout=30.0, retry=RetryPolicy(deadline=deadline))
    report = await call(client, "reports.get", "rpt_1")
    assert report.id == "rpt_1"
    await close(client)


def _report_or_hanging_token(
    make_report: Any, fetching: Any, release: Any
) -> Callable[[httpx.Request], Any]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=make_report(id=request.url.path.rsplit("/", 1)[-1]))

    if isinstance(release, threading.Event):

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/oauth/token":
                fetching.set()
                assert release.wait(timeout=30)
                return httpx.Response(200, json=token_json())
            return answer(request)

        return handler

    async def ahandler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            fetching.set()
            await release.wait()
            return httpx.Response(200, json=token_json())
        return answer(request)

    return ahandler


def test_a_thread_waiting_for_another_threads_token_fetch_stops_at_its_deadline(
    make_report: Any,
) -> None:
    fetching, release = threading.Event(), threading.Event()
    transport = httpx.MockTransport(_report_or_hanging_token(make_report, fetching, release))
    client = make_client("sync", transport=transport, retry=RetryPolicy(deadline=None))
    assert isinstance(client, CRSClient)
    reports: list[Report] = []
    patient = threading.Thread(target=lambda: reports.append(client.reports.get("rpt_1")))
    patient.start()
    watchdog = threading.Timer(10, release.set)  # a cache that made it wait fails, not hangs
    watchdog.start()
    try:
        assert fetching.wait(timeout=30)
        hurried = client.with_options(retry=RetryPolicy(deadline=0.1))
        with pytest.raises(DeadlineExceeded) as info:
            hurried.reports.get("rpt_2")
        assert isinstance(info.value.__cause__, RequestTimeout)
        assert "to wait for another caller's fetch" in str(info.value.__cause__)
    finally:
        watchdog.cancel()
        release.set()
        patient.join()
    assert [r.id for r in reports] == ["rpt_1"]  # the fetch went on for the patient caller
    assert client.reports.get("rpt_3").id == "rpt_3"  # and its token serves the next
    client.close()


async def test_a_task_waiting_for_another_tasks_token_fetch_stops_at_its_deadline(
    make_report: Any,
) -> None:
    import asyncio

    fetching, release = asyncio.Event(), asyncio.Event()
    transport = httpx.MockTransport(_report_or_hanging_token(make_report, fetching, release))
    client = make_client("async", transport=transport, retry=RetryPolicy(deadline=None))
    assert isinstance(client, AsyncCRSClient)
    patient = asyncio.ensure_future(client.reports.get("rpt_1"))
    try:
        await fetching.wait()
        hurried = client.with_options(retry=RetryPolicy(deadline=0.1))
        with pytest.raises(DeadlineExceeded) as info:
            await asyncio.wait_for(hurried.reports.get("rpt_2"), 10)  # fails, not hangs
        assert isinstance(info.value.__cause__, RequestTimeout)
    finally:
        release.set()
        report = await patient
    assert report.id == "rpt_1"
    assert (await client.reports.get("rpt_3")).id == "rpt_3"
    await client.aclose()


def _refused_certificate(request: httpx.Request) -> Exception:
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.__cause__ = ssl.SSLCertVerificationError(1, "certificate verify failed")
    return error


def _redirects_going_round(request: httpx.Request) -> Exception:
    return httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)


def _not_valid_http(request: httpx.Request) -> Exception:
    return httpx.LocalProtocolError("Illegal header value b'x\\n'")


@pytest.mark.parametrize(
    ("failure", "raised", "says"),
    [
        (_refused_certificate, ConnectError, "certificate verify failed"),
        (_redirects_going_round, TransportError, "TooManyRedirects"),
        (_not_valid_http, TransportError, "the request is not valid HTTP"),
    ],
)
async def test_failures_that_would_come_back_are_not_retried(
    flavour: str,
    failure: Callable[[httpx.Request], Exception],
    raised: type[Exception],
    says: str,
) -> None:
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=token_json())
        attempts.append(request.url.path)
        raise failure(request)

    transport: Any = httpx.MockTransport(handler)
    client = make_client(flavour, transport=transport, retry=RetryPolicy(max_attempts=5))
    with pytest.raises(raised, match=says):
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert attempts == ["/v1/reports/rpt_1"]  # the same failure would come back


async def test_an_unreadable_answer_is_a_transport_error(flavour: str, router: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(side_effect=httpx.DecodingError("bad gzip"))
    client = make_client(flavour, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransportError, match="DecodingError") as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert isinstance(info.value, crs_sdk.CRSError)
    assert isinstance(info.value.__cause__, httpx.DecodingError)
    assert route.call_count == 2  # retried like any transport failure


async def test_attempt_timeout_is_clipped_to_the_deadline(
    flavour: str, router: Any, make_report: Any
) -> None:
    route = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour, timeout=30.0, retry=RetryPolicy(deadline=5.0))
    await call(client, "reports.get", "rpt_1")
    timeout = route.calls.last.request.extensions["timeout"]
    assert 0 < timeout["read"] <= 5.0
    fast = client.with_options(timeout=2.0, retry=RetryPolicy(deadline=None))
    await call(fast, "reports.get", "rpt_1")
    assert route.calls.last.request.extensions["timeout"] == httpx.Timeout(2.0).as_dict()
    await close(client)


async def test_timeouts_are_retried(flavour: str, router: Any, make_report: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.ConnectTimeout("slow"),
            httpx.Response(200, json=make_report()),
        ]
    )
    client = make_client(flavour)
    report = await call(client, "reports.get", "rpt_1")
    await close(client)
    assert report.id == "rpt_1"
    assert route.call_count == 3


async def test_retry_budget_is_shared_by_copies(flavour: str, router: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(return_value=problem(503, "service_unavailable"))
    budget = RetryBudget(ratio=0.0, min_retries=2, window=60.0)
    client = make_client(flavour, retry=RetryPolicy(max_attempts=2, budget=budget))
    copy = client.with_options(timeout=5.0)
    with pytest.raises(ServiceUnavailableError):  # spends one retry
        await call(client, "reports.get", "rpt_1")
    with pytest.raises(ServiceUnavailableError):  # spends the other, through the copy
        await call(copy, "reports.get", "rpt_1")
    with pytest.raises(RetryBudgetExhausted) as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert isinstance(info.value.__cause__, ServiceUnavailableError)
    assert route.call_count == 5


async def test_validation_error_is_not_retried(flavour: str, router: Any) -> None:
    route = router.post("/v1/reports").mock(return_value=problem(422, "validation_error"))
    client = make_client(flavour)
    with pytest.raises(ValidationError):
        await call(client, "reports.create", report_create())
    await close(client)
    assert route.call_count == 1


# --- tokens -------------------------------------------------------------------------------------


async def test_401_refreshes_the_token_and_retries_once(
    flavour: str, router: Any, make_report: Any
) -> None:
    router["token"].side_effect = [
        httpx.Response(200, json=token_json("old")),
        httpx.Response(200, json=token_json("new")),
    ]
    route = router.post("/v1/reports").mock(
        side_effect=[problem(401, "unauthorized"), httpx.Response(201, json=make_report())]
    )
    client = make_client(flavour)
    await call(client, "reports.create", report_create(), idempotency_key="k-1")
    await close(client)
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        "Bearer old",
        "Bearer new",
    ]
    assert {c.request.headers["Idempotency-Key"] for c in route.calls} == {"k-1"}
    assert router["token"].call_count == 2


async def test_second_401_is_an_authentication_error(flavour: str, router: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(return_value=problem(401, "unauthorized"))
    client = make_client(flavour)
    with pytest.raises(AuthenticationError):
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert route.call_count == 2
    assert router["token"].call_count == 2


async def test_bad_credentials_raise_authentication_error_without_the_secret(
    flavour: str, router: Any, make_report: Any
) -> None:
    router["token"].mock(
        return_value=problem(
            400,
            "invalid_client",
            detail="Client authentication failed",
            error="invalid_client",
            error_description="Client authentication failed",
        )
    )
    api = router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour)
    with pytest.raises(AuthenticationError) as info:
        await call(client, "reports.get", "rpt_1")
    await close(client)
    assert info.value.problem is not None
    assert info.value.problem.error == "invalid_client"
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert api.call_count == 0
    assert router["token"].call_count == 1  # credentials errors are not retried


async def test_token_endpoint_outage_is_retried(
    flavour: str, router: Any, make_report: Any
) -> None:
    router["token"].side_effect = [
        problem(503, "service_unavailable"),
        httpx.Response(200, json=token_json()),
    ]
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour)
    await call(client, "reports.get", "rpt_1")
    await close(client)
    assert router["token"].call_count == 2


async def test_with_options_shares_the_token_cache(
    flavour: str, router: Any, make_report: Any
) -> None:
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour)
    other = client.with_options(retry=RetryPolicy.disabled())
    await call(client, "reports.get", "rpt_1")
    await call(other, "reports.get", "rpt_1")
    assert router["token"].call_count == 1
    assert other.config.retry.max_attempts == 1
    assert client.config.retry.max_attempts == 5
    await close(other)  # does not close the shared pool
    await call(client, "reports.get", "rpt_1")
    await close(client)


# --- pagination ---------------------------------------------------------------------------------


async def test_reports_list_follows_cursors_lazily(
    flavour: str, router: Any, make_report: Any
) -> None:
    pages = [
        {"data": [make_report(id="rpt_1"), make_report(id="rpt_2")], "next_cursor": "c1"},
        {"data": [make_report(id="rpt_3")], "next_cursor": "c2"},
        {"data": [], "next_cursor": None},
    ]
    route = router.get("/v1/reports").mock(
        side_effect=[httpx.Response(200, json=page) for page in pages]
    )
    client = make_client(flavour)
    from datetime import datetime, timezone

    pager = client.reports.list(
        # A status given twice is sent once: the contract's uniqueItems (the mock refuses both).
        status=[ReportStatus.ACTIONED, "no_action", "actioned"],
        updated_since=datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc),
        page_size=2,
    )
    assert route.call_count == 0  # nothing fetched before iterating
    reports = await collect(pager)
    await close(client)
    assert [r.id for r in reports] == ["rpt_1", "rpt_2", "rpt_3"]
    params = [c.request.url.params for c in route.calls]
    assert params[0].get_list("status") == ["actioned", "no_action"]
    assert params[0]["updated_since"] == "2026-11-23T10:15:00Z"
    assert params[0]["limit"] == "2"
    assert "cursor" not in params[0]
    assert [p.get("cursor") for p in params[1:]] == ["c1", "c2"]


async def test_list_refuses_a_status_no_url_can_carry(flavour: str, router: Any) -> None:
    client = make_client(flavour)
    for status in ("in_review\ud800", ["submitted", "\udc00"]):
        with pytest.raises(ValueError, match=r"status(\[1\])? cannot be sent in a URL.*U\+D[8C]00"):
            client.reports.list(status=status)
    assert router.calls.call_count == 0
    await close(client)


async def test_list_refuses_a_bad_page_size(flavour: str, router: Any) -> None:
    client = make_client(flavour)
    lists = (
        client.reports.list,
        client.events.list,
        client.webhook_endpoints.list,
        functools.partial(client.evidence.list, "rpt_1"),
    )
    for list_ in lists:
        for size in (0, 101, -1):
            with pytest.raises(ValueError, match="page_size must be between 1 and 100"):
                list_(page_size=size)
        for wrong in (True, 2.0, "2"):
            with pytest.raises(TypeError, match="page_size must be an int"):
                list_(page_size=wrong)
    assert router.calls.call_count == 0
    await close(client)


async def test_a_cursor_that_does_not_move_is_refused(flavour: str, router: Any) -> None:
    router.get("/v1/reports").respond(200, json={"data": [], "next_cursor": "same"})
    client = make_client(flavour)
    with pytest.raises(DecodeError, match="cursor"):
        await collect(client.reports.list())
    await close(client)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/reports", "reports.list"),
        ("/v1/events", "events.list"),
        ("/v1/webhook-endpoints", "webhook_endpoints.list"),
        ("/v1/reports/rpt_1/evidence", "evidence.list"),
    ],
)
async def test_a_cursor_that_cannot_be_sent_back_is_a_decode_error(
    flavour: str, router: Any, path: str, method: str
) -> None:
    # JSON can spell an unpaired surrogate ("\\ud800"), which no URL can carry.
    body = b'{"data": [], "next_cursor": "c\\ud800"}'
    route = router.get(path).respond(
        200, content=body, headers={"Content-Type": "application/json"}
    )
    client = make_client(flavour)
    args = ("rpt_1",) if method == "evidence.list" else ()
    pager = await call(client, method, *args)
    with pytest.raises(DecodeError) as info:
        await collect(pager)
    await close(client)
    assert info.value.path == "$.next_cursor"
    assert "unpaired surrogate (U+D800 at index 1)" in str(info.value)
    assert not isinstance(info.value, UnicodeError)
    assert route.call_count == 1  # the next page was not asked for


def _event(seq: int, type_: str, **data: Any) -> dict[str, Any]:
    base = {
        "report_id": "rpt_1",
        "client_reference": "CASE-1",
        "status": "submitted",
        "previous_status": "draft",
    }
    return {
        "id": f"evt_{seq:012d}",
        "type": type_,
        "timestamp": "2026-11-23T10:15:00Z",
        "data": {**base, **data},
    }


async def test_a_cursor_that_comes_back_later_is_refused(flavour: str, router: Any) -> None:
    cursors = ["A", "B"] * 5 + [None]  # the end, for a pager that would not notice
    pages = [httpx.Response(200, json={"data": [], "next_cursor": c}) for c in cursors]
    route = router.get("/v1/reports").mock(side_effect=pages)
    client = make_client(flavour)
    with pytest.raises(DecodeError, match="cursor"):
        await collect(client.reports.list())
    await close(client)
    assert [c.request.url.params.get("cursor") for c in route.calls] == [None, "A", "B"]


async def test_events_list_follows_after(flavour: str, router: Any) -> None:
    decided = _event(
        2,
        "report.decided",
        status="actioned",
        previous_status="in_review",
        decision={
            "outcome": "actioned",
            "summary": "removed",
            "decided_at": "2026-11-23T10:15:00Z",
        },
        items=[],
    )
    route = router.get("/v1/events").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "data": [_event(1, "report.submitted"), decided],
                    "next_cursor": "evt_000000000002",
                },
            ),
            httpx.Response(
                200, json={"data": [_event(3, "report.teleported")], "next_cursor": None}
            ),
        ]
    )
    client = make_client(flavour)
    events = await collect(client.events.list(after="evt_000000000000", page_size=2))
    await close(client)
    assert [type(e) for e in events] == [ReportEvent, ReportDecidedEvent, UnknownEvent]
    params = [c.request.url.params for c in route.calls]
    assert [p["after"] for p in params] == ["evt_000000000000", "evt_000000000002"]
    assert params[0]["limit"] == "2"


async def test_answers_beyond_the_request_checks_are_read_as_sent(
    flavour: str, router: Any, make_report: Any
) -> None:
    # Values the SDK refuses to *send* (a control character, too long), which the platform may
    # still hold (stored under older rules) and send back: the report stays readable.
    odd = make_report(
        legal_basis=[
            {"jurisdiction": "GB", "instrument": "Act\x01", "provision": "s.1", "notes": None}
        ],
        reporting_officer={"name": "O" * 300, "email": "o\u0085@example.gov"},
    )
    router.get("/v1/reports/rpt_1").respond(200, json=odd)
    router.get("/v1/reports").respond(200, json={"data": [odd], "next_cursor": None})
    client = make_client(flavour)
    got = await call(client, "reports.get", "rpt_1")
    listed = await collect(client.reports.list())
    await close(client)
    for report in (got, *listed):
        assert report.legal_basis[0].instrument == "Act\x01"
        assert report.legal_basis[0].provision == "s.1"
        assert report.reporting_officer.name == "O" * 300
        assert report.reporting_officer.email == "o\u0085@example.gov"
    # What the caller builds is still checked, and so is what `structure` decodes.
    with pytest.raises(InvalidFieldError, match=r"LegalBasis\.instrument"):
        attrs.evolve(report.legal_basis[0])
    with pytest.raises(DecodeError, match=r"Officer\.name must have length"):
        crs_sdk.structure(odd, Report)


async def test_events_page_decode_errors_name_the_item(flavour: str, router: Any) -> None:
    bad = _event(1, "report.submitted")
    del bad["timestamp"]
    router.get("/v1/events").respond(200, json={"data": [bad], "next_cursor": None})
    client = make_client(flavour)
    with pytest.raises(DecodeError) as info:
        await collect(client.events.list())
    await close(client)
    assert info.value.path.startswith("$.data[0]")


# --- wait ---------------------------------------------------------------------------------------


async def test_wait_polls_until_decided(flavour: str, router: Any, make_report: Any) -> None:
    statuses = ["submitted", "acknowledged", "in_review", "actioned"]
    route = router.get("/v1/reports/rpt_1").mock(
        side_effect=[httpx.Response(200, json=make_report(status=s)) for s in statuses]
    )
    client = make_client(flavour)
    report = await call(client, "reports.wait", "rpt_1")
    await close(client)
    assert report.status is ReportStatus.ACTIONED
    assert route.call_count == 4


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        ([ReportStatus.IN_REVIEW], "in_review"),
        ("acknowledged", "acknowledged"),
        (lambda r: r.status == "in_review", "in_review"),
        (None, "info_requested"),
    ],
)
async def test_wait_until(
    flavour: str, router: Any, until: Any, expected: str, make_report: Any
) -> None:
    statuses = ["submitted", "acknowledged", "in_review", "info_requested"]
    router.get("/v1/reports/rpt_1").mock(
        side_effect=[httpx.Response(200, json=make_report(status=s)) for s in statuses]
    )
    client = make_client(flavour)
    report = await call(client, "reports.wait", "rpt_1", until=until)
    await close(client)
    assert report.status == expected


class EdgeRandom(random.Random):
    """Draws always the low (or high) end of the range: the jitter of waits, made predictable."""

    def __init__(self, *, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


@pytest.fixture
def poll_jitter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Pauses of ``reports.wait`` at the top of their range (all of the interval) by default."""
    high = getattr(request, "param", True)
    monkeypatch.setattr(crs_sdk._wait, "_JITTER", EdgeRandom(high=high))
    return bool(high)


@pytest.mark.parametrize(
    ("poll_jitter", "polls"),
    [
        # pauses 1, 1.5, 2.25, ... up to 10, summing to 60 (the last one clipped)
        (True, 11),
        # pauses 0.5, 0.75, 1.125, ... up to 5: half of each interval
        (False, 17),
    ],
    indirect=["poll_jitter"],
    ids=["longest-pauses", "shortest-pauses"],
)
async def test_wait_times_out_with_the_last_status(
    flavour: str, router: Any, make_report: Any, poll_jitter: bool, polls: int
) -> None:
    route = router.get("/v1/reports/rpt_1").respond(200, json=make_report(status="in_review"))
    client = make_client(flavour)
    with pytest.raises(WaitTimeout) as info:
        await call(
            client, "reports.wait", "rpt_1", timeout=60.0, poll_interval=1.0, max_poll_interval=10.0
        )
    await close(client)
    assert info.value.last_status is ReportStatus.IN_REVIEW
    assert info.value.report_id == "rpt_1"
    assert route.call_count == polls


async def test_wait_goes_on_after_a_missed_poll(
    flavour: str, router: Any, make_report: Any
) -> None:
    route = router.get("/v1/reports/rpt_1").mock(
        side_effect=[
            httpx.Response(200, json=make_report(status="in_review")),
            problem(503, "service_unavailable"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=make_report(status="actioned")),
        ]
    )
    client = make_client(flavour, retry=RetryPolicy.disabled())
    report = await call(client, "reports.wait", "rpt_1")
    await close(client)
    assert report.status is ReportStatus.ACTIONED
    assert route.call_count == 4


async def test_wait_keeps_its_timeout_when_polls_fail(
    flavour: str, router: Any, make_report: Any, poll_jitter: bool
) -> None:
    # A Retry-After longer than what is left of the wait ends that poll's retries at once, and
    # the wait too: no poll the platform accepts could be made before its timeout.
    route = router.get("/v1/reports/rpt_1").mock(
        side_effect=[
            httpx.Response(200, json=make_report(status="in_review")),
            *[problem(503, "service_unavailable", headers={"Retry-After": "2"})] * 10,
        ]
    )
    client = make_client(flavour)
    with pytest.raises(WaitTimeout) as info:
        await call(client, "reports.wait", "rpt_1", timeout=1.0, poll_interval=0.5)
    await close(client)
    assert info.value.last_status is ReportStatus.IN_REVIEW
    assert isinstance(info.value.__cause__, DeadlineExceeded)
    assert isinstance(info.value.__cause__.__cause__, ServiceUnavailableError)
    assert "no poll in the next 2s" in str(info.value)
    assert route.call_count == 2  # at 0 and 0.5 s (then 2 s would pass the timeout of 1 s)


async def test_wait_polls_no_sooner_than_a_missed_polls_retry_after(
    flavour: str, router: Any, poll_jitter: bool
) -> None:
    """``Retry-After: 120`` (beyond ``max_retry_after``) on every poll: polls 120 s apart, and
    the wait ends when the next one would pass its timeout, not after 22 polls in 300 s."""
    polled_at: list[float] = []

    def rate_limited(request: httpx.Request) -> httpx.Response:
        polled_at.append(crs_sdk._retry.skipped_waits())  # virtual time: waits are skipped
        return problem(429, "rate_limited", headers={"Retry-After": "120"})

    router.get("/v1/reports/rpt_1").mock(side_effect=rate_limited)
    client = make_client(flavour)
    with pytest.raises(WaitTimeout, match=r"no poll in the next 120s \(Retry-After\)") as info:
        await call(client, "reports.wait", "rpt_1", timeout=300.0)
    await close(client)
    assert isinstance(info.value.__cause__, RateLimitError)
    assert [round(t - polled_at[0]) for t in polled_at] == [0, 120, 240]


async def test_wait_bounds_the_retries_of_its_polls(flavour: str, router: Any) -> None:
    route = router.get("/v1/reports/rpt_1").mock(side_effect=httpx.ConnectError("refused"))
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_attempts=4, jitter=False, budget=None, on_retry=events.append)
    client = make_client(flavour, retry=policy)
    with pytest.raises(WaitTimeout, match="could not be read") as info:
        await call(client, "reports.wait", "rpt_1", timeout=10.0, poll_interval=1.0)
    await close(client)
    assert info.value.last_status is None
    cause = info.value.__cause__
    assert isinstance(cause, (ConnectError, RetryError))
    # Retries of one poll alone (0.5 + 1 + 2 s) would fit; of all polls they cannot pass the
    # timeout, plus the poll_interval the last poll has at the deadline.
    assert sum(event.wait for event in events) <= 10.0 + 1.0
    assert route.call_count > 4  # several polls, each retried


@pytest.mark.parametrize(
    ("answers", "error", "gets"),
    [
        ([problem(404, "not_found")], NotFoundError, 2),
        ([problem(422, "validation_error")], ValidationError, 2),
        ([problem(401, "unauthorized")] * 2, AuthenticationError, 3),  # after one refresh
        ([httpx.Response(200, text="<html>")], DecodeError, 2),
    ],
    ids=["404", "422", "401", "undecodable"],
)
async def test_wait_ends_at_once_on_an_error_no_poll_would_fix(  # noqa: PLR0917 - parametrised
    flavour: str, router: Any, make_report: Any, answers: list[Any], error: type, gets: int
) -> None:
    route = router.get("/v1/reports/rpt_1").mock(
        side_effect=[httpx.Response(200, json=make_report(status="in_review")), *answers]
    )
    client = make_client(flavour)
    with pytest.raises(error):
        await call(client, "reports.wait", "rpt_1")
    await close(client)
    assert route.call_count == gets


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": -1.0},
        {"poll_interval": 0.0},
        {"poll_interval": 5.0, "max_poll_interval": 1.0},
        {"until": []},
        {"until": "actoned"},  # would wait out the timeout
        {"until": {"actioned", "rejcted"}},
    ],
)
async def test_wait_refuses_nonsense(
    flavour: str, router: Any, kwargs: dict[str, Any], make_report: Any
) -> None:
    route = router.get("/v1/reports/rpt_1").respond(200, json=make_report(status="in_review"))
    client = make_client(flavour)
    with pytest.raises(ValueError):
        await call(client, "reports.wait", "rpt_1", **kwargs)
    await close(client)
    assert route.call_count == 0  # refused before any request


# --- configuration, lifecycle, secrets ----------------------------------------------------------


async def test_repr_never_shows_secrets(flavour: str, router: Any, make_report: Any) -> None:
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    client = make_client(flavour)
    await call(client, "reports.get", "rpt_1")
    texts = [repr(client), str(client), repr(client.config), repr(client._tokens)]
    texts.append(repr(client._tokens._token))
    await close(client)
    for text in texts:
        assert SECRET not in text
        assert TOKEN not in text
    assert "demo-agency" in repr(client)
    assert BASE in repr(client)


async def test_configuration_from_the_environment(
    flavour: str, router: Any, monkeypatch: pytest.MonkeyPatch, make_report: Any
) -> None:
    monkeypatch.setenv("CRS_BASE_URL", BASE + "/")
    monkeypatch.setenv("CRS_CLIENT_ID", "demo-agency")
    monkeypatch.setenv("CRS_CLIENT_SECRET", SECRET)
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    cls = CRSClient if flavour == "sync" else AsyncCRSClient
    client = cls()
    assert client.config.base_url == BASE
    await call(client, "reports.get", "rpt_1")
    await close(client)


@pytest.mark.parametrize(
    ("missing", "argument", "variable"),
    [
        ("CRS_BASE_URL", "base_url", "CRS_BASE_URL"),
        ("CRS_CLIENT_ID", "client_id", "CRS_CLIENT_ID"),
        ("CRS_CLIENT_SECRET", "client_secret", "CRS_CLIENT_SECRET"),
    ],
)
async def test_missing_configuration_names_argument_and_variable(
    flavour: str, monkeypatch: pytest.MonkeyPatch, missing: str, argument: str, variable: str
) -> None:
    for name in ("CRS_BASE_URL", "CRS_CLIENT_ID", "CRS_CLIENT_SECRET"):
        monkeypatch.setenv(name, BASE if name == "CRS_BASE_URL" else "x")
    monkeypatch.delenv(missing)
    cls = CRSClient if flavour == "sync" else AsyncCRSClient
    with pytest.raises(ConfigurationError) as info:
        cls()
    assert f"{argument}=" in str(info.value)
    assert variable in str(info.value)


async def test_own_http_client_is_not_closed(flavour: str, router: Any, make_report: Any) -> None:
    router.get("/v1/reports/rpt_1").respond(200, json=make_report())
    http: Any = httpx.Client() if flavour == "sync" else httpx.AsyncClient()
    client = make_client(flavour, http_client=http)
    if isinstance(client, AsyncCRSClient):
        async with client:
            await client.reports.get("rpt_1")
        assert not http.is_closed
        await http.aclose()
    else:
        with client:
            client.reports.get("rpt_1")
        assert not http.is_closed
        http.close()


async def test_created_http_client_is_closed(flavour: str, router: Any) -> None:
    client = make_client(flavour)
    if isinstance(client, AsyncCRSClient):
        async with client:
            pass
    else:
        with client:
            pass
    assert client._http.is_closed


async def test_transport_option(flavour: str, make_report: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=token_json())
        return httpx.Response(200, json=make_report())

    transport: Any = httpx.MockTransport(handler)
    client = make_client(flavour, transport=transport)
    report = await call(client, "reports.get", "rpt_1")
    await close(client)
    assert report.id == "rpt_1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"transport": httpx.MockTransport(lambda r: httpx.Response(200))},
        {"proxy": "http://p:1"},
        {"verify": False},
        {"cert": "c.pem"},
    ],
    ids=["transport", "proxy", "verify", "cert"],
)
async def test_http_client_excludes_transport_options(flavour: str, kwargs: dict[str, Any]) -> None:
    http: Any = httpx.Client() if flavour == "sync" else httpx.AsyncClient()
    with pytest.raises(ConfigurationError, match="http_client"):
        make_client(flavour, http_client=http, **kwargs)
    if flavour == "sync":
        http.close()
    else:
        await http.aclose()


async def test_unreadable_client_certificate_is_a_configuration_error(
    flavour: str, tmp_path: Any
) -> None:
    with pytest.raises(ConfigurationError, match="certificate"):
        make_client(flavour, cert=str(tmp_path / "missing.pem"))


@pytest.mark.parametrize("base_url", ["crs.test", "ftp://crs.test", "https://crs.test/?q=1", "   "])
async def test_bad_base_url(flavour: str, base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        make_client(flavour, base_url=base_url)


async def test_base_url_with_a_path_prefix(flavour: str, make_report: Any) -> None:
    with respx.mock(base_url="https://gw.test/crs") as mock:
        mock.post("/oauth/token").respond(200, json=token_json())
        route = mock.get("/v1/reports/rpt_1").respond(200, json=make_report())
        client = make_client(flavour, base_url="https://gw.test/crs/")
        await call(client, "reports.get", "rpt_1")
        await close(client)
    assert route.called
