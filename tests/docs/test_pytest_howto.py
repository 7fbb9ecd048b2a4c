"""The examples of "Test your integration with pytest" run, as an integrator's test suite would.

The page's ```` ```{code-block} python ```` blocks are written into one test module of a fresh
pytest run (``pytester``), in which the crs-mock plugin is active as it is for any user who
installed ``crs-mock-server``. Two examples use fixtures of the integrator's own
(``start_worker``, ``receiver_client``); this file provides small ones in that run's conftest.
Every example must pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

pytest_plugins = ["pytester"]

PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "test-with-pytest.md"
BLOCK = re.compile(r"^```\{code-block\} python\n(.*?)^```", re.DOTALL | re.MULTILINE)

PREAMBLE = """\
import pytest

from crs_sdk import ReportStatus
from crs_sdk.testing import make_report_create
"""

CONFTEST = """\
import threading

import httpx
import pytest

from crs_sdk.webhooks import WebhookVerifier, WebhookWSGIApp


@pytest.fixture
def start_worker(crs_client):
    workers = []

    def start():
        worker = threading.Thread(target=lambda: list(crs_client.events.list()))
        worker.start()
        workers.append(worker)

    yield start
    for worker in workers:
        worker.join(10)


@pytest.fixture
def receiver_client():
    verifier = WebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    app = WebhookWSGIApp(verifier, lambda event: None)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://receiver") as client:
        yield client
"""


def test_the_page_has_examples() -> None:
    assert len(BLOCK.findall(PAGE.read_text(encoding="utf-8"))) >= 5


def test_every_example_on_the_page_passes(pytester: pytest.Pytester) -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_howto=PREAMBLE + "\n\n".join(blocks))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "anyio")
    starts = ("def test", "async def test")
    tests = sum(line.startswith(starts) for block in blocks for line in block.splitlines())
    result.assert_outcomes(passed=tests)
