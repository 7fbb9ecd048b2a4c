"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _live import LiveServer, start_server, stop_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real mock server for the session, on a SQLite file in a temporary folder."""
    db = tmp_path_factory.mktemp("live-server") / "crs-mock.sqlite3"
    process, base_url = start_server(db)
    try:
        yield LiveServer(base_url=base_url)
    finally:
        stop_server(process)


@pytest.fixture
def live_env(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """Point ``CRS_*`` environment variables at the live server for this test."""
    for name, value in live_server.env().items():
        monkeypatch.setenv(name, value)
    return live_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

