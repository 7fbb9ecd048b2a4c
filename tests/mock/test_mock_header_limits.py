"""Header limits: oversized header fields are a ``431`` problem, unreadable requests a ``400`` one.

In-process for the app's check (exact boundary, state unchanged), and over a real socket for what
the HTTP layer does before the app (sockets are the point there).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_mock import JournalFilter, ThreadedServer
from crs_mock._limits import MAX_HEADER_BLOCK, MAX_HEADER_BYTES
from mock.mock_support import Agency, assert_problem, assert_schema

if TYPE_CHECKING:
    from crs_mock import MockPlatform

pytestmark = pytest.mark.anyio


def padded(agency: Agency, method: str, total: int, **kwargs: Any) -> httpx.Request:
    """A request whose header fields (as the app gets them) take exactly ``total`` bytes."""
    request = agency.client.build_request(method, "/v1/reports", headers=agency.headers, **kwargs)
    used = sum(len(name) + len(value) for name, value in request.headers.raw)
    request.headers["X-Padding"] = "a" * (total - used - len(b"x-padding"))
    assert sum(len(name) + len(value) for name, value in request.headers.raw) == total
    return request


async def test_header_fields_up_to_the_limit_are_served(demo: Agency) -> None:
    response = await demo.client.send(padded(demo, "GET", MAX_HEADER_BYTES))
    assert response.status_code == 200, response.text


async def test_header_fields_over_the_limit_are_a_431_problem(
    demo: Agency, mock: MockPlatform
) -> None:
    body = {"client_reference": "CP-431"}
    request = padded(demo, "POST", MAX_HEADER_BYTES + 1, json=body)
    response = await demo.client.send(request)
    problem = assert_problem(response, 431, "invalid_request")
    assert problem["header"] == "x-padding"
    assert problem["title"] == "Request header fields too large"
    assert f"{MAX_HEADER_BYTES + 1} bytes" in problem["detail"]
    # Refused at the door: nothing was handled, nothing was recorded.
    assert (await demo.get("/v1/reports")).json()["data"] == []
    assert mock.journal.query(JournalFilter(operation_id="createReport")) == []


# -- over a real socket --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024])
def test_a_large_header_block_reaches_the_app_and_is_a_431_problem(
    server: ThreadedServer, size: int
) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        response = client.get("/v1/reports", headers={"X-Padding": "a" * size})
    problem = assert_problem(response, 431, "invalid_request")
    assert problem["header"] == "x-padding"


def raw_exchange(server: ThreadedServer, data: bytes) -> bytes:
    """Send ``data`` on a new connection and read the answer until the server closes."""
    host, port = httpx.URL(server.base_url).host, httpx.URL(server.base_url).port
    chunks: list[bytes] = []
    with socket.create_connection((host, port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (BrokenPipeError, ConnectionResetError):
            if not chunks:  # a reset after the answer is the server closing: fine
                raise
    return b"".join(chunks)


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_protocol_problem(answer: bytes) -> None:
    status, headers, body = parse_answer(answer)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem = httpx.Response(400, content=body).json()
    assert_schema("Problem", problem)
    assert problem["code"] == "invalid_request"
    assert problem["request_id"] == headers["x-request-id"]


def test_bytes_that_are_not_http_are_a_400_problem(server: ThreadedServer) -> None:
    assert_protocol_problem(raw_exchange(server, b"\x16\x03\x01 not an HTTP request\r\n\r\n"))


def test_a_header_block_over_the_protocol_limit_is_a_400_problem(server: ThreadedServer) -> None:
    # A header block that never ends, one byte past what the HTTP layer keeps. Exactly one: the
    # server then holds every byte sent when it answers and closes, so the close is not a reset.
    request = b"GET /v1/reports HTTP/1.1\r\nHost: x\r\nX-Padding: "
    answer = raw_exchange(server, request + b"a" * (MAX_HEADER_BLOCK + 1 - len(request)))
    assert_protocol_problem(answer)
