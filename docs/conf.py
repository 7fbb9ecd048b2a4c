"""Sphinx configuration for the crs-sdk documentation."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

from crs_sdk import __version__  # noqa: E402

project = "crs-sdk"
author = "crs-sdk developers"
copyright = "2026, crs-sdk developers"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "openapi_table",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = "crs-sdk"


autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

nitpicky = True
EXTERNAL_MODULES = (
    r"(httpx|attrs?|cattrs|tenacity|starlette|uvicorn|sqlite3|enum|datetime|pathlib|"
    r"collections\.abc|typing|typing_extensions|logging|os|io|threading|asyncio|types)\..*"
)
EXTERNAL_NAMES = (
    r"(Path|datetime|timedelta|Mapping|Sequence|Iterator|AsyncIterator|Callable|"
    r"Awaitable|Collection|Iterable|AsyncIterable|BinaryIO|IO|Any|TypeVar|T|Self|Enum|"
    r"ExceptionGroup|BaseException|Exception|NoneType|Generic|Protocol|Literal|Final)"
)
# Types from other projects: no intersphinx (the build must work offline), so their references are
# allowed to stay unresolved.
nitpick_ignore_regex = [
    (r"py:.*", EXTERNAL_MODULES),
    (r"py:.*", EXTERNAL_NAMES),
]
