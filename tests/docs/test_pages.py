"""The code of the tutorials and how-to guides runs, page by page, against a real mock server.

Every ```` ```python ```` block of a page is executed in order in one namespace, as a reader would
paste them. ```` ```pycon ```` blocks of the reference pages in `DOCTEST_PAGES` are run as doctests;
the other ```` ```pycon ```` and ```` ```console ```` blocks are illustrations and are not run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from crs_mock import ServerProcess

DOCS = Path(__file__).parents[2] / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = sorted(
    page
    for folder in ("tutorials", "how-to")
    for page in (DOCS / folder).glob("*.md")
    if FENCE.search(page.read_text(encoding="utf-8"))
)


def test_pages_are_found() -> None:
    assert PAGES, "no documentation page with python code was found"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: f"{page.parent.name}/{page.stem}")
def test_page_code_runs(page: Path, live_env: ServerProcess, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Pages assume a mock server whose clock runs: another test may have frozen the shared one.
    httpx.post(f"{live_env.base_url}/_mock/clock/unfreeze", timeout=10).raise_for_status()
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for number, block in enumerate(FENCE.findall(page.read_text(encoding="utf-8")), start=1):
        code = compile(block, f"{page.relative_to(DOCS)} (block {number})", "exec")
        exec(code, namespace)  # noqa: S102


#: Pages whose ```` ```pycon ```` blocks are self-contained examples of what the SDK answers, run as
#: doctests: the reader sees the output, so it must be what the code prints. (The pycon blocks of
#: other pages show calls that need a proxy, certificates or a handler of the reader's, and are not
#: run.)
DOCTEST_PAGES = ("reference/clients.md", "reference/models.md")
PYCON = re.compile(r"^```pycon\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("name", DOCTEST_PAGES)
def test_pycon_examples_print_what_they_show(name: str) -> None:
    import doctest

    import crs_sdk

    page = DOCS / name
    blocks = PYCON.findall(page.read_text(encoding="utf-8"))
    assert blocks, f"{name} has no pycon block any more: update DOCTEST_PAGES"
    # An address nothing listens on: the examples fail before anything is sent.
    client = crs_sdk.CRSClient("http://127.0.0.1:9", client_id="docs", client_secret="docs-secret")
    globs: dict[str, object] = {name: getattr(crs_sdk, name) for name in crs_sdk.__all__}
    globs["client"] = client
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    try:
        for number, block in enumerate(blocks, start=1):
            test = parser.get_doctest(block, globs, f"{name} (pycon {number})", name, 0)
            runner.run(test)
    finally:
        client.close()
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} differ"
