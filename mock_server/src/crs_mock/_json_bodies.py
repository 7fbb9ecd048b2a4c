"""JSON request bodies decoded, before the contract's schemas look at them (`crs_mock._validation`).

A body is at most `MAX_JSON_BODY` bytes (``413``), refused by `read_json_body` before anything else
about it is looked at, as soon as it is known to be larger (by ``Content-Length``, or counted as it
arrives): a larger body is never held whole. It must be JSON by its media type
(``application/json`` or ``*/*+json``, else ``415``), UTF-8 (RFC 8259 section 8.1: UTF-16,
UTF-32, a NUL first byte or bytes that are not UTF-8 are a ``415``), and JSON text whose objects
repeat no name and whose strings hold no unpaired surrogate escape (I-JSON, RFC 7493; else
``400``). A wide encoding is named only by a byte order mark or by RFC 4627's pattern of zero
bytes, never by a lone NUL.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import TYPE_CHECKING, Any

from crs_mock._limits import read_body
from crs_mock._problems import ProblemError

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["MAX_JSON_BODY", "check_json_media_type", "parse_json", "read_json_body"]

MAX_JSON_BODY = 1024 * 1024


async def read_json_body(request: Request) -> bytes:
    """The body of a request to a JSON endpoint, at most `MAX_JSON_BODY` bytes; else a ``413``
    problem as soon as it is known to be larger (`crs_mock._limits.read_body`)."""
    return await read_body(request, MAX_JSON_BODY, "JSON bodies")


def check_json_media_type(content_type: str | None, *, has_body: bool = True) -> None:
    """A ``415`` problem unless ``content_type`` is JSON (``application/json``, ``*/*+json``), or
    absent from a request without a body (`has_body` False: empty, or only whitespace).

    A ``charset`` parameter is ignored: ``application/json`` defines none, and the body is read as
    UTF-8 whatever it says (`parse_json`).
    """
    if not content_type:
        if has_body:
            raise ProblemError(
                "unsupported_media_type",
                "The body has no Content-Type; it must be application/json",
                header="Content-Type",
            )
        return
    media = content_type.split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ProblemError(
            "unsupported_media_type", "The body must be application/json", header="Content-Type"
        )


def parse_json(body: bytes, *, content_type: str | None, optional: bool = False) -> Any:
    """The decoded body (as `read_json_body` read it); `None` for an empty optional one; else a
    ``415`` or ``400`` problem.

    The body must be UTF-8 (RFC 8259 section 8.1: JSON exchanged between systems is UTF-8): one in
    UTF-16 or UTF-32, or with bytes that are not UTF-8, is a ``415``, as is a body in another
    media type. A UTF-8 byte order mark is ignored (section 8.1 allows that).
    """
    check_json_media_type(content_type, has_body=bool(body.strip()))
    if not body.strip():
        if optional:
            return None
        raise ProblemError.bad_request("A JSON request body is required.")
    text = _utf8_text(body)
    try:
        payload = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_object)
    except ValueError as exc:
        raise ProblemError.bad_request(f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:  # nested deeper than the parser's recursion limit
        raise ProblemError.bad_request("The request body is nested too deeply.") from None
    if "\\u" in text:  # only an escape can make a lone surrogate (the text is UTF-8)
        _refuse_lone_surrogates(payload)
    return payload


#: Byte order marks of the encodings `json.loads` would also take, longest first.
_BOMS = (
    (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF32_LE, "UTF-32LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
    (codecs.BOM_UTF16_LE, "UTF-16LE"),
)


def _utf8_text(body: bytes) -> str:
    """`body` as UTF-8 text without a leading byte order mark; else a ``415`` naming the encoding
    it looks like (RFC 4627 section 3) or the first byte that is not UTF-8."""
    wide = _wide_encoding(body)
    if wide is not None:
        raise _not_utf8(f"it looks like {wide}")
    if body[:1] == b"\x00":  # UTF-8 (U+0000), but no JSON text starts with it
        raise _not_utf8("byte 0 (0x00) is a NUL, which no JSON text starts with")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(f"byte {exc.start} (0x{body[exc.start]:02X}) is not") from None
    return text.removeprefix("\ufeff")


#: RFC 4627 section 3: where the zero bytes fall in the first four of a JSON text (whose first two
#: characters are ASCII) in each wide encoding; True is a byte that is not zero.
_ZERO_PATTERNS = {
    (False, False, False, True): "UTF-32BE",
    (False, True, False, True): "UTF-16BE",
    (True, False, False, False): "UTF-32LE",
    (True, False, True, False): "UTF-16LE",
    (False, True): "UTF-16BE",  # a one-character text, such as 1
    (True, False): "UTF-16LE",
}


def _wide_encoding(body: bytes) -> str | None:
    """UTF-16 or UTF-32 by a byte order mark, or by the pattern of zero bytes its first
    characters (always ASCII in JSON) make; None for anything else (a lone NUL included)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    return _ZERO_PATTERNS.get(tuple(byte != 0 for byte in body[:4]))


def _not_utf8(why: str) -> ProblemError:
    return ProblemError(
        "unsupported_media_type",
        f"JSON request bodies must be UTF-8 (RFC 8259, section 8.1); {why}.",
    )


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are unique (I-JSON, RFC 7493: a repeated name is ambiguous)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise ValueError(f"the name {json.dumps(name)} appears twice in one object")
            seen.add(name)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(payload: Any) -> None:
    """A ``400`` naming where a string holds an unpaired surrogate (``"\\ud800"``): JSON allows
    the escape, but no UTF-8 text holds it (I-JSON refuses it), so it cannot be stored or sent."""
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for name, item in value.items():
                at = f"{where}/{_escape(name)}"
                if _SURROGATE.search(name):
                    raise _surrogate_problem(at, "name")
                stack.append((at, item))
        elif isinstance(value, list):
            stack.extend((f"{where}/{index}", item) for index, item in enumerate(value))
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise _surrogate_problem(where or "/", "string")


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _surrogate_problem(where: str, what: str) -> ProblemError:
    shown = where.encode("ascii", "backslashreplace").decode("ascii")
    return ProblemError.bad_request(
        f"The request body is not valid JSON text: the {what} at {shown} holds an unpaired "
        "surrogate escape (\\ud800 to \\udfff)."
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
