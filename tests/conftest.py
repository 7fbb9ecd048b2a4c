"""Fixtures shared by every test folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from crs_mock import ServerProcess

if TYPE_CHECKING:
    from collections.abc import Iterator


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
