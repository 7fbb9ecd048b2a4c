"""The caller's arguments that go into a URL or a header, checked before anything is sent.

Each check names the argument (and the index of a bad character), never the value. A write without
the caller's ``idempotency_key`` gets a fresh one (`new_idempotency_key`).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
import uuid

__all__ = [
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_PAGE_SIZE",
    "check_idempotency_key",
    "check_url_text",
    "derived_idempotency_key",
    "new_idempotency_key",
    "page_size_params",
    "path_segment",
]

_NOT_HEADER_TEXT = re.compile("[^\x20-\x7e]")

#: The longest ``Idempotency-Key`` the contract accepts.
MAX_IDEMPOTENCY_KEY_LENGTH = 255

#: The largest page (``limit``) the contract's list operations serve.
MAX_PAGE_SIZE = 100


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` (a random UUID)."""
    return str(uuid.uuid4())


def check_url_text(value: str, name: str) -> str:
    """Return ``value``, the caller's argument ``name``, if a URL can carry it.

    A URL carries text as UTF-8, and a ``str`` holding an unpaired surrogate (``"\\ud800"``) has
    no UTF-8 form. The message names the argument and the index, never the value.

    Raises:
        TypeError: ``value`` is not a ``str``.
        ValueError: ``value`` holds an unpaired surrogate.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        found = f"U+{ord(value[exc.start]):04X} at index {exc.start}"
        raise ValueError(
            f"{name} cannot be sent in a URL: it holds an unpaired surrogate ({found})"
        ) from exc
    return value


def check_idempotency_key(value: str | None) -> None:
    """Check the caller's ``idempotency_key`` (``None``: not given) before anything is sent.

    The key is sent as the ``Idempotency-Key`` header, whose value the contract takes as 1 to
    ``MAX_IDEMPOTENCY_KEY_LENGTH`` (255) printable ASCII characters (U+0020..U+007E). An empty key
    is refused, not taken as "not given". The message names the argument and the index, never the
    value.

    Raises:
        TypeError: ``value`` is neither a ``str`` nor ``None``.
        ValueError: ``value`` is empty, longer than 255 characters, or holds a character outside
            printable ASCII.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"idempotency_key must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError("idempotency_key must not be empty: leave it out for a fresh key")
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(
            f"idempotency_key must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters, "
            f"not {len(value)}"
        )
    found = _NOT_HEADER_TEXT.search(value)
    if found is not None:
        where = f"U+{ord(found.group()):04X} at index {found.start()}"
        raise ValueError(
            f"idempotency_key cannot be sent in a header: it must be printable ASCII ({where})"
        )


def derived_idempotency_key(key: str, step: str) -> str:
    """The key ``<key>:<step>``, or its SHA-256 (64 hex digits) when that exceeds 255 characters.

    Deterministic, so that repeating a call derives the same key and the server replays; always
    within the contract's limit, whatever the length of the caller's (valid) key.
    """
    derived = f"{key}:{step}"
    if len(derived) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        return derived
    return hashlib.sha256(derived.encode("utf-8")).hexdigest()


def path_segment(value: str, name: str) -> str:
    """Quote the path parameter ``name`` so that it stays one segment (no ``/``, ``..`` or ``?``).

    Checked before anything is sent; the message names the argument, never the value.

    Raises:
        TypeError: ``value`` is not a ``str``.
        ValueError: ``value`` is empty, or holds an unpaired surrogate (see `check_url_text`).
    """
    check_url_text(value, name)
    if not value:
        raise ValueError(f"{name} must not be empty")
    quoted = urllib.parse.quote(value, safe="")
    # "." and ".." survive quoting and would be resolved by the URL parser.
    return quoted.replace(".", "%2E") if quoted in {".", ".."} else quoted


def page_size_params(page_size: int | None) -> tuple[tuple[str, int], ...]:
    """The ``limit`` query parameter for the caller's ``page_size`` (``None``: server's default).

    Raises:
        TypeError: ``page_size`` is not an ``int`` (``True`` is not a page size).
        ValueError: ``page_size`` is outside 1 to `MAX_PAGE_SIZE`.
    """
    if page_size is None:
        return ()
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise TypeError(f"page_size must be an int, not {type(page_size).__name__}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size!r}")
    return (("limit", page_size),)
