"""pytest fixtures for testing an integration with the CRS API against the mock platform.

Installed with ``crs-mock-server`` and loaded by pytest automatically (the ``pytest11`` entry
point). Nothing happens until a test asks for a fixture: there are no autouse fixtures, and nothing
is imported or started before that.

In-process (fast, no sockets; a fresh platform per test, its clock frozen):

- `crs_mock_app`: the `MockControl` of a new in-process platform (agency ``demo-agency``);
- `crs_client` / `crs_async_client`: a ``CRSClient`` / ``AsyncCRSClient`` bound to it.

Over a real socket (one uvicorn server per test session, so per xdist worker; a new agency per
test, so tests never see each other's reports, faults or requests; after each test the server's
clock is frozen again and every fault rule is removed):

- `crs_mock_server`: the `MockControl` of that server, for this test's agency;
- `crs_live_client` / `crs_live_async_client`: clients of it, as that agency.

Every client fixture turns the SDK's retry waits off (`crs_sdk.testing.no_retry_waits`) for the
test. Fault rules can be declared on the test with the ``crs_fault`` marker; its arguments are
those of `MockControl.fault`::

    @pytest.mark.crs_fault("error", operation_id="submitReport", status=503, next_n=1)
    def test_submit_survives_one_503(crs_client, crs_mock_app): ...

A test with the marker that uses neither `crs_mock_app` nor `crs_mock_server` (directly or through
a client fixture) fails in setup instead of running without its faults.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crs_mock._mock_control import MockControl
    from crs_mock._server import ThreadedServer
    from crs_sdk import AsyncCRSClient, CRSClient

__all__ = [
    "crs_async_client",
    "crs_client",
    "crs_live_async_client",
    "crs_live_client",
    "crs_mock_app",
    "crs_mock_server",
]

IN_PROCESS_URL = "http://crs-mock.test"
DEMO_AGENCY = ("demo-agency", "demo-secret")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "crs_fault(action, **fields): a fault rule of the CRS mock for this test's agency "
        "(arguments as MockControl.fault); needs crs_mock_app or crs_mock_server",
    )


_PLATFORM_FIXTURES = ("crs_mock_app", "crs_mock_server")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test whose ``crs_fault`` markers no platform fixture would apply."""
    if item.get_closest_marker("crs_fault") is None:
        return
    if not set(_PLATFORM_FIXTURES) & set(getattr(item, "fixturenames", ())):
        pytest.fail(
            "the crs_fault marker needs the crs_mock_app or crs_mock_server fixture (directly, "
            "or through crs_client, crs_async_client, crs_live_client or crs_live_async_client); "
            "this test uses neither, so its fault rules would never be in force",
            pytrace=False,
        )


def _apply_fault_markers(request: pytest.FixtureRequest, control: MockControl) -> None:
    """The test's ``crs_fault`` rules, nearest marker first: the bottom decorator's rule is
    added first, so it is tried first (then class, then module markers)."""
    for marker in request.node.iter_markers("crs_fault"):
        control.fault(*marker.args, **marker.kwargs)


@pytest.fixture
def crs_mock_app(request: pytest.FixtureRequest) -> Iterator[MockControl]:
    """A fresh in-process mock platform, its virtual clock frozen, as a `MockControl`.

    ``crs_mock_app.app`` is the ASGI app; the agency is ``demo-agency`` / ``demo-secret``.
    """
    from crs_mock._app import create_app
    from crs_mock._clock import ReviewClock
    from crs_mock._mock_control import MockControl

    app = create_app(clock=ReviewClock(frozen=True))
    agency_id, secret = DEMO_AGENCY
    control = MockControl(app, agency_id=agency_id, client_secret=secret, base_url=IN_PROCESS_URL)
    try:
        _apply_fault_markers(request, control)  # an invalid rule raises: close the platform too
        yield control
    finally:
        app.state.mock.close()


@pytest.fixture
def crs_client(crs_mock_app: MockControl) -> Iterator[CRSClient]:
    """A ``CRSClient`` of the in-process platform (connection faults raise as over TCP)."""
    from crs_mock._transports import FaultingSyncASGITransport
    from crs_sdk import CRSClient
    from crs_sdk.testing import no_retry_waits

    client = CRSClient(
        crs_mock_app.base_url,
        client_id=crs_mock_app.client_id,
        client_secret=crs_mock_app.client_secret,
        transport=FaultingSyncASGITransport(crs_mock_app.app),
    )
    with client, no_retry_waits():
        yield client


@pytest.fixture
def crs_async_client(crs_mock_app: MockControl) -> Iterator[AsyncCRSClient]:
    """An ``AsyncCRSClient`` of the in-process platform, for async tests (anyio, pytest-asyncio).

    It holds no connections, so it needs no closing. Like every ``AsyncCRSClient`` it runs on one
    event loop, the one of its first request (the test's).
    """
    from crs_mock._transports import FaultingASGITransport
    from crs_sdk import AsyncCRSClient
    from crs_sdk.testing import no_retry_waits

    client = AsyncCRSClient(
        crs_mock_app.base_url,
        client_id=crs_mock_app.client_id,
        client_secret=crs_mock_app.client_secret,
        transport=FaultingASGITransport(crs_mock_app.app),
    )
    with no_retry_waits():
        yield client


@pytest.fixture(scope="session")
def _crs_threaded_server() -> Iterator[ThreadedServer]:
    """One uvicorn server for the session (each xdist worker has its own session)."""
    from crs_mock._app import create_app
    from crs_mock._clock import ReviewClock
    from crs_mock._server import ThreadedServer

    app = create_app(clock=ReviewClock(frozen=True))
    try:
        with ThreadedServer(app) as server:
            yield server
    finally:
        app.state.mock.close()


@pytest.fixture
def crs_mock_server(
    request: pytest.FixtureRequest, _crs_threaded_server: ThreadedServer
) -> Iterator[MockControl]:
    """The session's real mock server, as a `MockControl` for a new agency made for this test.

    After the test, the agency's data and journal are deleted, every fault rule of the server is
    removed (those of other agencies and for every agency, ``agency_id=None``, too) and the clock
    is frozen again. The virtual clock belongs to the whole server: advance it, do not expect an
    absolute time.
    """
    from crs_mock._mock_control import MockControl

    server = _crs_threaded_server
    agency_id = f"test-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(16)
    server.app.state.mock.add_agency(agency_id, secret)
    control = MockControl(
        server.app, agency_id=agency_id, client_secret=secret, base_url=server.base_url
    )
    try:
        _apply_fault_markers(request, control)
        yield control
    finally:
        _leave_for_the_next_test(control)


def _leave_for_the_next_test(control: MockControl) -> None:
    """What a fresh test expects of the shared server: no data of this agency, no fault rule of
    any agency, a frozen clock (where this test left it: advancing is all tests may do to it).

    A test that made a full reset (``POST /_mock/reset``) left no data at all, and took its own
    agency with the others added at run time: there is nothing of it left to reset."""
    control.freeze()
    control.platform.faults.clear()
    if control.platform.agencies.known(control.agency_id):
        control.reset()


@pytest.fixture
def crs_live_client(crs_mock_server: MockControl) -> Iterator[CRSClient]:
    """A ``CRSClient`` of the real server, as this test's agency."""
    from crs_sdk import CRSClient
    from crs_sdk.testing import no_retry_waits

    client = CRSClient(
        crs_mock_server.base_url,
        client_id=crs_mock_server.client_id,
        client_secret=crs_mock_server.client_secret,
    )
    with client, no_retry_waits():
        yield client


@pytest.fixture
def crs_live_async_client(crs_mock_server: MockControl) -> Iterator[AsyncCRSClient]:
    """An ``AsyncCRSClient`` of the real server, as this test's agency.

    It keeps no idle connections (each is closed after its answer), so it needs no closing.
    """
    import httpx

    from crs_sdk import AsyncCRSClient
    from crs_sdk.testing import no_retry_waits

    client = AsyncCRSClient(
        crs_mock_server.base_url,
        client_id=crs_mock_server.client_id,
        client_secret=crs_mock_server.client_secret,
        transport=httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0)),
    )
    with no_retry_waits():
        yield client
