"""Query strings checked against the contract: a request names only the query parameters its
operation defines, and each of them once unless the contract makes it a list.

A parameter the operation does not define is a ``400`` ``invalid_request`` naming it (a misspelt
``?limt=5`` would otherwise be silently ignored, like Stripe's API refuses it); a single-valued
parameter sent twice (``?limit=1&limit=2``) is a ``400`` naming it, whether the values agree or
not, since which one the client meant is anyone's guess. A parameter whose schema is an ``array``
(``status`` of ``listReports``, of the request journal) may repeat, with different values where
the schema says ``uniqueItems`` (``?status=draft&status=draft`` is a ``400``). A parameter given
without a value (``?limit=``, ``?cursor=``) is a ``400`` naming it too: no parameter of the
contract takes the empty string, and leaving it out is how a client asks for its default.

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


#: How often a query parameter may appear: once, repeated, or repeated with different values.
_ONCE, _LIST, _SET = "once", "list", "set"


def _repeats(schema: Mapping[str, Any]) -> str:
    if schema.get("type") != "array":
        return _ONCE
    return _SET if schema.get("uniqueItems") else _LIST


@functools.cache
def _operations() -> Mapping[str, tuple[Mapping[str, str], bool]]:
    """operationId -> (query parameter name -> how it may repeat, whether a token is needed)."""
    document = contract()
    found: dict[str, tuple[Mapping[str, str], bool]] = {}
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
                parameter["name"]: _repeats(parameter.get("schema", {}))
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
    """The ``400`` for the first parameter of `query_string` that `operation` does not take, takes
    once but finds repeated (or repeated with a value twice, where they must differ), or finds
    without a value; None if the query is one the operation accepts."""
    if not query_string or operation in _UNCHECKED:
        return None
    defined, _ = _operations()[operation]
    # As Starlette reads it (`request.query_params`), so the check sees what the handler would.
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    seen: dict[str, list[str]] = {}
    for name, value in pairs:
        seen.setdefault(name, []).append(value)
    for name, values in seen.items():
        problem = _parameter_problem(operation, defined, name, values)
        if problem is not None:
            return ProblemError.bad_request(f"Query parameter {name!r} {problem}.", parameter=name)
    return None


def _parameter_problem(
    operation: str, defined: Mapping[str, str], name: str, values: list[str]
) -> str | None:
    if name not in defined:
        return f"is not defined for {operation} (it takes: {', '.join(defined) or 'none'})"
    if len(values) > 1 and defined[name] == _ONCE:
        return f"must be sent once; this request has {len(values)} of them"
    if "" in values:
        return "has no value; leave it out to use its default"
    if defined[name] == _SET and len(set(values)) < len(values):
        twice = sorted({value for value in values if values.count(value) > 1})
        return f"must not repeat a value; {', '.join(map(repr, twice))} is given more than once"
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
