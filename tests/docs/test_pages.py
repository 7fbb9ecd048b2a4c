"""Every code example of the documentation and the README runs, page by page, as a reader would.

The ```` ```python ```` and ```` ```pycon ```` blocks of a page run in order in one namespace, as a
reader would paste them, against a real mock server whose address and credentials are in the
``CRS_*`` variables; a ```` ```pycon ```` block is a doctest, so what it shows must be what the
code prints. A page that continues from something its text only describes (a client, a report, a
handler of the reader's) gets it from `SETUPS`, and `CHECKS` then checks that its code did what
the text says. A ``print(...)`` whose comment shows its output (``print(server.starts)  # 2``)
must print that. The ```` ```{code-block} python ```` blocks are test modules, run by
``test_pytest_howto.py``, and the examples of the docstrings that the reference pages render by
``test_docstring_examples.py``. `test_every_example_is_run` keeps the list honest: a new block
is run by one of these tests, or is named in `NOT_RUN` with the reason.
"""

from __future__ import annotations

import builtins
import doctest
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from docs_helpers import PYTEST_PAGES, Example, all_examples, examples, pages, shown_outputs

import crs_sdk
from crs_sdk import CRSClient
from crs_sdk.testing import make_report_create

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from crs_mock import ServerProcess

TLS = Path(__file__).parent / "tls"

#: Examples no test runs, by `Example.name`, with the reason. Keep it empty where you can.
NOT_RUN: dict[str, str] = {}

RUN_PAGES = sorted(
    {example.page for example in all_examples() if example.language in ("python", "pycon")}
)


def test_every_example_is_run() -> None:
    found = all_examples()
    assert found, "no code example was found"
    pytest_pages = {example.page for example in found if example.language == "pytest"}
    assert pytest_pages == set(PYTEST_PAGES), "a page's pytest examples are not run"
    unnamed = set(NOT_RUN) - {example.name for example in found}
    assert not unnamed, f"NOT_RUN names blocks that are not there any more: {unnamed}"
    # Every other block is run by test_page_code_runs, whose pages are RUN_PAGES.
    assert {example.page for example in found if example.name not in NOT_RUN} <= {
        *RUN_PAGES,
        *PYTEST_PAGES,
    }


#: The other fences the pages use: shell sessions and drawings, and Sphinx directives.
OTHER_FENCES = {"console", "text", "{eval-rst}", "{toctree}", "{include}", "{openapi-operations}"}
OPENING_FENCE = re.compile(r"^[ \t]*```([^`\s][^`\n]*)$", re.MULTILINE)


def test_no_example_hides_in_another_fence() -> None:
    """A ```` ```py ````, ```` ```python3 ```` or ```` ```{code-block} pycon ```` block would escape
    the inventory: every fence is one it knows."""
    known = {"python", "pycon", "{code-block} python"} | OTHER_FENCES
    for page in pages():
        fences = OPENING_FENCE.findall(page.read_text(encoding="utf-8"))
        unknown = {
            f.strip() for f in fences if f.strip() not in known and f.split()[0] not in known
        }
        assert not unknown, f"{page}: fences the docs tests do not know: {unknown}"


def test_the_inventory_sees_indented_and_readme_blocks() -> None:
    names = {example.name for example in all_examples()}
    assert "README.md (block 1, python)" in names
    assert "docs/reference/pytest-fixtures.md (block 1, pytest)" in names


# -- what pages outside the tutorials assume --------------------------------------------------


def _reference_page(namespace: dict[str, Any], server: ServerProcess, tmp_path: Path) -> None:
    """Reference pages show calls on a ``client`` and the package's names, without imports.

    Their client is at an address nothing listens on: the examples fail before anything is sent.
    """
    namespace.update({name: getattr(crs_sdk, name) for name in crs_sdk.__all__})
    namespace["client"] = CRSClient("http://127.0.0.1:9", client_id="docs", client_secret="docs")


def _readme(namespace: dict[str, Any], server: ServerProcess, tmp_path: Path) -> None:
    """The README uploads "a file of yours", ``recording.mp4``."""
    Path("recording.mp4").write_bytes(os.urandom(100_000))


#: The CA bundle and client certificate of the mutual-TLS example of configure-retries are files of
#: the reader's: the test's own (tests/docs/tls/) stand in for them.
REPLACED_PATHS = {
    "/etc/ssl/certs/ministry-ca.pem": TLS / "client.crt",
    "/etc/crs/client.crt": TLS / "client.crt",
    "/etc/crs/client.key": TLS / "client.key",
}


def _escalating_client() -> tuple[CRSClient, httpx.Client]:
    """A client of ``server`` that reads every report as ``escalated``: a status this SDK does not
    know, as a newer platform could send it."""
    upstream = httpx.Client(timeout=30)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = upstream.send(request)
        content = answer.content
        if answer.status_code == 200 and re.fullmatch(r"/v1/reports/[^/]+", request.url.path):
            content = json.dumps({**answer.json(), "status": "escalated"}).encode()
        skip = {"content-length", "content-encoding", "transfer-encoding"}
        headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in skip]
        return httpx.Response(answer.status_code, headers=headers, content=content)

    return CRSClient(transport=httpx.MockTransport(handler)), upstream


def _events_page(namespace: dict[str, Any], server: ServerProcess, tmp_path: Path) -> None:
    """The event log example resumes after ``last_seen_id`` with a ``handle`` of the reader's; the
    polling example waits on a ``report_id`` for a status the SDK does not know."""
    client, upstream = _escalating_client()
    before = list(client.events.list())
    report = client.reports.create(make_report_create())
    client.reports.submit(report.id)
    handled: list[crs_sdk.Event] = []
    namespace.update(
        client=client,
        upstream=upstream,
        last_seen_id=before[-1].id if before else None,
        handle=handled.append,
        handled=handled,
        report_id=report.id,
    )


def _events_page_did_its_work(namespace: dict[str, Any]) -> None:
    handled = namespace["handled"]
    assert handled, "the event log example handled no event"
    assert namespace["last_seen_id"] == handled[-1].id
    assert namespace["report"].status == "escalated"
    assert not namespace["report"].status.is_known


def _secret_not_shown(namespace: dict[str, Any]) -> None:
    assert namespace["signing_secret"] not in repr(namespace["endpoint"])


def _mutual_tls_client_made(namespace: dict[str, Any]) -> None:
    assert isinstance(namespace["client"], CRSClient)


SETUPS: dict[str, Callable[[dict[str, Any], ServerProcess, Path], None]] = {
    "README.md": _readme,
    "docs/explanation/webhooks-polling-events.md": _events_page,
    "docs/reference/clients.md": _reference_page,
    "docs/reference/models.md": _reference_page,
}
CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "docs/explanation/webhooks-polling-events.md": _events_page_did_its_work,
    "docs/how-to/configure-retries.md": _mutual_tls_client_made,
    "docs/tutorials/receive-webhooks.md": _secret_not_shown,
}


def _close(namespace: dict[str, Any]) -> None:
    for value in list(namespace.values()):
        if isinstance(value, (CRSClient, httpx.Client)):
            value.close()


def _run_pycon(example: Example, namespace: dict[str, Any]) -> None:
    code = example.code
    if example.page == "docs/how-to/configure-retries.md":
        for path, replacement in REPLACED_PATHS.items():
            code = code.replace(path, str(replacement))
    test = doctest.DocTestParser().get_doctest(code, namespace, example.name, example.page, 0)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)  # the doctest ran on a copy: keep what it defined, as a reader's
    assert runner.failures == 0, "".join(report)


Printed = list[tuple[str, int, str]]


def _recording_print(printed: Printed) -> Callable[..., None]:
    """A ``print`` that also records what it writes to standard output, and from which line."""

    def print_(*args: object, **kwargs: Any) -> None:
        if kwargs.get("file") is None:
            caller = sys._getframe(1)
            text = io.StringIO()
            builtins.print(*args, **{**kwargs, "file": text})  # noqa: T201 - the page's print
            printed.append((caller.f_code.co_filename, caller.f_lineno, text.getvalue()))
        builtins.print(*args, **kwargs)  # noqa: T201 - the page's print

    return print_


def _check_shown_outputs(examples_run: list[Example], printed: Printed) -> None:
    for example in examples_run:
        for shown in shown_outputs(example.code):
            where = f"{example.name}, line {shown.first_line}"
            outputs = [
                text.removesuffix("\n")
                for name, line, text in printed
                if name == example.name and shown.first_line <= line <= shown.last_line
            ]
            assert outputs, f"{where} printed nothing; its comment shows {shown.comment!r}"
            for output in outputs:
                assert shown.matches(output), f"{where} printed {output!r}, not {shown.comment!r}"


@pytest.fixture
def page_namespace(live_env: ServerProcess) -> Iterator[dict[str, Any]]:
    namespace: dict[str, Any] = {}
    try:
        yield namespace
    finally:
        _close(namespace)


@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_code_runs(
    page: str,
    live_env: ServerProcess,
    page_namespace: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    # Pages assume a mock server whose clock runs: another test may have frozen the shared one.
    httpx.post(f"{live_env.base_url}/_mock/clock/unfreeze", timeout=10).raise_for_status()
    page_namespace["__name__"] = "docs_" + re.sub(r"\W", "_", page.removesuffix(".md"))
    if page in SETUPS:
        SETUPS[page](page_namespace, live_env, tmp_path)
    printed: Printed = []
    page_namespace["print"] = _recording_print(printed)
    run = [e for e in examples(Path(page)) if e.name not in NOT_RUN and e.language != "pytest"]
    for example in run:
        if example.language == "pycon":
            _run_pycon(example, page_namespace)
        else:
            exec(compile(example.code, example.name, "exec"), page_namespace)  # noqa: S102
    _check_shown_outputs([example for example in run if example.language == "python"], printed)
    if page in CHECKS:
        CHECKS[page](page_namespace)
