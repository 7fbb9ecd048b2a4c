"""Fixtures shared by every test folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from crs_mock import ServerProcess

if TYPE_CHECKING:
    from collections.abc import Iterator

# No wall-clock limits in tests: the machines are shared and noisy. Hypothesis's defaults are two
# (a 200 ms deadline per example, and the health check that fails a test whose data generation is
# slow), so the profile every test runs under turns both off; example counts still bound the work.
settings.register_profile("crs", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("crs")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real mock server for the session, on a SQLite file in a temporary folder."""
    db = tmp_path_factory.mktemp("live-server") / "crs-mock.sqlite3"
    with ServerProcess(db) as server:
        yield server


@pytest.fixture
def live_env(live_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """Point the ``CRS_*`` environment variables at the live server for this test."""
    for name, value in live_server.env().items():
        monkeypatch.setenv(name, value)
    return live_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
