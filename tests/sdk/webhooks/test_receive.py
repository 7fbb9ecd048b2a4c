"""handle_webhook and the WSGI application: statuses, at-most-once handling, retries."""

from __future__ import annotations

import io
import logging
import threading
import wsgiref.simple_server
import wsgiref.util
import wsgiref.validate
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_sdk.webhooks import (
    WebhookResponse,
    WebhookVerifier,
    WebhookWSGIApp,
    build_headers,
    handle_webhook,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime


class Recorder:
    """A handler that records events and fails while ``failures`` is positive."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[Any] = []
        self.failures = failures

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("downstream database is down")


# --- handle_webhook ---------------------------------------------------------------------------


def test_verified_delivery_is_handled_once(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = Recorder()
    assert handle_webhook(verifier, body, headers, handler) == WebhookResponse(204)
    assert [event.id for event in handler.events] == ["evt_000000000001"]
    duplicate = handle_webhook(verifier, body, headers, handler)
    assert duplicate.status == 200
    assert "already processed" in duplicate.body
    assert len(handler.events) == 1


def test_retry_with_fresh_timestamp_is_acknowledged_not_handled(
    verifier: WebhookVerifier, secret: str, now_seconds: int, body: bytes, headers: dict[str, str]
) -> None:
    handler = Recorder()
    handle_webhook(verifier, body, headers, handler)
    retry = build_headers(secret, "msg_0001", body, timestamp=now_seconds + 60)
    assert handle_webhook(verifier, body, retry, handler).status == 200
    assert len(handler.events) == 1


@pytest.mark.parametrize(
    "case",
    [
        ({"webhook-signature": "v1,AAAA"}, "invalid_signature"),
        ({"webhook-timestamp": "1000000000"}, "stale_timestamp"),
        ({"webhook-timestamp": "9000000000"}, "future_timestamp"),
        ({"webhook-timestamp": "later"}, "invalid_timestamp"),
        ({"webhook-id": ""}, "missing_header: header webhook-id is missing"),
    ],
)
def test_refused_delivery_is_400_with_a_short_reason(
    verifier: WebhookVerifier,
    secret: str,
    body: bytes,
    headers: dict[str, str],
    case: tuple[dict[str, str], str],
) -> None:
    change, reason = case
    handler = Recorder()
    response = handle_webhook(verifier, body, {**headers, **change}, handler)
    assert response.status == 400
    assert response.body.startswith(reason)
    assert len(response.body) <= 200
    assert secret not in response.body
    assert secret[6:] not in response.body
    assert handler.events == []


def test_malformed_payload_is_400_every_time(
    verifier: WebhookVerifier, secret: str, now_seconds: int
) -> None:
    headers = build_headers(secret, "msg_bad", b"[]", timestamp=now_seconds)
    for _ in range(2):
        response = handle_webhook(verifier, b"[]", headers, Recorder())
        assert response.status == 400
        assert response.body.startswith("malformed_payload")


def test_handler_failure_is_500_and_the_retry_is_handled(
    verifier: WebhookVerifier,
    body: bytes,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Recorder(failures=1)
    with caplog.at_level(logging.ERROR, logger="crs_sdk.webhooks"):
        response = handle_webhook(verifier, body, headers, handler)
    assert response.status == 500
    assert "downstream" not in response.body  # the sender learns nothing about our internals
    assert "msg_0001" in caplog.text
    assert "downstream database is down" in caplog.text  # the traceback is logged
    assert handle_webhook(verifier, body, headers, handler).status == 204
    assert handle_webhook(verifier, body, headers, handler).status == 200
    assert len(handler.events) == 2  # the failed call, then the successful retry


def test_base_exception_in_handler_releases_the_id_and_propagates(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    class Stop(BaseException):
        pass

    def stop(_event: object) -> None:
        raise Stop

    with pytest.raises(Stop):
        handle_webhook(verifier, body, headers, stop)
    assert handle_webhook(verifier, body, headers, Recorder()).status == 204


def test_without_a_guard_every_verified_delivery_is_handled(
    clock: Callable[[], datetime], secret: str, body: bytes, headers: dict[str, str]
) -> None:
    handler = Recorder()
    verifier = WebhookVerifier(secret, clock=clock)
    for _ in range(3):
        assert handle_webhook(verifier, body, headers, handler).status == 204
    assert len(handler.events) == 3


def test_headers_may_be_a_one_shot_iterator(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = Recorder()
    response = handle_webhook(verifier, body, iter(list(headers.items())), handler)
    assert response.status == 204


def test_response_headers() -> None:
    assert WebhookResponse(204).headers == ()
    assert dict(WebhookResponse(400, "bad").headers) == {
        "content-type": "text/plain; charset=utf-8",
        "content-length": "3",
    }
    assert dict(WebhookResponse(405, "x").headers)["allow"] == "POST"


# --- WSGI, called directly (and checked by wsgiref.validate) ----------------------------------


def _call_wsgi(
    app: WebhookWSGIApp,
    method: str = "POST",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    content_length: bool = True,
) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "wsgi.input": io.BytesIO(body)}
    wsgiref.util.setup_testing_defaults(environ)
    environ.setdefault("QUERY_STRING", "")
    if content_length:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        captured["status"] = status
        captured["headers"] = dict(response_headers)
        return lambda _data: None

    result = wsgiref.validate.validator(app)(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return captured["status"], captured["headers"], content


def test_wsgi_handles_a_delivery_once(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = Recorder()
    app = WebhookWSGIApp(verifier, handler)
    assert _call_wsgi(app, body=body, headers=headers)[0] == "204 No Content"
    status, response_headers, content = _call_wsgi(app, body=body, headers=headers)
    assert status == "200 OK"
    assert content.startswith(b"duplicate")
    assert response_headers["content-type"] == "text/plain; charset=utf-8"
    assert len(handler.events) == 1


def test_wsgi_refuses_forgery_and_retries_after_handler_failure(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    handler = Recorder(failures=1)
    app = WebhookWSGIApp(verifier, handler)
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    status, _, content = _call_wsgi(app, body=body, headers=forged)
    assert status == "400 Bad Request"
    assert content.startswith(b"invalid_signature")
    assert _call_wsgi(app, body=body, headers=headers)[0] == "500 Internal Server Error"
    assert _call_wsgi(app, body=body, headers=headers)[0] == "204 No Content"
    assert len(handler.events) == 2


def test_wsgi_answers_post_only(verifier: WebhookVerifier) -> None:
    status, response_headers, _ = _call_wsgi(WebhookWSGIApp(verifier, Recorder()), method="GET")
    assert status == "405 Method Not Allowed"
    assert response_headers["allow"] == "POST"


def test_wsgi_bounds_the_body(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    app = WebhookWSGIApp(verifier, Recorder(), max_body_size=len(body) - 1)
    assert _call_wsgi(app, body=body, headers=headers)[0] == "413 Request Entity Too Large"
    exact = WebhookWSGIApp(verifier, Recorder(), max_body_size=len(body))
    assert _call_wsgi(exact, body=body, headers=headers)[0] == "204 No Content"


def test_wsgi_needs_a_content_length(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    app = WebhookWSGIApp(verifier, Recorder())
    status, _, _ = _call_wsgi(app, body=body, headers=headers, content_length=False)
    assert status == "411 Length Required"


def test_wsgi_reads_a_terminated_input_without_length(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    app = WebhookWSGIApp(verifier, Recorder(), max_body_size=len(body))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    statuses: list[str] = []

    def start_response(
        status: str, _headers: list[tuple[str, str]], _exc: Any = None
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda _data: None

    app(environ, start_response)
    assert statuses == ["204 No Content"]
    environ["wsgi.input"] = io.BytesIO(body + b" ")
    app(environ, start_response)
    assert statuses[-1] == "413 Request Entity Too Large"


# --- WSGI on a real loopback socket -----------------------------------------------------------


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def wsgi_server(
    verifier: WebhookVerifier,
) -> Iterator[tuple[str, Recorder]]:
    handler = Recorder(failures=1)
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, WebhookWSGIApp(verifier, handler), handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_wsgi_over_loopback(
    wsgi_server: tuple[str, Recorder], body: bytes, headers: dict[str, str]
) -> None:
    url, handler = wsgi_server
    with httpx.Client(base_url=url) as client:
        assert client.post("/hooks", content=body, headers=headers).status_code == 500
        assert client.post("/hooks", content=body, headers=headers).status_code == 204
        assert client.post("/hooks", content=body, headers=headers).status_code == 200
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        assert client.post("/hooks", content=body, headers=forged).status_code == 400
        assert client.get("/hooks").status_code == 405
    assert len(handler.events) == 2


@pytest.mark.parametrize(
    ("length", "status"),
    [("\u00b2", "411 Length Required"), ("9" * 5000, "413 Request Entity Too Large")],
)
def test_wsgi_reads_only_a_content_length_int_can(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], length: str, status: str
) -> None:
    # "²" is a digit to str.isdigit, and int reads at most 4,300 digits: neither may raise.
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": length,
        "wsgi.input": io.BytesIO(body),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    statuses: list[str] = []
    WebhookWSGIApp(verifier, Recorder())(environ, lambda s, _h, _e=None: statuses.append(s))
    assert statuses == [status]
