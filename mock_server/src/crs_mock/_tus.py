"""The tus 1.0.0 protocol's wire details: its headers, parsed strictly, and its discovery answer.

Supported: core, ``creation``, ``checksum`` (``sha1``, ``sha256``), ``termination`` and
``expiration``; not ``creation-defer-length``, ``creation-with-upload`` or ``concatenation``.
Every answer on a tus path carries ``Tus-Resumable: 1.0.0`` (`TusResumableHeader` adds it, so
problems, ``404``/``405`` answers and even a crash's ``500`` carry it too); every tus request other
than ``OPTIONS`` must carry it (`require_tus_version`, else ``412`` with ``Tus-Version``).

Header values that cannot be parsed are ``400 invalid_request`` problems that name the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING

from crs_mock._headers import single_header
from crs_mock._problems import ProblemError

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "OFFSET_CONTENT_TYPE",
    "TUS_VERSION",
    "ChunkChecksum",
    "TusResumableHeader",
    "discovery_headers",
    "http_date",
    "parse_checksum",
    "parse_metadata",
    "parse_upload_length",
    "parse_upload_offset",
    "require_tus_version",
]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
CHECKSUM_ALGORITHMS: dict[str, Callable[[], hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}
_INTEGER = re.compile(r"[0-9]{1,19}")
_METADATA_KEY = re.compile(r"[!-+\--~]+")  # visible ASCII except the comma
_TUS_PATH = re.compile(r"/v1/uploads(/[^/]+)?|/v1/reports/[^/]+/evidence")


def require_tus_version(request: Request) -> None:
    """`412` unless the request speaks tus 1.0.0 (`400` naming the header if it is sent twice)."""
    version = single_header(request, "Tus-Resumable")
    if version != TUS_VERSION:
        shown = "missing" if version is None else repr(version)
        raise ProblemError(
            "invalid_request",
            f"Tus-Resumable must be {TUS_VERSION} (it is {shown}).",
            status=412,
            title="Unsupported tus version",
            headers={"Tus-Version": TUS_VERSION},
            header="Tus-Resumable",
        )


def discovery_headers(max_size: int) -> dict[str, str]:
    """The ``OPTIONS`` answer's headers (tus core discovery)."""
    return {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": TUS_EXTENSIONS,
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }


def _integer(request: Request, name: str) -> int:
    value = single_header(request, name)
    if value is None:
        raise ProblemError.bad_request(f"The {name} header is required.", header=name)
    if not _INTEGER.fullmatch(value.strip()):
        raise ProblemError.bad_request(
            f"{name} must be a non-negative integer, not {value!r}.", header=name
        )
    return int(value)


def parse_upload_length(request: Request, max_size: int) -> int:
    """``Upload-Length``: 1 to `max_size` bytes (`413` above; deferred lengths are refused)."""
    if "upload-defer-length" in request.headers:
        raise ProblemError.bad_request(
            "Upload-Defer-Length is not supported: declare Upload-Length.",
            header="Upload-Defer-Length",
        )
    length = _integer(request, "Upload-Length")
    if length < 1:
        raise ProblemError.bad_request(
            "Upload-Length must be at least 1: evidence is not empty.", header="Upload-Length"
        )
    if length > max_size:
        raise ProblemError(
            "payload_too_large",
            f"Upload-Length {length} exceeds Tus-Max-Size {max_size}.",
            header="Upload-Length",
        )
    return length


def parse_upload_offset(request: Request) -> int:
    return _integer(request, "Upload-Offset")


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata`` as key -> decoded UTF-8 value; `400` if the header is malformed."""
    if header is None or not header.strip():
        raise ProblemError.bad_request(
            "The Upload-Metadata header is required.", header="Upload-Metadata"
        )
    metadata: dict[str, str] = {}
    for pair in header.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not _METADATA_KEY.fullmatch(key) or " " in encoded:
            raise ProblemError.bad_request(
                f"Upload-Metadata must be comma-separated 'key base64value' pairs; {pair!r} "
                "is not.",
                header="Upload-Metadata",
            )
        if key in metadata:
            raise ProblemError.bad_request(
                f"Upload-Metadata has the key {key!r} twice.", header="Upload-Metadata"
            )
        try:
            metadata[key] = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ProblemError.bad_request(
                f"The Upload-Metadata value of {key!r} is not base64-encoded UTF-8.",
                header="Upload-Metadata",
            ) from None
    return metadata


class ChunkChecksum:
    """An ``Upload-Checksum`` to verify a chunk against, fed as the chunk arrives."""

    def __init__(self, algorithm: str, expected: bytes) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self._digest = CHECKSUM_ALGORITHMS[algorithm]()

    def update(self, data: bytes | bytearray) -> None:
        self._digest.update(data)

    def matches(self) -> bool:
        return self._digest.digest() == self.expected

    def mismatch(self) -> ProblemError:
        return ProblemError(
            "checksum_mismatch",
            f"The {self.algorithm} of the received chunk does not match Upload-Checksum; "
            "the chunk was discarded.",
        )


def parse_checksum(request: Request) -> ChunkChecksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``, if given; `400` if malformed or twice."""
    header = single_header(request, "Upload-Checksum")
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        supported = ", ".join(CHECKSUM_ALGORITHMS)
        raise ProblemError.bad_request(
            f"Upload-Checksum algorithm {algorithm!r} is not supported; use one of {supported}.",
            header="Upload-Checksum",
        )
    try:
        expected = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        expected = b""
    if len(expected) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise ProblemError.bad_request(
            f"Upload-Checksum must be '{algorithm} <base64 of the {algorithm} digest>'.",
            header="Upload-Checksum",
        )
    return ChunkChecksum(algorithm, expected)


def http_date(ms: int) -> str:
    """RFC 9110 HTTP-date (``Upload-Expires``): ``Tue, 24 Nov 2026 09:18:00 GMT``."""
    return format_datetime(datetime.fromtimestamp(ms / 1000, tz=timezone.utc), usegmt=True)


class TusResumableHeader:
    """Adds ``Tus-Resumable: 1.0.0`` to every answer on a tus path, whoever produced it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_tus(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"tus-resumable", TUS_VERSION.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_version)


def _is_tus(method: str, path: str) -> bool:
    if not _TUS_PATH.fullmatch(path):
        return False
    # GET on a report's evidence is the plain JSON list, not tus.
    return path.startswith("/v1/uploads") or method not in {"GET", "HEAD"}
