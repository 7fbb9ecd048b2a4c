"""Fixtures for the mock server's tests: an in-process app on a frozen clock, agency clients, and
the app on a real socket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from crs_mock import MockPlatform, ReviewClock, ThreadedServer, create_app
from mock.mock_support import AGENCIES, START, Agency, serving

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from starlette.applications import Starlette


@pytest.fixture
def clock() -> ReviewClock:
    return ReviewClock(start=START, frozen=True)


@pytest.fixture
def app(clock: ReviewClock) -> Iterator[Starlette]:
    application = create_app(clock=clock, agencies=AGENCIES)
    yield application
    application.state.mock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    """The app on a real loopback socket, one per test module (for what only sockets show)."""
    yield from serving()


@pytest.fixture
def mock(app: Starlette) -> MockPlatform:
    platform: MockPlatform = app.state.mock
    return platform


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
        yield http


@pytest.fixture
async def demo(client: httpx.AsyncClient) -> Agency:
    agency = Agency(client, "demo-agency")
    await agency.login()
    return agency


@pytest.fixture
async def other(client: httpx.AsyncClient) -> Agency:
    agency = Agency(client, "other-agency")
    await agency.login()
    return agency
