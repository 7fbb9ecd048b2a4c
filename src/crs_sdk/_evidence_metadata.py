"""What an evidence upload records besides the bytes: the file name and the media type, checked
as the platform checks them, before any file is read."""

from __future__ import annotations

import io
import mimetypes
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from crs_sdk._models._fields import NO_UTF8, SURROGATE

if TYPE_CHECKING:
    from datetime import datetime

    from crs_sdk._upload_source import UploadSource

__all__ = [
    "MAX_FILENAME",
    "check_content_type",
    "check_source",
    "default_filename",
    "describe_filename",
    "filename_problem",
    "media_type_for",
    "media_type_problem",
]


def _is_bytes(source: object) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


def default_filename(source: UploadSource) -> str | None:
    """The file name a source brings with it: a path's, or a named file object's."""
    if isinstance(source, (str, os.PathLike)):
        return Path(os.fspath(source)).name or None
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else None


_OCTET_STREAM: Final = "application/octet-stream"
#: The longest file name the platform records.
MAX_FILENAME: Final = 255
_NOT_IN_FILENAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*"'
#: RFC 9110 media type: ``type/subtype``, then ``; name=value`` parameters (token or quoted).
#: Each run of spaces can be matched one way only, so a failing match cannot backtrack
#: exponentially (``"a/b" + "; " * n + "\x01"``).
_MEDIA_TYPE = re.compile(
    rf"{_TCHARS}/{_TCHARS}(?:[ \t]*;(?:[ \t]*{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))?)*[ \t]*"
)


def filename_problem(name: str) -> str | None:
    """What is wrong with ``name`` as an evidence file name (the platform would refuse it)."""
    if not name.strip():
        return "must not be empty"
    if len(name) > MAX_FILENAME:
        return f"must be at most {MAX_FILENAME} characters, not {len(name)}"
    found = _NOT_IN_FILENAME.search(name)
    if found is not None:
        character = f"U+{ord(found.group()):04X}"
        return (
            "must not contain control characters or path separators; "
            f"found {character} at index {found.start()}"
        )
    found = SURROGATE.search(name)  # e.g. a path's name that is not UTF-8 on disk
    if found is not None:
        return f"{NO_UTF8}; found U+{ord(found.group()):04X} at index {found.start()}"
    return None


def media_type_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a media type (the platform would refuse it)."""
    if _MEDIA_TYPE.fullmatch(value.strip(" \t")) is None:  # as the platform reads it
        return "must be a media type: type/subtype, then optional parameters (e.g. video/mp4)"
    return None


def describe_filename(source: UploadSource, filename: str | None) -> str:
    """The file name to record: ``filename``, else the source's own.

    Raises:
        ValueError: neither is available (bytes, or an anonymous stream), or the name is one the
            platform refuses (empty, longer than 255 characters, a control character or a path
            separator); the message never repeats the name.
    """
    name = filename if filename is not None else default_filename(source)
    if name is None:
        raise ValueError("filename= is required when the source is bytes or an unnamed stream")
    problem = filename_problem(name)
    if problem is not None:
        hint = "" if filename is not None else " (pass filename= to record another name)"
        raise ValueError(f"filename {problem}{hint}")
    return name


def media_type_for(name: str, content_type: str | None) -> str:
    """``content_type`` if given, else the media type the file name implies.

    ``application/octet-stream`` is never made up: it says nothing of what the evidence is, and
    the platform does not take it as evidence (``415``, after the whole file was read).

    Raises:
        ValueError: none was given and the name implies none (or only octet-stream).
    """
    if content_type is not None:
        return content_type
    guessed = mimetypes.guess_type(name, strict=False)[0]
    if guessed is None or guessed == _OCTET_STREAM:
        raise ValueError(
            "content_type= is required: the file name does not tell the media type (evidence is "
            "an image, a video, audio, a PDF, plain text or an archive, e.g. video/mp4)"
        )
    return guessed


def check_content_type(content_type: str | None) -> None:
    """Raise ``ValueError`` if a given ``content_type`` is not a media type."""
    if content_type is not None and (problem := media_type_problem(content_type)) is not None:
        raise ValueError(f"content_type {problem}")


def check_source(source: object, captured_at: datetime | None) -> None:
    """Cheap argument checks made before any file is read."""
    if captured_at is not None and captured_at.utcoffset() is None:
        raise ValueError("captured_at must be timezone-aware (e.g. tzinfo=timezone.utc)")
    if not (_is_bytes(source) or isinstance(source, (str, os.PathLike))) and not callable(
        getattr(source, "read", None)
    ):
        raise TypeError(
            f"source must be a path, bytes or a binary file object, not {type(source).__name__}"
        )
    if isinstance(source, io.TextIOBase):
        raise TypeError(
            "source must be a binary file object, not a text one: open the file with 'rb'"
        )
