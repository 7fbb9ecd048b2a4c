"""The pytest examples of the documentation run, as an integrator's test suite would.

The ```` ```{code-block} python ```` blocks of each page in `docs_helpers.PYTEST_PAGES` ("Test your
integration with pytest" and the pytest fixtures reference), and the examples of the plugin's
docstring (`docs_helpers.PYTEST_DOCSTRINGS`), are written into one test module of a fresh pytest
run (``pytester``), in which the crs-mock plugin is active as it is for any user who
installed ``crs-mock-server``. Two examples use fixtures of the integrator's own
(``start_worker``, ``receiver_client``); this file provides small ones in that run's conftest.
Every example must pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from docs_helpers import PYTEST_DOCSTRINGS, PYTEST_PAGES, docstring_examples, examples

if TYPE_CHECKING:
    from collections.abc import Sequence

pytest_plugins = ["pytester"]


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


def pytest_examples(page: str) -> Sequence[str]:
    found = docstring_examples() if page in PYTEST_DOCSTRINGS else examples(Path(page))
    return [e.code for e in found if e.page == page and e.language == "pytest"]


def test_the_pages_have_examples() -> None:
    assert len(pytest_examples("docs/how-to/test-with-pytest.md")) >= 5
    assert len(pytest_examples("docs/reference/pytest-fixtures.md")) >= 1
    found = {e.page for e in docstring_examples() if e.language == "pytest"}
    assert found == set(PYTEST_DOCSTRINGS)


@pytest.mark.parametrize("page", PYTEST_PAGES + PYTEST_DOCSTRINGS)
def test_every_example_on_the_page_passes(page: str, pytester: pytest.Pytester) -> None:
    blocks = pytest_examples(page)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_howto=PREAMBLE + "\n\n".join(blocks))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "anyio")
    starts = ("def test", "async def test")
    tests = sum(line.startswith(starts) for block in blocks for line in block.splitlines())
    result.assert_outcomes(passed=tests)
