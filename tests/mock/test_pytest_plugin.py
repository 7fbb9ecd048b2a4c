"""The pytest plugin, as an integrator uses it: sample test suites run by pytest's own pytester."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from crs_sdk import ReportStatus
from crs_sdk.testing import make_report_create

if TYPE_CHECKING:
    from crs_mock import MockControl
    from crs_sdk import CRSClient

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


def test_an_invalid_fault_marker_still_closes_the_platform(pytester: pytest.Pytester) -> None:
    """The rule is refused in setup; the platform made for it is closed all the same, so the next
    test sees no unclosed database (a ResourceWarning under ``-W error``)."""
    pytester.makepyfile(
        test_marker="""
        import gc

        import pytest


        @pytest.mark.crs_fault("eror", operation_id="submitReport", status=503)
        def test_typo_in_the_action(crs_mock_app):
            pass


        def test_the_next_one(crs_mock_app):
            gc.collect()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*InvalidFaultRuleError: action must be one of*"])


LEAKY_SUITE = """
import time

import httpx
import pytest


def test_1_unfreezes_the_clock(crs_mock_server):
    crs_mock_server.unfreeze()


def test_2_finds_it_frozen(crs_mock_server):
    assert crs_mock_server.platform.clock.frozen
    before = crs_mock_server.now()
    time.sleep(0.05)
    assert crs_mock_server.now() == before


@pytest.mark.crs_fault("error", status=503, agency_id=None, next_n=5)
def test_3_sets_a_rule_for_every_agency(crs_mock_server):
    crs_mock_server.fault("latency", latency_ms=1, agency_id="another-agency")


def test_4_finds_no_rule_at_all(crs_live_client, crs_mock_server):
    assert crs_mock_server.platform.faults.list() == []
    assert list(crs_live_client.reports.list()) == []


def test_5_resets_everything(crs_mock_server):
    # A full reset forgets the agencies added at run time: this test's own among them.
    httpx.post(f"{crs_mock_server.base_url}/_mock/reset").raise_for_status()


def test_6_has_an_agency_again(crs_live_client, crs_mock_server):
    assert crs_mock_server.platform.clock.frozen
    assert list(crs_live_client.reports.list()) == []
"""


def test_the_shared_server_is_left_as_a_fresh_test_expects(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaks=LEAKY_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=6)


def test_a_fault_marker_without_a_platform_fixture_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
        import pytest


        @pytest.mark.crs_fault("error", operation_id="submitReport", status=503)
        def test_forgot_the_fixture():
            pass


        @pytest.mark.crs_fault("error", operation_id="submitReport", status=503)
        def test_through_a_client_fixture(crs_live_client):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_forgot_the_fixture*",
            "*the crs_fault marker needs the crs_mock_app or crs_mock_server fixture*",
        ]
    )


def test_the_bottom_fault_marker_is_tried_first(pytester: pytest.Pytester) -> None:
    """As the reference page says: rules are added nearest marker first, and the oldest rule that
    matches a request is the one that fires."""
    pytester.makepyfile(
        test_order="""
        import pytest


        @pytest.mark.crs_fault("error", operation_id="listReports", status=503, next_n=1)
        @pytest.mark.crs_fault("error", operation_id="listReports", status=502, next_n=1)
        def test_order(crs_client, crs_mock_app):
            list(crs_client.reports.list())
            statuses = [e.status_code for e in crs_mock_app.requests(operation_id="listReports")]
            assert statuses == [502, 503, 200]
            assert [rule.rule.status for rule in crs_mock_app.faults()] == [502, 503]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_deciding_with_an_unknown_outcome_names_the_valid_ones(
    crs_client: CRSClient, crs_mock_app: MockControl
) -> None:
    report = crs_client.reports.create(make_report_create())
    crs_client.reports.submit(report.id)
    expected = "unknown outcome 'removed': an item outcome is one of actioned, no_action, rejected"
    with pytest.raises(ValueError, match=expected):
        crs_mock_app.decide(report.id, "removed")
    item = report.items[0].id
    with pytest.raises(ValueError, match="unknown outcome 'Actioned'"):
        crs_mock_app.decide(report.id, items={item: "Actioned"})
    # A mistyped item id would leave that item to its URL's marker: refused, as over HTTP.
    with pytest.raises(ValueError, match=f"items: No item itm_typo in report {report.id}; nothing"):
        crs_mock_app.decide(report.id, items={item: "no_action", "itm_typo": "actioned"})
    assert crs_client.reports.get(report.id).status == ReportStatus.SUBMITTED


def test_forcing_refuses_what_the_control_api_refuses(
    crs_client: CRSClient, crs_mock_app: MockControl
) -> None:
    """Python exceptions, not the server's internal problem type, and the HTTP API's checks:
    an empty question or summary made a report the contract cannot describe."""
    draft = crs_client.reports.create(make_report_create())
    with pytest.raises(ValueError, match="in status draft; nothing was changed"):
        crs_mock_app.decide(draft.id, "actioned")
    with pytest.raises(ValueError, match="in status draft; nothing was changed"):
        crs_mock_app.request_info(draft.id, "When was it posted?")
    with pytest.raises(LookupError, match="no report rpt_nope of agency demo-agency"):
        crs_mock_app.decide("rpt_nope")
    with pytest.raises(LookupError, match="no report rpt_nope"):
        crs_mock_app.request_info("rpt_nope", "When was it posted?")
    crs_client.reports.submit(draft.id)
    with pytest.raises(ValueError, match="question: Must be at least 1 character"):
        crs_mock_app.request_info(draft.id, "")
    with pytest.raises(ValueError, match="question: Must not contain control characters"):
        crs_mock_app.request_info(draft.id, "When?\x00")
    with pytest.raises(ValueError, match="summary: Must be at least 1 character"):
        crs_mock_app.decide(draft.id, "actioned", summary="")
    assert crs_client.reports.get(draft.id).status == ReportStatus.SUBMITTED
    crs_mock_app.request_info(draft.id, "When was it posted?")
    asked = crs_client.reports.get(draft.id)
    assert asked.info_request is not None
    assert asked.info_request.question == "When was it posted?"


def test_a_fault_block_survives_a_reset_inside_it(
    crs_client: CRSClient, crs_mock_app: MockControl
) -> None:
    """The reset removed the rule: leaving the block removes nothing (it raised LookupError, and
    would have hidden an error raised in the block), and the handle's repr still works."""
    with crs_mock_app.fault("error", operation_id="listReports", status=503) as fault:
        crs_mock_app.reset()
    assert repr(fault) == f"<FaultHandle {fault.id} removed elsewhere>"
    with pytest.raises(LookupError, match=f"fault rule {fault.id} was removed"):
        _ = fault.hits
    assert list(crs_client.reports.list()) == []
    kept = crs_mock_app.fault("error", operation_id="listReports", status=503, next_n=1)
    assert list(crs_client.reports.list()) == []  # the SDK retried the 503
    kept.remove()
    kept.remove()
    assert (kept.hits, repr(kept)) == (1, f"<FaultHandle {kept.id} error hits=1>")
