"""Field helpers shared by the models: tuple conversion and cheap, certain validators.

The server is the authority on validity. The checks here only catch mistakes that are certain to be
rejected (an empty string where one is required, too many items, a control character), before a
round trip. They are checks of what the caller builds: within `as_sent` (the clients decoding what
the platform sent) they let every value through, so that a report is never unreadable because the
SDK's limits are older or stricter than the platform's.

Control characters follow the contract: a single-line field (identifier, reference, name, URL,
code) refuses every C0 control (U+0000..U+001F, TAB, LF and CR included), DEL (U+007F) and every C1
control (U+0080..U+009F); multi-line text (explanations, reasons, messages, descriptions) allows
TAB, LF and CR among them. Enum fields (an ``OpenEnum`` member, or a string the SDK does not know
yet) follow the single-line rule. Both refuse an unpaired surrogate (U+D800..U+DFFF in a ``str``,
as in ``"\\ud800"``), which has no UTF-8 form and so cannot be sent at all. The message names the
first refused character and its index (counted in characters from 0), never the value.
"""

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import attrs

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: An unpaired surrogate: a code point of a `str` that has no UTF-8 form.
SURROGATE = re.compile("[\ud800-\udfff]")
NO_UTF8 = "must not contain an unpaired surrogate (it has no UTF-8 form)"


_AS_SENT: ContextVar[bool] = ContextVar("crs_sdk_as_sent", default=False)
_Check = TypeVar("_Check", bound=Callable[[Any, Any, Any], None])


@contextmanager
def as_sent() -> Iterator[None]:
    """Within this block the request checks below let every value through (decoding an answer)."""
    token = _AS_SENT.set(True)
    try:
        yield
    finally:
        _AS_SENT.reset(token)


def request_check(check: _Check) -> _Check:
    """A validator that checks what the caller builds, and nothing within `as_sent`."""

    @functools.wraps(check)
    def guarded(instance: Any, attribute: Any, value: Any) -> None:
        if not _AS_SENT.get():
            check(instance, attribute, value)

    return guarded  # type: ignore[return-value]


class FieldValueError(ValueError):
    """A value does not fit its field. The message names the field, never the value."""


def invalid(instance: Any, attribute: "attrs.Attribute[Any]", problem: str) -> ValueError:
    """The public `crs_sdk.InvalidFieldError` for a model field (imported late: no cycle)."""
    from crs_sdk._exceptions import InvalidFieldError

    return InvalidFieldError(type(instance).__name__, attribute.name, problem)


def as_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """Turn any iterable (typically a list) into a tuple, refusing a bare string.

    A string is iterable, so ``territorial_scope="GB"`` would silently become ``("G", "B")``.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError("expected a sequence of values, got a single string")
    return tuple(value)


def length(min_length: int, max_length: int | None = None) -> Callable[[Any, Any, Any], None]:
    """Validator: ``len(value)`` lies in ``min_length..max_length`` (inclusive)."""

    @request_check
    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: Sized) -> None:
        size = len(value)
        if size < min_length or (max_length is not None and size > max_length):
            bound = f"{min_length}..{max_length}" if max_length is not None else f"{min_length}.."
            raise invalid(instance, attribute, f"must have length {bound}, not {size}")

    return check


def optional_length(
    min_length: int, max_length: int | None = None
) -> Callable[[Any, Any, Any], None]:
    """Like :func:`length`, letting ``None`` through."""
    inner = length(min_length, max_length)

    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: Sized | None) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


@request_check
def unique(instance: Any, attribute: "attrs.Attribute[Any]", value: tuple[Any, ...]) -> None:
    """Validator: no value appears twice."""
    if len(set(value)) != len(value):
        raise invalid(instance, attribute, "must not contain duplicates")


def aware(instance: Any, attribute: "attrs.Attribute[Any]", value: datetime | None) -> None:
    """Validator: a datetime (if given) carries a time zone, so it names one instant."""
    if value is not None and value.utcoffset() is None:
        raise invalid(instance, attribute, "must be timezone-aware (e.g. tzinfo=timezone.utc)")


def refusing(
    problem_of: Callable[[str], str | None],
) -> Callable[[Any, "attrs.Attribute[Any]", str | None], None]:
    """Validator: a string (``None`` passes) for which ``problem_of`` finds nothing wrong."""

    @request_check
    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: str | None) -> None:
        if value is not None and (problem := problem_of(value)) is not None:
            raise invalid(instance, attribute, problem)

    return check


def _text_problem(text: str, control: re.Pattern[str], rule: str) -> str | None:
    """What is wrong with ``text``: an unpaired surrogate, or a match of `control` (``rule``)."""
    for pattern, problem in ((SURROGATE, NO_UTF8), (control, rule)):
        found = pattern.search(text)
        if found is not None:
            return f"{problem}; found U+{ord(found.group()):04X} at index {found.start()}"
    return None


_SINGLE_LINE = "must be a single line without control characters"


def single_line_problem(text: str) -> str | None:
    """What keeps ``text`` from being a single-line field's value (see `single_line`), if any."""
    return _text_problem(text, _CONTROL, _SINGLE_LINE)


def _refuse(
    control: re.Pattern[str], rule: str
) -> Callable[[Any, "attrs.Attribute[Any]", object], None]:
    """Validator: no unpaired surrogate and no match of `control` in a string, or in any string of
    a tuple."""

    @request_check
    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: object) -> None:
        texts = (value,) if isinstance(value, str) else value if isinstance(value, tuple) else ()
        for number, text in enumerate(texts):
            if not isinstance(text, str):
                continue
            problem = _text_problem(text, control, rule)
            if problem is not None:
                if not isinstance(value, str):
                    problem += f" of item {number}"
                raise invalid(instance, attribute, problem)

    return check


#: Validator: a string (or each string of a tuple; ``None`` passes) is one line without control
#: characters.
single_line = _refuse(_CONTROL, _SINGLE_LINE)
#: Validator: a string (``None`` passes) has no control character other than TAB, LF and CR.
multi_line = _refuse(
    _CONTROL_IN_TEXT, "must not contain control characters other than TAB, LF and CR"
)
