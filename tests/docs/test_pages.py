"""The code of the tutorials and how-to guides runs, page by page, against a real mock server.

Every ```` ```python ```` block of a page is executed in order in one namespace, as a reader would
paste them. ```` ```pycon ```` and ```` ```console ```` blocks are illustrations and are not run.
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
