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
    r"(httpx|attrs?|cattrs|tenacity|starlette|uvicorn|sqlite3|enum|datetime|pathlib|json|"
    r"collections\.abc|typing|typing_extensions|logging|os|io|threading|asyncio|types)\..*"
)
EXTERNAL_NAMES = (
    r"(Path|datetime|timedelta|Mapping|Sequence|Iterator|AsyncIterator|Callable|"
    r"Awaitable|Collection|Iterable|AsyncIterable|BinaryIO|IO|Any|TypeVar|T|Self|Enum|"
    r"ExceptionGroup|BaseException|Exception|NoneType|Generic|Protocol|Literal|Final)"
)
# Types from other projects: no intersphinx (the build must work offline), so their references are
# allowed to stay unresolved.
# Names in signatures that are private on purpose: type aliases, type variables, sentinels and the
# mock server's internals. They are explained in the prose where they matter.
INTERNAL_NAMES = (
    r"(.*\.)?(T|CoreT|ClientT|HttpT|VerifyTypes|TimeoutTypes|CertTypes|HeaderTypes|StatusFilter|"
    r"UploadSource|NotGiven|_OwnAgency|RetryFactory|RetryCall|RequestSpec|ClientCore|WriteOperation|Transaction|"
    r"Reply|"
    r"ClockState|Request|Response|Starlette|ASGIApp|Receive|Scope|Send|FieldValueError)"
)
# "type[T]" in a signature is ambiguous with the many ``type`` attributes of events and problems.
suppress_warnings = ["ref.python"]
nitpick_ignore_regex = [
    (r"py:.*", INTERNAL_NAMES),
    (r"py:.*", EXTERNAL_MODULES),
    (r"py:.*", EXTERNAL_NAMES),
]

# Public objects live in private modules (crs_sdk._models._reports.Report is crs_sdk.Report), and
# signatures and base classes name them by their private path: resolve those to the documented name.
PUBLIC_NAMESPACES = ("crs_sdk", "crs_sdk.webhooks", "crs_sdk.resources", "crs_mock")


def _resolve_private_path(app, env, node, contnode):  # noqa: ANN001, ANN202
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith(("crs_sdk.", "crs_mock.")):
        return None
    parts = target.split(".")
    if not any(part.startswith("_") for part in parts[1:-1]):
        return None
    domain = env.get_domain("py")
    for namespace in PUBLIC_NAMESPACES:
        public = f"{namespace}.{parts[-1]}"
        if public in domain.objects:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
            )
    return None


def setup(app):  # noqa: ANN001, ANN201
    app.connect("missing-reference", _resolve_private_path)


doctest_global_setup = """
from crs_sdk import *
from crs_sdk.webhooks import *
"""
