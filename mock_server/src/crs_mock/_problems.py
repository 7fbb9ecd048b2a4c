"""RFC 9457 problem details, and the one response value every handler produces.

A handler signals a failure by raising `ProblemError`; whoever turns it into bytes (the write
pipeline, so the problem can be stored for idempotent replay, or the app's exception handler) calls
`ProblemError.render` with the request id and path.

A problem's size is bounded whatever the request was: problems echo what the caller sent (an id in
the path, in ``instance`` and ``detail``; a name from the body in a field error's ``pointer``; a
header name in ``header``; a query parameter's name in ``parameter``), so every string member is
cut to `MAX_PROBLEM_TEXT` characters (its start and end around an ellipsis, see `shorten`) and at
most `MAX_FIELD_ERRORS` field errors are listed. That is done once, in `ProblemError.to_json`, for
every problem.

``instance`` is a URI reference (RFC 9457 §3.1.5): the request path as ASGI gives it (decoded)
is percent-encoded again (`path_reference`), so an id with a space, a ``?`` or a non-ASCII letter
makes ``/v1/reports/a%20b%E2%82%AC``, never a string that is not a URI; when cut, its ellipsis is
encoded too and no ``%XX`` escape is split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "MAX_FIELD_ERRORS",
    "MAX_PROBLEM_TEXT",
    "FieldError",
    "ProblemError",
    "Reply",
    "json_reply",
    "path_reference",
    "shorten",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
JSON_CONTENT_TYPE = "application/json"

#: The most characters of any string member of a problem (``detail``, ``instance``, a field
#: error's ``pointer`` and ``detail``, ``header``, ``parameter``, ...).
MAX_PROBLEM_TEXT = 1000
#: The most field errors a problem lists (its ``detail`` counts them all).
MAX_FIELD_ERRORS = 100
_ELLIPSIS = "\u2026"
_ENCODED_ELLIPSIS = quote(_ELLIPSIS)
#: What RFC 3986 lets a path carry unescaped besides the unreserved characters `quote` keeps.
_PATH_SAFE = "/!$&'()*+,;=:@"

#: code -> (HTTP status, title): the contract's ProblemCode; `type` is `urn:crs:problem:<code>`.
PROBLEMS: Mapping[str, tuple[int, str]] = {
    "validation_error": (422, "Request body is invalid"),
    "invalid_transition": (409, "Transition not allowed"),
    "not_found": (404, "Not found"),
    "duplicate_client_reference": (409, "Client reference already used"),
    "duplicate_evidence": (409, "Evidence already attached"),
    "idempotency_key_reused": (422, "Idempotency key reused with another request"),
    "idempotency_key_in_flight": (409, "Request with this idempotency key in progress"),
    "unauthorized": (401, "Authentication required"),
    "invalid_client": (401, "Client authentication failed"),
    "unsupported_grant_type": (400, "Unsupported grant type"),
    "invalid_request": (400, "Malformed request"),
    "rate_limited": (429, "Too many requests"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "checksum_mismatch": (460, "Checksum mismatch"),
    "integrity_mismatch": (422, "Uploaded file does not match its SHA-256"),
    "upload_offset_mismatch": (409, "Upload-Offset does not match"),
    "evidence_limit_reached": (409, "Evidence limit reached"),
    "upload_expired": (410, "Upload expired"),
    "method_not_allowed": (405, "Method not allowed"),
    "internal_error": (500, "Internal error"),
    "service_unavailable": (503, "Service unavailable"),
}


@dataclass(frozen=True)
class FieldError:
    """One failing field: a JSON pointer into the request body and what is wrong there."""

    pointer: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": shorten(self.pointer), "detail": shorten(self.detail)}


@dataclass(frozen=True)
class Reply:
    """A finished response: what is sent, and what an idempotency record stores and replays."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


def shorten(text: str, limit: int = MAX_PROBLEM_TEXT) -> str:
    """`text` if it has at most `limit` characters; else its start and end around an ellipsis
    (U+2026), `limit` characters in all, so both a value's prefix and a message's end survive."""
    if len(text) <= limit:
        return text
    tail = (limit - 1) // 3
    head = limit - 1 - tail
    return f"{text[:head]}{_ELLIPSIS}{text[len(text) - tail :]}"


def path_reference(path: str, limit: int = MAX_PROBLEM_TEXT) -> str:
    """The decoded request `path` as a URI reference: UTF-8, percent-encoded where RFC 3986 asks.

    At most `limit` characters: a longer one keeps its start and end around ``%E2%80%A6`` (an
    encoded U+2026), cut between characters, so that each part is whole escapes of whole UTF-8
    characters (it decodes strictly).
    """
    encoded = quote(path, safe=_PATH_SAFE)
    if len(encoded) <= limit:
        return encoded
    room = limit - len(_ENCODED_ELLIPSIS)
    head = _encoded_within(path, room - room // 3)
    tail = _encoded_within(path[::-1], room // 3, reverse=True)
    return f"{head}{_ENCODED_ELLIPSIS}{tail}"


def _encoded_within(text: str, room: int, *, reverse: bool = False) -> str:
    """The longest run of `text`'s characters whose encoding fits in `room` (`reverse`: `text`
    is reversed, and so is the run, back to reading order)."""
    parts: list[str] = []
    used = 0
    for character in text:
        part = quote(character, safe=_PATH_SAFE)
        if used + len(part) > room:
            break
        parts.append(part)
        used += len(part)
    return "".join(reversed(parts) if reverse else parts)


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, _dump(payload), {"content-type": JSON_CONTENT_TYPE, **(headers or {})})


class ProblemError(Exception):
    """A problem to send instead of the normal response.

    `extensions` become top-level members (`current_status`, `existing_report_id`, ...); OAuth
    problems pass `error`/`error_description` this way too. `headers` go on the response
    (`WWW-Authenticate`, `Allow`, ...).
    """

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        title: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or code)
        default_status, default_title = PROBLEMS[code]
        self.title = title or default_title
        self.code = code
        self.status = status or default_status
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.extensions = extensions

    @classmethod
    def validation(cls, errors: Sequence[FieldError]) -> ProblemError:
        count = len(errors)
        noun = "field is" if count == 1 else "fields are"
        listed = f" The first {MAX_FIELD_ERRORS} are listed." if count > MAX_FIELD_ERRORS else ""
        return cls("validation_error", f"{count} {noun} invalid.{listed}", errors=errors)

    @classmethod
    def bad_request(
        cls, detail: str, *, parameter: str | None = None, header: str | None = None
    ) -> ProblemError:
        """`400 invalid_request`: an unparsable body, or an invalid query or header value.

        `parameter` names the query parameter refused, `header` the header field (sent as the
        ``parameter`` and ``header`` members).
        """
        problem = cls("invalid_request", detail)
        named = {"parameter": parameter, "header": header}
        problem.extensions = {member: name for member, name in named.items() if name is not None}
        return problem

    def to_json(self, *, request_id: str, instance: str | None) -> dict[str, Any]:
        """The problem document, every string member bounded (see the module docstring).

        `instance` is the request's decoded path (``scope["path"]``), sent percent-encoded
        (`path_reference`).
        """
        body: dict[str, Any] = {
            "type": f"urn:crs:problem:{self.code}",
            "title": shorten(self.title),
            "status": self.status,
            "detail": None if self.detail is None else shorten(self.detail),
            "instance": None if instance is None else path_reference(instance),
            "code": self.code,
            "request_id": request_id,
        }
        if self.errors or self.code == "validation_error":
            body["errors"] = [error.to_json() for error in self.errors[:MAX_FIELD_ERRORS]]
        body.update(
            (name, shorten(value) if isinstance(value, str) else value)
            for name, value in self.extensions.items()
        )
        return body

    def render(self, *, request_id: str, instance: str | None) -> Reply:
        body = self.to_json(request_id=request_id, instance=instance)
        headers = {"content-type": PROBLEM_CONTENT_TYPE, **self.headers}
        return Reply(self.status, _dump(body), headers)


def _dump(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
