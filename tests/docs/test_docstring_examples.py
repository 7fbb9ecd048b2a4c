"""The code examples of the docstrings that the reference pages render run, as a reader would.

Reference docstrings show their examples without the imports of the package's names, as the
reference pages' ```` ```pycon ```` blocks do (see ``test_pages.py``): each docstring's blocks run
in order in one namespace holding those names. Where an example uses a thing of the reader's (the
``test_client`` of their webhook receiver, a ``whsec_...`` secret, the ``CRS_WEBHOOK_SECRET``
variable), the test provides one. The examples that are test modules run in
``test_pytest_howto.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from docs_helpers import docstring_examples

import crs_sdk
import crs_sdk.testing
import crs_sdk.webhooks

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXAMPLES = [example for example in docstring_examples() if example.language == "python"]
DOCSTRINGS = sorted({example.page for example in EXAMPLES})


def test_the_docstring_examples_are_found() -> None:
    assert DOCSTRINGS == ["docstring of crs_sdk.testing", "docstring of crs_sdk.webhooks"]


@pytest.fixture
def test_client() -> Iterator[httpx.Client]:
    """The reader's webhook receiver, in `crs_sdk.testing`'s example: its secret is `SECRET`."""
    verifier = crs_sdk.webhooks.WebhookVerifier(SECRET)
    app = crs_sdk.webhooks.WebhookWSGIApp(verifier, lambda event: None)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://receiver") as client:
        yield client


def _did_what_it_says(docstring: str, namespace: dict[str, Any]) -> None:
    if docstring == "docstring of crs_sdk.testing":
        assert namespace["report"].status == crs_sdk.ReportStatus.SUBMITTED
        assert namespace["event"].data.report_id == namespace["report"].id
        assert namespace["response"].status_code == 204  # the receiver verified and handled it
    else:
        assert isinstance(namespace["app"], crs_sdk.webhooks.WebhookASGIApp)


@pytest.mark.parametrize("docstring", DOCSTRINGS)
def test_docstring_examples_run(
    docstring: str, test_client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRS_WEBHOOK_SECRET", SECRET)
    namespace: dict[str, Any] = {
        **{name: getattr(crs_sdk, name) for name in crs_sdk.__all__},
        **{name: getattr(crs_sdk.webhooks, name) for name in crs_sdk.webhooks.__all__},
        "test_client": test_client,
    }
    try:
        for example in (example for example in EXAMPLES if example.page == docstring):
            code = example.code.replace('"whsec_..."', repr(SECRET))
            exec(compile(code, example.name, "exec"), namespace)  # noqa: S102
        _did_what_it_says(docstring, namespace)
    finally:
        crs_sdk.testing.set_testing(False)  # the example turns it on "for a whole session"
        guard = getattr(namespace.get("verifier"), "replay_guard", None)
        if isinstance(guard, crs_sdk.webhooks.SQLiteReplayGuard):
            guard.close()
