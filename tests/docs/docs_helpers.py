"""The code examples of the documentation and the README, found the way a reader sees them.

A reader may copy any ```` ```python ````, ```` ```pycon ```` or ```` ```{code-block} python ````
block, including one indented inside a list or a definition, so the tests find all of them here,
and `test_pages.test_every_example_is_run` checks that each one is run by some test.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import textwrap
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"

#: A fenced block of code, at any indentation; its closing fence is at the opening one's.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<language>python|pycon|\{code-block\} python)[ \t]*\n"
    r"(?P<code>.*?)^(?P=indent)```",
    re.DOTALL | re.MULTILINE,
)

#: Pages whose ```` ```{code-block} python ```` blocks are test modules, and docstrings whose
#: examples are (run by test_pytest_howto.py).
PYTEST_PAGES = ("docs/how-to/test-with-pytest.md", "docs/reference/pytest-fixtures.md")
PYTEST_DOCSTRINGS = ("docstring of crs_mock._pytest_plugin",)


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


#: The modules whose docstrings the reference pages render, with their public names (automodule,
#: autoclass) and those names' members.
DOCUMENTED_MODULES = (
    "crs_sdk",
    "crs_sdk.resources",
    "crs_sdk.testing",
    "crs_sdk.webhooks",
    "crs_mock",
    "crs_mock._pytest_plugin",
)


def _docstrings() -> Iterator[tuple[str, str]]:
    """(qualified name, docstring) of each documented module, public name and member, once."""
    seen: set[int] = set()
    for module_name in DOCUMENTED_MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")])
        objects = [(module_name, module)]
        for name in names:
            value = getattr(module, name)
            objects.append((f"{module_name}.{name}", value))
            if inspect.isclass(value):
                objects += [
                    (f"{module_name}.{name}.{member}", getattr(attribute, "fget", attribute))
                    for member, attribute in vars(value).items()
                    if not member.startswith("_") or member == "__init__"
                ]
        for qualname, value in objects:
            doc = getattr(value, "__doc__", None)
            if isinstance(doc, str) and id(value) not in seen:
                seen.add(id(value))
                yield qualname, inspect.cleandoc(doc)


def _literal_blocks(doc: str) -> Iterator[str]:
    """The reST literal blocks (a paragraph ending in ``::``, then an indented block) of ``doc``."""
    lines = doc.splitlines()
    for number, line in enumerate(lines):
        if not line.rstrip().endswith("::") or line.lstrip().startswith(".."):
            continue
        indent = len(line) - len(line.lstrip())
        block: list[str] = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        yield textwrap.dedent("\n".join(block)).strip("\n") + "\n"


def docstring_examples() -> list[Example]:
    """The code examples of the documented docstrings; a drawing (an exception tree) is not one.

    ``page`` is ``"docstring of <qualified name>"``; a block with a ``pytest`` mark or a ``test_``
    function is a test module (language ``"pytest"``).
    """
    found = []
    for qualname, doc in _docstrings():
        blocks = [block for block in _literal_blocks(doc) if "──" not in block]
        for number, code in enumerate(blocks, start=1):
            is_test = "@pytest.mark" in code or re.search(
                r"^(async )?def test_", code, re.MULTILINE
            )
            language = "pytest" if is_test else "python"
            found.append(Example(f"docstring of {qualname}", language, number, code))
    return found
