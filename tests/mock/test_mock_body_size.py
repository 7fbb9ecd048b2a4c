"""Request bodies over their limit (`MAX_JSON_BODY` for JSON, `MAX_TOKEN_FORM` for a token request)
are a ``413`` problem as soon as the server knows: by ``Content-Length``, or, for a body sent
without one (chunked), by counting bytes as they arrive. The server stops reading there instead of
holding the whole body first, and nothing changes.

In-process, the test's body counts the bytes the app pulled; over a real socket, the body never
ends, so only a server that stopped reading can answer.
"""

from __future__ import annotations

import base64
import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock._json_bodies import MAX_JSON_BODY
from crs_mock._limits import MAX_TOKEN_FORM
from mock.mock_support import AGENCIES, assert_problem, report_body, state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from crs_mock import MockPlatform, ThreadedServer
    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio

PIECE = 64 * 1024
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
BASIC = "Basic " + base64.b64encode(f"demo-agency:{AGENCIES['demo-agency']}".encode()).decode()


class CountedBody:
    """A body sent chunked (no ``Content-Length``), `size` bytes in pieces; `pulled` is how many
    bytes the server has asked for so far."""

    def __init__(self, size: int, start: bytes = b'{"padding": "') -> None:
        self.size = size
        self.start = start
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        piece = self.start
        while piece:
            self.pulled += len(piece)
            yield piece
            piece = b"a" * min(PIECE, self.size - self.pulled)


@dataclass(frozen=True)
class Target:
    """An endpoint that takes a body; `bearer`: it needs the demo agency's token (else the demo
    agency's Basic credentials are sent, which the token request takes and ``/_mock/`` ignores)."""

    path: str
    limit: int = MAX_JSON_BODY
    media_type: str = JSON
    bearer: bool = False


V1_WRITE = Target("/v1/reports", bearer=True)
MOCK_EVENTS = Target("/_mock/events")
TOKEN = Target("/oauth/token", MAX_TOKEN_FORM, FORM)
JSON_TARGETS = [V1_WRITE, MOCK_EVENTS, Target("/_mock/faults"), Target("/_mock/clock/advance")]
TARGETS = [*JSON_TARGETS, TOKEN]


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.path)
async def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(
    demo: Agency, mock: MockPlatform, target: Target
) -> None:
    body = CountedBody(4 * MAX_JSON_BODY)
    authorization = demo.headers if target.bearer else {"Authorization": BASIC}
    headers = {**authorization, "Content-Type": target.media_type}
    before, now = state(mock), mock.clock.now_ms()
    answer = await demo.client.post(target.path, content=body, headers=headers)
    problem = assert_problem(answer, 413, "payload_too_large")
    assert f"limited to {target.limit} bytes" in problem["detail"]
    assert target.limit < body.pulled <= target.limit + PIECE  # up to the limit, then no further
    assert state(mock) == before
    assert mock.clock.now_ms() == now


@pytest.mark.parametrize("target", JSON_TARGETS, ids=lambda target: target.path)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_size_comes_before_the_media_type_and_the_json(
    demo: Agency, target: Target, *, chunked: bool
) -> None:
    body = CountedBody(2 * MAX_JSON_BODY, start=b"not json")
    content = body if chunked else b"not json" * (MAX_JSON_BODY // 8 + 1)
    authorization = demo.headers if target.bearer else {}
    headers = {**authorization, "Content-Type": "text/plain"}
    answer = await demo.client.post(target.path, content=content, headers=headers)
    assert_problem(answer, 413, "payload_too_large")


async def test_the_token_comes_before_the_body(demo: Agency) -> None:
    body = CountedBody(4 * MAX_JSON_BODY)
    answer = await demo.client.post("/v1/reports", content=body, headers={"Content-Type": JSON})
    assert_problem(answer, 401, "unauthorized")
    assert body.pulled == 0


async def test_a_chunked_body_of_exactly_the_limit_is_taken(demo: Agency) -> None:
    report = json.dumps(report_body()).encode()
    padded = report + b" " * (MAX_JSON_BODY - len(report))

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(padded), PIECE):
            yield padded[start : start + PIECE]

    headers = {**demo.headers, "Content-Type": JSON}
    answer = await demo.client.post("/v1/reports", content=chunked(), headers=headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["client_reference"] == report_body()["client_reference"]


async def test_a_small_chunked_body_is_taken_by_the_control_api(
    client: httpx.AsyncClient, mock: MockPlatform
) -> None:
    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"seconds": '
        yield b"60}"

    before = mock.clock.now_ms()
    answer = await client.post(
        "/_mock/clock/advance", content=chunked(), headers={"Content-Type": JSON}
    )
    assert answer.status_code == 200, answer.text
    assert mock.clock.now_ms() == before + 60_000


# -- over a real socket --------------------------------------------------------------------------


def _answer(sock: socket.socket, url: str) -> httpx.Response:
    """The response read from `sock` (its header block, then ``Content-Length`` bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        assert received, "the server closed without answering"
        data += received
    head, _, content = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines]
    length = int({name.lower(): value for name, value in headers}["content-length"])
    while len(content) < length:
        received = sock.recv(65536)
        assert received, "the server closed in the middle of its answer"
        content += received
    request = httpx.Request("POST", url)
    return httpx.Response(
        int(status_line.split()[1]), headers=headers, content=content, request=request
    )


@pytest.mark.parametrize("target", [V1_WRITE, MOCK_EVENTS, TOKEN], ids=lambda target: target.path)
def test_a_chunked_body_over_the_limit_is_refused_before_its_end(
    server: ThreadedServer, target: Target
) -> None:
    """One chunk a byte over the limit, and no last chunk: the body never ends, so the ``413``
    can only come from a server that stopped reading at the limit."""
    with httpx.Client(base_url=server.base_url) as client:
        granted = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": BASIC},
        )
        assert granted.status_code == 200, granted.text
    authorization = f"Bearer {granted.json()['access_token']}" if target.bearer else BASIC
    url = httpx.URL(server.base_url).join(target.path)
    piece = b"a" * (target.limit + 1)
    with socket.create_connection((url.host, url.port), timeout=30) as sock:
        sock.sendall(
            f"POST {target.path} HTTP/1.1\r\nHost: mock\r\nTransfer-Encoding: chunked\r\n"
            f"Authorization: {authorization}\r\nContent-Type: {target.media_type}\r\n\r\n"
            f"{len(piece):x}\r\n".encode()
            + piece
            + b"\r\n"
        )
        answer = _answer(sock, str(url))
    problem = assert_problem(answer, 413, "payload_too_large")
    assert f"limited to {target.limit} bytes" in problem["detail"]
