"""The tus 1.0.0 wire of an evidence upload (creation, checksum, expiration), without I/O.

What is sent: the ``Upload-Metadata`` of an `UploadPlan`, ``Upload-Checksum``, and the request of
each step (`creation_spec`, `head_spec`, `patch_spec`, and `evidence_page_spec` for the finished
evidence). What comes back: the upload's URL (`parse_creation`, `upload_path`), its offset and
evidence (`parse_status`), and whether an answer was replayed (`was_replayed`).
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import TYPE_CHECKING, Final

import attrs

from crs_sdk._arguments import page_size_params, path_segment
from crs_sdk._config import API_PREFIX, ClientConfig
from crs_sdk._converter import format_datetime
from crs_sdk._enums import EvidenceRelevance
from crs_sdk._evidence_metadata import describe_filename, media_type_for
from crs_sdk._exceptions import DecodeError
from crs_sdk._models._fields import single_line_problem
from crs_sdk._requests import RequestSpec

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    import httpx

    from crs_sdk._upload_source import ChunkBody, LocalFile, UploadSource

__all__ = [
    "TUS_VERSION",
    "UploadPlan",
    "UploadStatus",
    "check_relevance",
    "checksum_header",
    "creation_spec",
    "encode_metadata",
    "evidence_page_spec",
    "evidence_path",
    "head_spec",
    "parse_creation",
    "parse_status",
    "patch_spec",
    "upload_path",
    "was_replayed",
]

TUS_VERSION: Final = "1.0.0"
#: More digits than any offset or length has (and `int` reads up to 4,300 only).
_MAX_DIGITS: Final = 19
_OFFSET_STREAM: Final = "application/offset+octet-stream"


def encode_metadata(pairs: Iterable[tuple[str, str]]) -> str:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (tus creation)."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}" for key, value in pairs
    )


def checksum_header(digest: bytes) -> str:
    """``Upload-Checksum`` for a chunk's SHA-256: ``sha256 <base64 digest>`` (tus checksum)."""
    return "sha256 " + base64.b64encode(digest).decode("ascii")


@attrs.frozen(kw_only=True)
class UploadPlan:
    """What is being uploaded, where, and under which metadata."""

    report_id: str
    filename: str
    content_type: str
    relevance: EvidenceRelevance
    captured_at: datetime | None
    sha256: str
    size: int

    @classmethod
    def build(
        cls,
        report_id: str,
        source: UploadSource,
        local: LocalFile,
        *,
        filename: str | None,
        content_type: str | None,
        relevance: EvidenceRelevance | str,
        captured_at: datetime | None,
    ) -> UploadPlan:
        """Check the arguments and settle the defaults (file name, guessed media type).

        Raises:
            ValueError: no file name can be found, no media type (see `media_type_for`), or the
                source is empty (the contract requires ``Upload-Length`` of at least 1).
        """
        name = describe_filename(source, filename)
        if local.size == 0:
            raise ValueError(f"{name!r} is empty: the CRS API does not accept empty evidence")
        content_type = media_type_for(name, content_type)
        return cls(
            report_id=report_id,
            filename=name,
            content_type=content_type,
            relevance=EvidenceRelevance(relevance),
            captured_at=captured_at,
            sha256=local.sha256,
            size=local.size,
        )

    def metadata(self) -> str:
        """The ``Upload-Metadata`` header."""
        pairs = [
            ("filename", self.filename),
            ("content_type", self.content_type),
            ("sha256", self.sha256),
            ("relevance", str(self.relevance.value)),
        ]
        if self.captured_at is not None:
            pairs.append(("captured_at", format_datetime(self.captured_at)))
        return encode_metadata(pairs)


def check_relevance(relevance: EvidenceRelevance | str) -> None:
    """Check ``evidence.upload``'s ``relevance`` as `EvidenceFile.relevance` is checked.

    Raises:
        TypeError: ``relevance`` is not a ``str`` (an `EvidenceRelevance` is one).
        ValueError: it holds an unpaired surrogate or a control character (it could not be sent).
    """
    if not isinstance(relevance, str):
        raise TypeError(
            f"relevance must be an EvidenceRelevance or a str, not {type(relevance).__name__}"
        )
    problem = single_line_problem(relevance)
    if problem is not None:
        raise ValueError(f"relevance {problem}")


def _tus_headers(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Tus-Resumable", TUS_VERSION), *extra)


def evidence_path(report_id: str) -> str:
    """``/reports/{report_id}/evidence``.

    Raises:
        TypeError: ``report_id`` is not a ``str``.
        ValueError: ``report_id`` is empty or cannot be sent in a URL (see `path_segment`).
    """
    return f"/reports/{path_segment(report_id, 'report_id')}/evidence"


def creation_spec(plan: UploadPlan, idempotency_key: str) -> RequestSpec:
    """``createEvidenceUpload``: ``POST /reports/{id}/evidence`` with no body."""
    headers = _tus_headers(("Upload-Length", str(plan.size)), ("Upload-Metadata", plan.metadata()))
    return RequestSpec(
        "POST",
        evidence_path(plan.report_id),
        headers=headers,
        idempotency_key=idempotency_key,
    )


def head_spec(path: str) -> RequestSpec:
    """``getUploadOffset``: ``HEAD`` the upload."""
    return RequestSpec("HEAD", path, headers=_tus_headers())


def patch_spec(path: str, offset: int, chunk: ChunkBody, digest: bytes) -> RequestSpec:
    """``appendUpload``: one chunk at ``offset``, read from the file as it is sent, with its
    SHA-256 (``digest``, `LocalFile.chunk_digest`) in ``Upload-Checksum``."""
    headers = _tus_headers(
        ("Content-Type", _OFFSET_STREAM),
        ("Upload-Offset", str(offset)),
        ("Upload-Checksum", checksum_header(digest)),
    )
    return RequestSpec("PATCH", path, headers=headers, content=chunk)


def evidence_page_spec(report_id: str, cursor: str | None, page_size: int | None) -> RequestSpec:
    """``listEvidence``: one page of a report's finished evidence."""
    params: list[tuple[str, str | int]] = [*page_size_params(page_size)]
    if cursor is not None:
        params.append(("cursor", cursor))
    return RequestSpec("GET", evidence_path(report_id), params=tuple(params))


@attrs.frozen
class UploadStatus:
    """The server's view of an upload: bytes held, and the evidence once it is finished."""

    offset: int
    evidence_id: str | None = None


def upload_path(config: ClientConfig, request_path: str, location: str) -> str:
    """The API path (relative to ``/v1``) of an upload URL, resolved against the request URL.

    Raises:
        DecodeError: the URL is not under the client's base URL. The bearer token is only ever
            sent to the configured server, so a ``Location`` elsewhere is refused.
    """
    absolute = urllib.parse.urljoin(config.api_url(request_path), location.strip())
    prefix = config.base_url + API_PREFIX + "/"
    if not absolute.startswith(prefix) or "#" in absolute:
        raise DecodeError(f"the upload URL {absolute!r} is not under {prefix!r}")
    return absolute[len(prefix) - 1 :]


def parse_creation(config: ClientConfig, plan: UploadPlan, response: httpx.Response) -> str:
    """The API path of the upload a creation answer names in ``Location``."""
    location = response.headers.get("location")
    if not location:
        raise DecodeError("the upload creation answer has no Location header")
    return upload_path(config, evidence_path(plan.report_id), location)


def was_replayed(response: httpx.Response) -> bool:
    """Whether the answer is a replay of an earlier request with the same idempotency key."""
    value: str = response.headers.get("idempotent-replayed", "")
    return value.strip().lower() == "true"


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None:
        return None
    text = value.strip()
    if not (len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()):  # "²" is a digit
        raise DecodeError(f"the {name} header is not a non-negative integer: {value!r}")
    return int(text)


def parse_status(response: httpx.Response, size: int) -> UploadStatus:
    """The upload's status from a ``HEAD`` or ``PATCH`` answer.

    Raises:
        DecodeError: ``Upload-Offset`` is missing or beyond the file, or ``Upload-Length``
            differs from the local size (the upload is of another file).
    """
    offset = _header_int(response, "upload-offset")
    if offset is None:
        raise DecodeError("the upload answer has no Upload-Offset header")
    length = _header_int(response, "upload-length")
    if (length is not None and length != size) or offset > size:
        raise DecodeError(f"the server's upload does not match the local file of {size} bytes")
    evidence_id = response.headers.get("evidence-id") or None
    return UploadStatus(offset=offset, evidence_id=evidence_id)
