"""The one cattrs converter between the models and JSON-ready Python values.

Rules, all set in :func:`configure_converter`:

- timestamps are RFC 3339: ``Z`` or any offset is accepted (any number of fractional digits,
  truncated to microseconds) and decoded to an aware UTC :class:`~datetime.datetime`; they
  are encoded as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``. Timestamps without an offset are refused;
- enums travel by value; unknown values decode to ``UNKNOWN`` pseudo-members (:class:`OpenEnum`);
- unknown fields in answers are ignored; fields missing from answers are errors;
- JSON types are strict: ``42`` is no string, ``true`` is no integer, ``"1"`` is no number, and
  only an array is an array (a string, which Python would iterate character by character, or an
  object, iterated by its keys, is ``expected an array``). As in JSON Schema, an integer is any
  number whose fraction is zero: ``3600.0`` decodes to ``3600``, ``3600.5`` is refused;
- request models (and problems) leave out fields equal to their default; answers carry every field;
- tuples become lists; :class:`~crs_sdk.Page` is generic; an ``Event`` is decoded
  to the class for its ``type`` (:class:`~crs_sdk.UnknownEvent` for types the SDK does not know);
- what the platform sent (:func:`from_platform`, :func:`event_from_platform`: every answer, event
  and webhook) is decoded without the limits of the models' fields (lengths, control characters,
  duplicates): they check what the caller builds, and the platform is the authority on what it
  holds. :func:`structure` applies them, as building a model does.

Decoding errors become :exc:`~crs_sdk.DecodeError`, naming each bad field by a JSONPath such as
``$.items[0].url``. Messages never repeat the offending value: it may be a secret.

The converter is made on first use (:func:`converter`): cattrs and every model module are imported
then, not with the SDK. The timestamp functions need neither.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, TypeVar, get_args, get_origin

import attrs

from crs_sdk._enums import EventType, OpenEnum
from crs_sdk._exceptions import DecodeError
from crs_sdk._models._fields import FieldValueError, as_sent

if TYPE_CHECKING:
    import cattrs

    from crs_sdk._models import Event

T = TypeVar("T")

_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
#: From Python 3.11 on, `datetime.fromisoformat` reads every timestamp that `_RFC3339` matches
#: (``Z``, any number of fractional digits), except for a lowercase ``z``.
_FROMISOFORMAT_RFC3339: Final = sys.version_info >= (3, 11)


def parse_datetime(value: Any) -> datetime:
    """Decode an RFC 3339 timestamp to an aware UTC datetime."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise FieldValueError("timestamp without a time zone offset")
        return value.astimezone(timezone.utc)
    if not isinstance(value, str):
        raise FieldValueError("expected an RFC 3339 timestamp string")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise FieldValueError("expected an RFC 3339 timestamp like 2026-11-23T10:15:00Z")
    if _FROMISOFORMAT_RFC3339:
        try:
            # A third of the cost of the field-by-field path below; that path still decides
            # whatever this one refuses (a lowercase "z", a value out of range).
            return datetime.fromisoformat(value).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            pass
    return _from_fields(match)


def _from_fields(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=timezone(offset),
        )
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise FieldValueError("timestamp out of range") from None


def format_datetime(value: datetime) -> str:
    """Encode an aware datetime as an RFC 3339 UTC timestamp ending in ``Z``."""
    if value.utcoffset() is None:
        raise ValueError("cannot encode a datetime without a time zone (it names no instant)")
    utc = value.astimezone(timezone.utc)
    # Not strftime: its %Y does not zero-pad years before 1000 on every platform.
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


_JSON_TYPES: Final = (
    (str, "a string"),
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
)


def _strict(python_type: type, expected: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        if type(value) is python_type:  # what json.loads gives: the checks below cannot fail
            return value
        # bool is an int subclass in Python, never in JSON.
        if isinstance(value, bool) and python_type is not bool:
            raise FieldValueError(f"expected {expected}")
        if python_type is float and isinstance(value, int):
            return float(value)
        if python_type is int and isinstance(value, float) and value.is_integer():
            return int(value)  # JSON Schema's "integer" is any number with a zero fraction
        if not isinstance(value, python_type):
            raise FieldValueError(f"expected {expected}")
        return value

    return structure


def _structure_enum(value: Any, type_: type[OpenEnum]) -> OpenEnum:
    if not isinstance(value, str):
        raise FieldValueError(f"expected one of the string values of {type_.__name__}")
    return type_(value)


def _unstructure_enum(member: OpenEnum | str) -> str:
    # A plain string where an enum is declared (``priority="urgent"``) is sent as it is.
    return str(member.value) if isinstance(member, OpenEnum) else str(member)


def _event_structure_hook(conv: cattrs.Converter) -> Callable[[Any, Any], Event]:
    from crs_sdk._models._events import EVENT_CLASSES, UnknownEvent

    def structure(value: Any, _type: Any) -> Event:
        if not isinstance(value, Mapping):
            raise FieldValueError("expected an object")
        event_type = value.get("type")
        if not isinstance(event_type, str):
            # Let the class report the missing or mistyped ``type`` with its path.
            return conv.structure(value, UnknownEvent)
        cls = EVENT_CLASSES.get(EventType(event_type), UnknownEvent)
        return conv.structure(value, cls)

    return structure


def _attrs_structure_factory(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    from cattrs.gen import make_dict_structure_fn

    def factory(cls: Any) -> Callable[[Any, Any], Any]:
        inner = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False)

        def structure(value: Any, type_: Any) -> Any:
            if type(value) is not dict and not isinstance(value, Mapping):
                raise FieldValueError("expected an object")
            return inner(value, type_)

        return structure

    return factory


def _is_array(type_: Any) -> bool:
    """Whether ``type_`` is a JSON array of one item type: ``list[X]`` or ``tuple[X, ...]``."""
    origin, args = get_origin(type_), get_args(type_)
    if origin is list:
        return len(args) == 1
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis  # noqa: PLR2004


def _array_structure_factory(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    from cattrs.errors import IterableValidationError, IterableValidationNote

    def factory(type_: Any) -> Callable[[Any, Any], Any]:
        item_type = get_args(type_)[0]
        make = tuple if get_origin(type_) is tuple else list
        structure_item = conv.get_structure_hook(item_type)

        def structure(value: Any, _type: Any) -> Any:
            # cattrs would iterate anything: a string character by character, an object by keys.
            if type(value) is not list and type(value) is not tuple:
                raise FieldValueError("expected an array")
            items, errors = [], []
            for index, item in enumerate(value):
                try:
                    items.append(structure_item(item, item_type))
                except Exception as exc:  # noqa: BLE001, PERF203 - every bad item is reported
                    note = IterableValidationNote(f"@ index {index}", index, item_type)
                    # Where cattrs reads the index from (add_note is Python 3.11's).
                    exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
                    errors.append(exc)
            if errors:
                raise IterableValidationError(f"While structuring {type_!r}", errors, type_)
            return make(items)

        return structure

    return factory


def _omit_defaults_factory(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any], Any]]:
    from cattrs.gen import make_dict_unstructure_fn, override

    from crs_sdk._models._encoding import OMIT_DEFAULTS

    def factory(cls: Any) -> Callable[[Any], Any]:
        # Typed loosely: mypy would match the dict against the _cattrs_* flags too.
        always: dict[str, Any] = {
            name: override(omit_if_default=False) for name in OMIT_DEFAULTS[cls]
        }
        return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **always)

    return factory


def configure_converter(conv: cattrs.Converter) -> None:
    """Configure ``conv`` with the contract's rules (see the module documentation)."""
    from crs_sdk._models._encoding import OMIT_DEFAULTS
    from crs_sdk._models._events import Event

    # Registered by class: the most specific wins, so OpenEnum beats str and bool beats int.
    for python_type, expected in _JSON_TYPES:
        conv.register_structure_hook(python_type, _strict(python_type, expected))
    conv.register_structure_hook(OpenEnum, _structure_enum)
    conv.register_unstructure_hook(OpenEnum, _unstructure_enum)
    conv.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_structure_hook_factory(attrs.has, _attrs_structure_factory(conv))
    conv.register_structure_hook_factory(_is_array, _array_structure_factory(conv))
    conv.register_unstructure_hook_factory(
        lambda t: t in OMIT_DEFAULTS, _omit_defaults_factory(conv)
    )
    conv.register_structure_hook(Event, _event_structure_hook(conv))


def make_converter() -> cattrs.Converter:
    """A new converter configured with :func:`configure_converter`."""
    import cattrs

    conv = cattrs.Converter(
        detailed_validation=True,
        forbid_extra_keys=False,
        unstruct_collection_overrides={Sequence: list, Mapping: dict},
    )
    configure_converter(conv)
    return conv


@functools.cache
def converter() -> cattrs.Converter:
    """The SDK's converter, made on first use. Use :func:`structure` and :func:`unstructure`."""
    return make_converter()


def _format(exc: BaseException, type_: type | None) -> str:
    from cattrs.v import format_exception

    if isinstance(exc, FieldValueError):
        return str(exc)
    return format_exception(exc, type_)


def _decode(data: Any, cls: Any, what: str) -> Any:
    conv = converter()
    import cattrs  # imported by converter(): a lookup, not an import

    try:
        return conv.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _decode_error(exc, what) from exc


def _decode_error(exc: BaseException, what: str) -> DecodeError:
    import cattrs

    errors = tuple(cattrs.transform_error(exc, path="$", format_exception=_format))
    if not errors:
        errors = (f"{_format(exc, None)} @ $",)
    path = errors[0].rpartition(" @ ")[2] or "$"
    return DecodeError(f"cannot decode {what}: {'; '.join(errors)}", path=path, errors=errors)


def structure(data: Any, cls: type[T]) -> T:
    """Decode JSON-ready data (as from :func:`json.loads`) into a model.

    The model's field checks apply, as when it is built (the clients decode the platform's answers
    without them: see :doc:`/reference/models`).

    Raises:
        DecodeError: ``data`` does not fit ``cls``; the message names every bad field by path.
    """
    decoded: T = _decode(data, cls, getattr(cls, "__name__", repr(cls)))
    return decoded


def structure_event(data: Any) -> Event:
    """Decode one event (from the event log or a webhook body) to its class by its ``type``.

    Raises:
        DecodeError: ``data`` is not an event, or a known event type has malformed ``data``.
    """
    from crs_sdk._models._events import Event

    event: Event = _decode(data, Event, "Event")
    return event


def from_platform(data: Any, cls: type[T]) -> T:
    """Decode what the platform sent: JSON types and required fields are checked, the limits of
    the models' fields (`crs_sdk._models._fields.as_sent`) are not, since they are checks of what
    the caller builds and the platform is the authority on what it holds."""
    with as_sent():
        return structure(data, cls)


def event_from_platform(data: Any) -> Event:
    """`structure_event` for an event the platform sent (the event log, a webhook body)."""
    with as_sent():
        return structure_event(data)


def unstructure(obj: Any) -> Any:
    """Encode a model (or a list of models) as JSON-ready values: dicts, lists, str, numbers."""
    return converter().unstructure(obj)
