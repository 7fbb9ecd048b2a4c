"""Query strings checked against the contract: a request names only the query parameters its
operation defines, and each of them once unless the contract makes it a list.

A parameter the operation does not define is a ``400`` ``invalid_request`` naming it (a misspelt
``?limt=5`` would otherwise be silently ignored, like Stripe's API refuses it); a single-valued
parameter sent twice (``?limit=1&limit=2``) is a ``400`` naming it, whether the values agree or
not, since which one the client meant is anyone's guess. A parameter whose schema is an ``array``
(``status`` of ``listReports``, of the request journal) may repeat.

`QueryParameters` checks every operation of the contract except the token endpoint, whose request
parameters RFC 6749 §3.1 says to ignore when unrecognised. It runs before the handler, so a refused
request changes nothing; for an operation that needs a token it answers only once the token is
valid (else the handler's ``401`` comes first, as for every other invalid query value).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from crs_mock._operations import METHODS, operation_id
from crs_mock._platform import to_response
from crs_mock._problems import ProblemError
from crs_mock._validation import contract

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.types import ASGIApp, Receive, Scope, Send

    from crs_mock._platform import MockPlatform

__all__ = ["QueryParameters", "query_problem"]

#: Operations whose query string is not checked (see the module docstring).
_UNCHECKED = frozenset({"createToken"})


@functools.cache
def _operations() -> Mapping[str, tuple[Mapping[str, bool], bool]]:
    """operationId -> (query parameter name -> whether it may repeat, whether a token is needed)."""
    document = contract()
    found: dict[str, tuple[Mapping[str, bool], bool]] = {}
    for item in document["paths"].values():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            parameters = (
                _resolve(document, parameter)
                for parameter in (*item.get("parameters", ()), *operation.get("parameters", ()))
            )
            names = {
                parameter["name"]: parameter.get("schema", {}).get("type") == "array"
                for parameter in parameters
                if parameter["in"] == "query"
            }
            needs_token = operation.get("security", document.get("security")) != []
            found[operation["operationId"]] = (names, needs_token)
    return found


def _resolve(document: Mapping[str, Any], parameter: Mapping[str, Any]) -> Mapping[str, Any]:
    reference = parameter.get("$ref")
    if reference is None:
        return parameter
    resolved: Mapping[str, Any] = document["components"]["parameters"][reference.split("/")[-1]]
    return resolved


def query_problem(operation: str, query_string: bytes) -> ProblemError | None:
    """The ``400`` for the first parameter of `query_string` that `operation` does not take, or
    takes once but finds repeated; None if the query is one the operation accepts."""
    if not query_string or operation in _UNCHECKED:
        return None
    defined, _ = _operations()[operation]
    # As Starlette reads it (`request.query_params`), so the check sees what the handler would.
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    seen: dict[str, int] = {}
    for name, _value in pairs:
        seen[name] = seen.get(name, 0) + 1
    for name, count in seen.items():
        if name not in defined:
            takes = ", ".join(defined) or "none"
            return ProblemError.bad_request(
                f"Query parameter {name!r} is not defined for {operation} (it takes: {takes}).",
                parameter=name,
            )
        if count > 1 and not defined[name]:
            return ProblemError.bad_request(
                f"Query parameter {name!r} must be sent once; this request has {count} of them.",
                parameter=name,
            )
    return None


class QueryParameters:
    """Answers a request whose query string its operation does not accept (`query_problem`)."""

    def __init__(self, app: ASGIApp, platform: MockPlatform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self._problem(scope) if scope["type"] == "http" else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id", "req_unknown")
        reply = problem.render(request_id=request_id, instance=scope["path"])
        await to_response(reply)(scope, receive, send)

    def _problem(self, scope: Scope) -> ProblemError | None:
        if not scope.get("query_string"):
            return None
        operation = operation_id(scope["method"], scope["path"])
        if operation is None:
            return None  # no such operation: the router's 404 or 405
        problem = query_problem(operation, scope["query_string"])
        if problem is not None and _operations()[operation][1]:
            try:
                self.platform.agencies.authenticate(Request(scope))
            except ProblemError:
                return None  # the handler's 401 comes first
        return problem
