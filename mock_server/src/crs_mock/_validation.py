"""Request bodies checked against the contract's own schemas, every failing field found (a problem
lists the first `MAX_FIELD_ERRORS` of them, see `crs_mock._problems`).

The packaged ``openapi.json`` is loaded once (with `importlib.resources`) and registered whole, so
``#/components/schemas/...`` references resolve exactly as the contract wrote them; each request
body is validated with a Draft 2020-12 validator (the dialect of OpenAPI 3.1) and every error
becomes a `FieldError` with a JSON pointer into the body. Formats (`date-time`, `email`, `uri`) are
checked by the stdlib-only checkers below, so the result does not depend on which optional packages
are installed.

Patterns are ECMA-262 regular expressions, as JSON Schema says: a final ``$`` matches only at the
very end of the string (Python's also matches before a final line feed, which would let ``"GB\\n"``
through ``^[A-Z]{2}$``). The contract's string fields refuse control characters with two patterns,
`SINGLE_LINE` and `MULTI_LINE`; a field error for a control character names it and its index.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from crs_mock._clock import parse_rfc3339_ms
from crs_mock._problems import FieldError, ProblemError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from jsonschema.protocols import Validator

__all__ = [
    "MAX_SEQ",
    "MULTI_LINE",
    "SINGLE_LINE",
    "check_body",
    "contract",
    "contract_bytes",
    "decode_cursor",
    "ecma_regex",
    "encode_cursor",
    "is_ascii_digits",
    "parse_limit",
    "pointer",
]

_CONTRACT_URI = "urn:crs:contract"

#: The contract's pattern of single-line strings: no C0 control (TAB, LF and CR included), DEL or
#: C1 control.
SINGLE_LINE = r"^[^\u0000-\u001f\u007f-\u009f]*$"
#: The contract's pattern of multi-line text: as `SINGLE_LINE`, but TAB, LF and CR are allowed.
MULTI_LINE = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@functools.cache
def contract_bytes() -> bytes:
    """The packaged OpenAPI document, byte for byte as served at ``/openapi.json``."""
    return resources.files("crs_mock").joinpath("openapi.json").read_bytes()


@functools.cache
def contract() -> Mapping[str, Any]:
    document: Mapping[str, Any] = json.loads(contract_bytes())
    return document


def pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer of a path (``["items", 0, "url"]`` -> ``/items/0/url``)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value: object) -> bool:
        if isinstance(value, str):
            parse_rfc3339_ms(value)
        return True

    @checker.checks("email")
    def is_email(value: object) -> bool:
        if not isinstance(value, str):
            return True
        local, at, domain = value.rpartition("@")
        return bool(at and local and "." in domain and not re.search(r"\s", value))

    @checker.checks("uri", raises=ValueError)
    def is_uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme) and not re.search(r"\s", value)

    return checker


@functools.cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled so that a final ``$`` matches only at the very end, as in ECMA-262.

    Only a final unescaped ``$`` is rewritten (to ``\\Z``): every pattern of the contract is
    anchored that way, and none uses ``$`` elsewhere.
    """
    body = pattern.removesuffix("$")
    backslashes = len(body) - len(body.rstrip("\\"))
    if body != pattern and backslashes % 2 == 0:
        return re.compile(body + r"\Z")
    return re.compile(pattern)


def _pattern(
    validator: Any, pattern: str, instance: Any, _schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """The ``pattern`` keyword with ECMA-262's ``$`` (see `ecma_regex`)."""
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# The stubs leave `extend` untyped; it returns a validator class like the one it extends.
_ContractValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern}
)


@functools.cache
def _validator(schema_name: str) -> Validator:
    resource: Resource[Any] = Resource.from_contents(contract(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_CONTRACT_URI, resource)
    schema = {"$ref": f"{_CONTRACT_URI}#/components/schemas/{schema_name}"}
    return _ContractValidator(schema, registry=registry, format_checker=_format_checker())


def check_body(schema_name: str, instance: Any, extra: Sequence[FieldError] = ()) -> None:
    """Raise a `422` listing every field of `instance` that `schema_name` rejects.

    `extra` are rules the schema says less clearly (cross-field ones); each replaces what the schema
    reported at the same pointer.
    """
    replaced = {error.pointer for error in extra}
    errors = [
        error for error in schema_errors(schema_name, instance) if error.pointer not in replaced
    ]
    errors.extend(extra)
    if errors:
        raise ProblemError.validation(_dedupe(errors))


#: The largest row number SQLite stores (a 64-bit signed integer): cursors and positions.
MAX_SEQ = 2**63 - 1


def is_ascii_digits(value: str) -> bool:
    """Whether ``value`` is 1 to 19 of ``0``..``9``: a number `int` reads without fail that SQLite
    can hold or bound (``str.isdigit`` also takes U+00B2, ...; `int` refuses over 4,300 digits)."""
    return 0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit()


_MAX_DIGITS = len(str(MAX_SEQ))


def encode_cursor(kind: str, seq: int) -> str:
    """The opaque cursor of a list: ``kind`` (``rpt``, ``evd``, ...) and the last row's number."""
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The row number in a cursor `encode_cursor` made for ``kind``; else a ``400`` problem."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, seq = text.partition(":")
    if prefix != kind or not is_ascii_digits(seq) or int(seq) > MAX_SEQ:
        raise ProblemError.bad_request(
            "Query parameter 'cursor' is not a cursor this list returned.", parameter="cursor"
        )
    return int(seq)


def parse_limit(value: str | None, *, default: int = 50, maximum: int = 100) -> int:
    """The ``limit`` query parameter: 1 to `maximum`, `default` when absent."""
    if value is None or value == "":
        return default
    if not is_ascii_digits(value) or not 1 <= int(value) <= maximum:
        raise ProblemError.bad_request(
            f"Query parameter 'limit' must be an integer from 1 to {maximum}.", parameter="limit"
        )
    return int(value)


def schema_errors(schema_name: str, instance: Any) -> list[FieldError]:
    validator = _validator(schema_name)
    found: list[FieldError] = []
    for error in validator.iter_errors(instance):
        found.extend(_field_errors(error))
    return found


def _dedupe(errors: Iterable[FieldError]) -> list[FieldError]:
    """One error per field, in document order; several problems with a field are joined."""
    details: dict[str, list[str]] = {}
    for error in errors:
        found = details.setdefault(error.pointer, [])
        if error.detail not in found:
            found.append(error.detail)
    ordered = sorted(details, key=_pointer_key)
    return [FieldError(pointer, "; ".join(details[pointer])) for pointer in ordered]


def _pointer_key(text: str) -> tuple[tuple[int, int | str], ...]:
    # An array index is ASCII digits; a member's name may be "³" or 5,000 digits (not for int).
    parts = text.split("/")[1:]
    return tuple((0, int(part)) if is_ascii_digits(part) else (1, part) for part in parts)


def _field_errors(error: ValidationError) -> Iterator[FieldError]:
    path = list(error.absolute_path)
    if error.validator in {"anyOf", "oneOf"} and error.context:
        yield from _branch_errors(error)
    elif error.validator == "required" and isinstance(error.instance, dict):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        for name in required:
            if name not in error.instance:
                yield FieldError(pointer([*path, name]), "This field is required")
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        for name in error.instance:
            if name not in known:
                yield FieldError(pointer([*path, name]), "Unknown field")
    elif error.validator == "unevaluatedProperties" and isinstance(error.instance, dict):
        for name in _quoted_names(error.message):
            yield FieldError(pointer([*path, name]), "Unknown field")
    else:
        yield FieldError(pointer(path), _message(error))


def _branch_errors(error: ValidationError) -> Iterator[FieldError]:
    """Errors of the alternative the instance most likely meant (``anyOf``/``oneOf``)."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    if all(_is_type_mismatch_only(subs) for subs in branches.values()):
        yield FieldError(pointer(error.absolute_path), _message(error))
        return
    # The branch whose type the instance has is the one it meant; among several, the closest.
    plausible = [subs for subs in branches.values() if not _is_type_mismatch_only(subs)]
    chosen = min(plausible, key=len)
    for sub in chosen:
        yield from _field_errors(sub)


def _is_type_mismatch_only(errors: list[ValidationError]) -> bool:
    return all(error.validator in {"type", "const", "enum"} and not error.path for error in errors)


def _quoted_names(message: str) -> list[str]:
    inside = message[message.find("(") + 1 : message.rfind(")")]
    return re.findall(r"'((?:[^'\\]|\\.)*)'", inside)


_PATTERNS = {
    SINGLE_LINE: "Must be a single line without control characters",
    MULTI_LINE: "Must not contain control characters other than TAB, LF and CR",
    # \ufeff: ECMA-262's \s has it, Python's does not; named, the two read the pattern alike.
    r"^https?://[^\s\ufeff\u0000-\u001f\u007f-\u009f]+$": "Must be an absolute http or https URL",
    r"^/[^\u0000-\u001f\u007f-\u009f]*$": "Must be a path starting with /",
    "^[A-Z]{2}$": "Must be an ISO 3166-1 alpha-2 country code (two capital letters)",
    "^[A-Z]{2}(-[A-Z0-9]{1,3})?$": "Must be an ISO 3166-1 alpha-2 or ISO 3166-2 code",
}


def _plural(count: Any, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


_MESSAGES: Mapping[str, Callable[[Any], str]] = {
    "enum": lambda value: "Must be one of: " + ", ".join(json.dumps(item) for item in value),
    "const": lambda value: f"Must be {json.dumps(value)}",
    "type": lambda value: (
        "Must be of type " + " or ".join(value if isinstance(value, list) else [value])
    ),
    "minLength": lambda value: f"Must be at least {_plural(value, 'character')} long",
    "maxLength": lambda value: f"Must be at most {_plural(value, 'character')} long",
    "minItems": lambda value: f"Must have at least {_plural(value, 'item')}",
    "maxItems": lambda value: f"Must have at most {_plural(value, 'item')}",
    "uniqueItems": lambda _value: "Items must be unique",
    "format": lambda value: f"Must be a valid {value}",
    "minimum": lambda value: f"Must be at least {value}",
    "maximum": lambda value: f"Must be at most {value}",
    "anyOf": lambda _value: "Does not match any of the allowed forms",
    "oneOf": lambda _value: "Does not match exactly one of the allowed forms",
}


def _message(error: ValidationError) -> str:
    """A short message naming what the field must be (jsonschema's own for the rest)."""
    if error.validator == "pattern":
        return _pattern_message(str(error.validator_value), error.instance)
    message = _MESSAGES.get(str(error.validator))
    return str(error.message) if message is None else message(error.validator_value)


def _pattern_message(pattern: str, instance: Any) -> str:
    """What `pattern` asks for, and the first control character it refuses in `instance`."""
    message = _PATTERNS.get(pattern, f"Must match the pattern {pattern}")
    control = _CONTROL_IN_TEXT if pattern == MULTI_LINE else _CONTROL
    found = control.search(instance) if isinstance(instance, str) else None
    if found is None:
        return message
    return f"{message}; found U+{ord(found.group()):04X} at index {found.start()}"
