"""The code examples of the documentation and the README, found the way a reader sees them.

A reader may copy any ```` ```python ````, ```` ```pycon ```` or ```` ```{code-block} python ````
block, including one indented inside a list or a definition, so the tests find all of them here,
and `test_pages.test_every_example_is_run` checks that each one is run by some test.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"

#: A fenced block of code, at any indentation; its closing fence is at the opening one's.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<language>python|pycon|\{code-block\} python)[ \t]*\n"
    r"(?P<code>.*?)^(?P=indent)```",
    re.DOTALL | re.MULTILINE,
)

#: Pages whose ```` ```{code-block} python ```` blocks are test modules (test_pytest_howto.py).
PYTEST_PAGES = ("docs/how-to/test-with-pytest.md", "docs/reference/pytest-fixtures.md")


class Example(NamedTuple):
    """One code block: its page (relative to the repository), language, number and code."""

    page: str
    language: str  # "python", "pycon" or "pytest" (a ```{code-block} python, a test module)
    number: int  # 1-based, among the blocks of these languages on the page
    code: str

    @property
    def name(self) -> str:
        return f"{self.page} (block {self.number}, {self.language})"


def pages() -> list[Path]:
    """The README and every page of the documentation."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def examples(page: Path) -> list[Example]:
    """The code blocks of ``page`` (a path, absolute or relative to the repository), in order."""
    path = page if page.is_absolute() else ROOT / page
    found = FENCE.finditer(path.read_text(encoding="utf-8"))
    return [
        Example(
            page=path.relative_to(ROOT).as_posix(),
            language="pytest" if match["language"].startswith("{") else match["language"],
            number=number,
            code=textwrap.dedent(match["code"]),
        )
        for number, match in enumerate(found, start=1)
    ]


def all_examples() -> list[Example]:
    return [example for page in pages() for example in examples(page)]


class ShownOutput(NamedTuple):
    """A ``print(...)`` of an example whose comment shows what it prints.

    The comment is on the line where the call ends, or alone on the line after it; it is the output
    itself, or the output followed by ``": "`` and a remark (``# draft: it survived``).
    """

    first_line: int
    last_line: int
    comment: str

    def matches(self, output: str) -> bool:
        return self.comment == output or self.comment.startswith(f"{output}: ")


def shown_outputs(code: str) -> list[ShownOutput]:
    """The print calls of ``code`` whose output a comment shows."""
    lines = code.splitlines()
    comments = {
        token.start[0]: token.string.removeprefix("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(code).readline)
        if token.type == tokenize.COMMENT
    }
    shown = []
    for node in ast.walk(ast.parse(code)):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "print"):
            continue
        last = node.end_lineno or node.lineno
        comment = comments.get(last)
        if comment is None and last < len(lines) and lines[last].lstrip().startswith("#"):
            comment = comments[last + 1]
        if comment is not None:
            shown.append(ShownOutput(node.lineno, last, comment))
    return shown
