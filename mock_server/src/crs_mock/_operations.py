"""Which contract operation a request is, and path patterns with ``*`` segments.

Fault rules and the request journal name requests by their ``operationId`` (``createReport``,
``submitReport``, ...), read from the contract's own ``paths`` so that a new operation needs no
table here. A path template's literal segments beat its ``{parameters}``.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from crs_mock._validation import contract

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["METHODS", "PathPattern", "faultable_operations", "operation_id"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


@functools.cache
def _routes() -> Sequence[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, operationId), most literal templates first."""
    routes: list[tuple[int, str, re.Pattern[str], str]] = []
    for template, item in contract()["paths"].items():
        segments = template.strip("/").split("/")
        regex = "/" + "/".join(
            "[^/]+" if segment.startswith("{") else re.escape(segment) for segment in segments
        )
        parameters = sum(segment.startswith("{") for segment in segments)
        for method in METHODS:
            if method in item:
                operation = item[method]["operationId"]
                routes.append((parameters, method.upper(), re.compile(regex), operation))
    routes.sort(key=lambda route: route[0])
    return tuple((method, regex, operation) for _, method, regex, operation in routes)


@functools.cache
def faultable_operations() -> frozenset[str]:
    """The ``operationId`` of every operation outside ``/_mock/``: those a fault rule can match."""
    return frozenset(
        item[method]["operationId"]
        for template, item in contract()["paths"].items()
        if not template.startswith("/_mock/")
        for method in METHODS
        if method in item
    )


@functools.lru_cache(maxsize=1024)
def operation_id(method: str, path: str) -> str | None:
    """The contract's ``operationId`` for this request, or None (no such operation)."""
    method = method.upper()
    for route_method, regex, operation in _routes():
        if route_method == method and regex.fullmatch(path):
            return operation
    return None


class PathPattern:
    """A path where ``*`` stands for exactly one segment: ``/v1/reports/*/submit``."""

    def __init__(self, pattern: str) -> None:
        if not pattern.startswith("/"):
            raise ValueError("a path pattern starts with /")
        self.pattern = pattern
        parts = (
            "[^/]+" if segment == "*" else re.escape(segment) for segment in pattern.split("/")
        )
        self._regex = re.compile("/".join(parts))

    def matches(self, path: str) -> bool:
        return self._regex.fullmatch(path) is not None

    def __repr__(self) -> str:
        return f"PathPattern({self.pattern!r})"
