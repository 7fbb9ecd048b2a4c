"""A directive that renders the contract's operations as a table: ``{openapi-operations}``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

CONTRACT = Path(__file__).parents[2] / "mock_server" / "src" / "crs_mock" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _rows(document: dict[str, Any], *, mock_only: bool) -> list[tuple[str, str, str, str]]:
    rows = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None or bool(operation.get("x-mock-only")) != mock_only:
                continue
            summary = operation.get("summary", "").replace("|", "/")
            rows.append((operation.get("operationId", ""), method.upper(), path, summary))
    return rows


class OpenAPIOperations(SphinxDirective):
    """List every operation of the contract (or only the mock-only ones with ``:mock-only:``)."""

    option_spec: ClassVar[dict[str, Any]] = {"mock-only": lambda _: True}

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(CONTRACT))
        document = json.loads(CONTRACT.read_text(encoding="utf-8"))
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - operation",
            "     - method",
            "     - path",
            "     - summary",
        ]
        for operation_id, method, path, summary in _rows(
            document, mock_only="mock-only" in self.options
        ):
            lines += [
                f"   * - ``{operation_id}``",
                f"     - {method}",
                f"     - ``{path}``",
                f"     - {summary}",
            ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return container.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("openapi-operations", OpenAPIOperations)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
