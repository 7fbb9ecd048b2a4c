"""The pytest plugin, as an integrator uses it: sample test suites run by pytest's own pytester."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

pytest_plugins = ["pytester"]

PASSING_SUITE = """
import threading

import pytest
from crs_sdk import ReportStatus
from crs_sdk.testing import make_report_create


def test_review_runs_on_the_virtual_clock(crs_client, crs_mock_app):
    report = crs_client.reports.create(make_report_create())
    crs_client.reports.submit(report.id)
    crs_mock_app.advance(7 * 24 * 3600)
    assert crs_client.reports.get(report.id).status == ReportStatus.ACTIONED


def test_forced_decision(crs_client, crs_mock_app):
    report = crs_client.reports.create(make_report_create())
    crs_client.reports.submit(report.id)
    crs_mock_app.decide(report.id, "no_action")
    assert crs_client.reports.get(report.id).status == ReportStatus.NO_ACTION


@pytest.mark.crs_fault("error", operation_id="submitReport", status=503, retry_after=1, next_n=1)
def test_a_503_is_retried(crs_client, crs_mock_app):
    report = crs_client.reports.create(make_report_create())
    assert crs_client.reports.submit(report.id).status == ReportStatus.SUBMITTED
    statuses = [e.status_code for e in crs_mock_app.requests(operation_id="submitReport")]
    assert statuses == [503, 200]
    assert [rule.hits for rule in crs_mock_app.faults()] == [1]


def test_reset_on_a_real_socket(crs_live_client, crs_mock_server):
    with crs_mock_server.fault("connection_reset", operation_id="listReports", next_n=1) as rule:
        assert list(crs_live_client.reports.list()) == []
    assert rule.hits == 1


def test_each_test_has_its_own_agency(crs_live_client, crs_mock_server):
    assert crs_mock_server.agency_id.startswith("test-")
    assert list(crs_live_client.reports.list()) == []
    assert crs_mock_server.faults() == []


def test_wait_for_a_request(crs_live_client, crs_mock_server):
    after = crs_mock_server.cursor()
    worker = threading.Thread(target=lambda: list(crs_live_client.reports.list()))
    worker.start()
    entry = crs_mock_server.wait_for_request(after=after, operation_id="listReports")
    worker.join()
    assert entry.status_code == 200
    assert entry.request_headers["authorization"] == "[redacted]"


@pytest.mark.anyio
async def test_async_client(crs_async_client, crs_mock_app):
    report = await crs_async_client.reports.create(make_report_create())
    await crs_async_client.reports.submit(report.id)
    crs_mock_app.decide(report.id, "rejected")
    assert (await crs_async_client.reports.get(report.id)).status == ReportStatus.REJECTED


@pytest.mark.anyio
async def test_live_async_client(crs_live_async_client, crs_mock_server):
    report = await crs_live_async_client.reports.create(make_report_create())
    assert [r.id async for r in crs_live_async_client.reports.list()] == [report.id]
"""

FAILING_SUITE = """
from crs_sdk import ReportStatus
from crs_sdk.testing import make_report_create


def test_forgot_to_advance_the_clock(crs_client, crs_mock_app):
    report = crs_client.reports.create(make_report_create())
    crs_client.reports.submit(report.id)
    assert crs_client.reports.get(report.id).status == ReportStatus.ACTIONED


def test_request_that_never_comes(crs_mock_app):
    crs_mock_app.wait_for_request(operation_id="appealReport", timeout=0.1)
"""


def test_an_integrator_suite_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_integration=PASSING_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=8)


def test_a_wrong_expectation_fails_readably(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_integration=FAILING_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*assert crs_client.reports.get(report.id).status == ReportStatus.ACTIONED*",
            "*- actioned*",
            "*+ submitted*",
            (
                "*AssertionError: no request matching {'operation_id': 'appealReport'} "
                "arrived within 0.1 s*"
            ),
        ]
    )


def test_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    listing = result.stdout.str()
    for name in ("crs_mock_app", "crs_client", "crs_async_client", "crs_mock_server"):
        assert f"{name} -- " in listing
    assert "A fresh in-process mock platform" in listing


def test_the_plugin_is_inert_until_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import threading

        def test_no_server_is_started():
            assert threading.active_count() == 1

        def test_marker_is_registered(pytestconfig):
            assert any(line.startswith("crs_fault") for line in pytestconfig.getini("markers"))
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """pytest loads the plugin in every run where crs-mock-server is installed: that must not
    import the server, Starlette, uvicorn, httpx or the SDK (a fresh interpreter, no timing)."""
    code = (
        "import sys, crs_mock._pytest_plugin, json;"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'crs_mock', 'crs_sdk', 'starlette', 'uvicorn', 'httpx', 'anyio'})))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["crs_mock", "crs_mock._pytest_plugin", "crs_mock._version"]
