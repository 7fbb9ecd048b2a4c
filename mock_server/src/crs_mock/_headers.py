"""Request header fields the mock reads as one value.

A field sent twice (``Authorization``, ``Content-Type``, ``Tus-Resumable``, ...) is a `400` naming
it: which value the client meant is anyone's guess, so none is used. Handlers read such fields
before they change anything, so the refused request changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crs_mock._problems import ProblemError

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["single_header"]


def single_header(request: Request, name: str) -> str | None:
    """The value of header field `name`, None if absent; a `400` problem naming it (``header``)
    if the request has it more than once, whether the values agree or not."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise ProblemError(
            "invalid_request",
            f"{name} must be sent once; this request has {len(values)} of them",
            header=name,
        )
    return values[0] if values else None
