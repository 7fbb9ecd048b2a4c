"""Shared fixtures of the SDK tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import crs_sdk.testing
from sdk.tus_support import TusServer

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the async client's event loop)."""
    return "asyncio"


@pytest.fixture
def no_retry_waits() -> Any:
    """Retries skip their pauses (`crs_sdk.testing.no_retry_waits`)."""
    with crs_sdk.testing.no_retry_waits():
        yield


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary user cache: the default FileResumeStore never touches the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Each test runs with the sync client and with the async one."""
    return str(request.param)


@pytest.fixture
def server() -> TusServer:
    """A fresh in-process tus server (`sdk.tus_support`)."""
    return TusServer()


def report_payload(**overrides: Any) -> dict[str, Any]:
    """A complete ``Report`` as the server sends it."""
    report: dict[str, Any] = {
        "id": "rpt_1",
        "client_reference": "CASE-1",
        "status": "draft",
        "items": [
            {
                "id": "itm_1",
                "url": "https://facebook.com/posts/1",
                "platform": "facebook",
                "content_type": "post",
                "account": None,
                "observed_at": None,
                "decision": None,
            }
        ],
        "category": "grooming",
        "violation_basis": "policy_violation",
        "legal_basis": [],
        "explanation": "Adult contacting children.",
        "requested_actions": ["remove"],
        "territorial_scope": [],
        "reporting_officer": {"name": "A. Officer", "email": "officer@example.gov"},
        "good_faith_declaration": False,
        "priority": "standard",
        "escalation_reason": None,
        "info_request": None,
        "decision": None,
        "appeal": None,
        "status_history": [{"status": "draft", "at": "2026-11-23T10:15:00Z", "note": None}],
        "evidence_count": 0,
        "created_at": "2026-11-23T10:15:00Z",
        "updated_at": "2026-11-23T10:15:00Z",
        "submitted_at": None,
    }
    report.update(overrides)
    return report


@pytest.fixture
def make_report() -> Any:
    """A factory of ``Report`` payloads: ``make_report(status="submitted")``."""
    return report_payload
