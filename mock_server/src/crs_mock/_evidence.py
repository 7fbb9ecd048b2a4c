"""Evidence and its tus uploads: the rules, the rows, and the step that turns bytes into evidence.

An upload is a row in ``uploads`` (its declared length and metadata, the offset committed so far,
its state) plus, while it is open, a partial file in the `BlobStore`. States:

- ``open``: receiving bytes; expires `UPLOAD_TTL_MS` of virtual time after creation or the last
  chunk (``Upload-Expires``). An expired upload becomes ``expired`` (its bytes are deleted) and
  answers ``410 upload_expired`` from then on.
- ``finished``: its bytes were checked against the declared SHA-256 and became the Evidence named
  by ``evidence_id`` (``HEAD`` shows it as ``Evidence-Id``).
- ``failed``: the whole file did not match its ``sha256`` (``integrity_mismatch``), or the report
  got the same file meanwhile (``duplicate_evidence``) or left the statuses that accept evidence
  (``invalid_transition``); its bytes are deleted, nothing was attached. The problem is kept: a
  ``PATCH`` answers it again (so a client whose connection dropped on the last chunk learns the
  outcome), a ``HEAD`` answers ``410`` with an ``Upload-Error: <code>`` header.

Limits (`EvidenceLimits`), checked when an upload is created: the report is ``draft`` or
``info_requested``; it has fewer than `MAX_EVIDENCE_PER_REPORT` pieces of evidence *and open
uploads* together; the declared SHA-256 is not already attached to it; the content type is allowed.
The status and the duplicate are checked again when the upload completes, in the transaction that
creates the Evidence, bumps the report's ``evidence_count`` and appends ``evidence.received``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crs_mock._clock import format_ms, parse_rfc3339_ms
from crs_mock._events import append_event
from crs_mock._lifecycle import StoredReport, load_report, new_id, save_report
from crs_mock._problems import FieldError, ProblemError

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    from crs_mock._store import Transaction

__all__ = [
    "ACCEPTS_EVIDENCE",
    "ALLOWED_CONTENT_TYPES",
    "MAX_EVIDENCE_PER_REPORT",
    "UPLOAD_TTL_MS",
    "EvidenceMetadata",
    "Upload",
    "check_metadata",
    "evidence_for_response",
    "insert_evidence",
    "list_evidence",
]

UPLOAD_TTL_MS = 24 * 3600 * 1000
MAX_EVIDENCE_PER_REPORT = 50
ACCEPTS_EVIDENCE = frozenset({"draft", "info_requested"})
#: Media types accepted as evidence: any ``image/*``, ``video/*``, ``audio/*``, and these.
ALLOWED_CONTENT_TYPES = frozenset(
    {
        "application/pdf",
        "text/plain",
        "application/zip",
        "application/x-7z-compressed",
        "application/gzip",
        "application/x-tar",
    }
)
_ALLOWED_FAMILIES = ("image/", "video/", "audio/")
_REQUIRED_KEYS = ("filename", "content_type", "sha256", "relevance")
_RELEVANCE = ("primary", "supporting")
_TCHAR = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*"'
#: RFC 9110: ``type/subtype``, then ``; name=value`` parameters (a token or a quoted string).
#: Each run of spaces can be matched one way only, so a failing match cannot backtrack
#: exponentially (``"a/b" + "; " * n + "\x01"``).
_MEDIA_TYPE = re.compile(
    rf"({_TCHAR})/({_TCHAR})((?:[ \t]*;(?:[ \t]*{_TCHAR}=(?:{_TCHAR}|{_QUOTED}))?)*)[ \t]*"
)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
#: Not in a file name: C0 and C1 controls, DEL, path separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")
MAX_FILENAME = 255


@dataclass(frozen=True)
class EvidenceMetadata:
    """The checked ``Upload-Metadata`` of an upload (unknown keys are ignored)."""

    filename: str
    content_type: str
    sha256: str
    relevance: str
    captured_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "relevance": self.relevance,
            "captured_at": self.captured_at,
        }


def _field_errors(metadata: Mapping[str, str]) -> list[FieldError]:
    errors = [
        FieldError(f"/metadata/{key}", "Required in Upload-Metadata")
        for key in _REQUIRED_KEYS
        if key not in metadata
    ]
    filename = metadata.get("filename")
    if filename is not None and not (
        filename.strip() and len(filename) <= MAX_FILENAME and not _CONTROL.search(filename)
    ):
        errors.append(
            FieldError(
                "/metadata/filename",
                f"Must be 1 to {MAX_FILENAME} characters, not all blank, without control "
                "characters or path separators",
            )
        )
    content_type = metadata.get("content_type")
    if content_type is not None and not _MEDIA_TYPE.fullmatch(content_type.strip(" \t")):
        detail = "Must be a media type: type/subtype, then optional ; name=value parameters"
        errors.append(FieldError("/metadata/content_type", detail))
    sha256 = metadata.get("sha256")
    if sha256 is not None and not _SHA256.fullmatch(sha256):
        errors.append(FieldError("/metadata/sha256", "Must be the hex SHA-256 of the whole file"))
    relevance = metadata.get("relevance")
    if relevance is not None and relevance not in _RELEVANCE:
        errors.append(FieldError("/metadata/relevance", f"Must be one of {', '.join(_RELEVANCE)}"))
    captured_at = metadata.get("captured_at")
    if captured_at is not None:
        try:
            parse_rfc3339_ms(captured_at)
        except ValueError:
            detail = "Must be an RFC 3339 date-time with a time zone"
            errors.append(FieldError("/metadata/captured_at", detail))
    return errors


def check_metadata(metadata: Mapping[str, str]) -> EvidenceMetadata:
    """The evidence fields of parsed ``Upload-Metadata``; `422` at ``/metadata/<key>``, or `415`
    for a well-formed media type that is not accepted as evidence."""
    errors = _field_errors(metadata)
    if errors:
        raise ProblemError.validation(errors)
    match = _MEDIA_TYPE.fullmatch(metadata["content_type"].strip(" \t"))
    if match is None:  # pragma: no cover - checked above
        raise ProblemError.validation([FieldError("/metadata/content_type", "Not a media type")])
    content_type = f"{match.group(1)}/{match.group(2)}".lower()
    if not (content_type.startswith(_ALLOWED_FAMILIES) or content_type in ALLOWED_CONTENT_TYPES):
        allowed = ", ".join(["image/*", "video/*", "audio/*", *sorted(ALLOWED_CONTENT_TYPES)])
        raise ProblemError(
            "unsupported_media_type",
            f"Evidence of type {content_type} is not accepted; allowed: {allowed}.",
        )
    return EvidenceMetadata(
        filename=metadata["filename"],
        content_type=content_type,
        sha256=metadata["sha256"].lower(),
        relevance=metadata["relevance"],
        captured_at=metadata.get("captured_at"),
    )


@dataclass
class Upload:
    """An ``uploads`` row."""

    id: str
    agency_id: str
    report_id: str
    length: int
    received: int
    metadata_header: str
    metadata: EvidenceMetadata
    state: str
    failure: dict[str, Any] | None
    evidence_id: str | None
    expires_ms: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Upload:
        return cls(
            id=row["id"],
            agency_id=row["agency_id"],
            report_id=row["report_id"],
            length=row["length"],
            received=row["received"],
            metadata_header=row["metadata_header"],
            metadata=EvidenceMetadata(**json.loads(row["metadata"])),
            state=row["state"],
            failure=None if row["failure"] is None else json.loads(row["failure"]),
            evidence_id=row["evidence_id"],
            expires_ms=row["expires_ms"],
        )

    def failure_problem(self) -> ProblemError:
        failure = self.failure or {"code": "internal_error", "detail": None, "extensions": {}}
        return ProblemError(failure["code"], failure["detail"], **failure["extensions"])


def record_failure(tx: Transaction, upload: Upload, problem: ProblemError, at_ms: int) -> None:
    failure = {"code": problem.code, "detail": problem.detail, "extensions": problem.extensions}
    tx.execute(
        "UPDATE uploads SET state = 'failed', failure = ?, updated_ms = ? WHERE id = ?",
        (json.dumps(failure), at_ms, upload.id),
    )


def existing_evidence(tx: Transaction, report_id: str, sha256: str) -> str | None:
    row = tx.one("SELECT id FROM evidence WHERE report_id = ? AND sha256 = ?", (report_id, sha256))
    return None if row is None else str(row["id"])


def duplicate(report_id: str, evidence_id: str) -> ProblemError:
    return ProblemError(
        "duplicate_evidence",
        f"A file with this SHA-256 is already attached to report {report_id} as {evidence_id}.",
        existing_evidence_id=evidence_id,
    )


def require_accepting(report: StoredReport) -> None:
    """`409 invalid_transition` unless the report accepts evidence now."""
    if report.status not in ACCEPTS_EVIDENCE:
        raise ProblemError(
            "invalid_transition",
            f"Evidence can be added to a report in draft or info_requested, not {report.status}",
            current_status=report.status,
        )


def check_room(tx: Transaction, report_id: str, now_ms: int) -> None:
    """`409 evidence_limit_reached` if the report's evidence and open uploads fill the limit."""
    row = tx.one(
        "SELECT (SELECT count(*) FROM evidence WHERE report_id = ?) + "
        "(SELECT count(*) FROM uploads WHERE report_id = ? AND state = 'open' "
        "AND expires_ms > ?) AS used",
        (report_id, report_id, now_ms),
    )
    used = 0 if row is None else int(row["used"])
    if used >= MAX_EVIDENCE_PER_REPORT:
        raise ProblemError(
            "evidence_limit_reached",
            f"The report already has {MAX_EVIDENCE_PER_REPORT} pieces of evidence and unfinished "
            "uploads; a report holds at most that many.",
        )


def insert_evidence(tx: Transaction, upload: Upload, report: StoredReport, at_ms: int) -> str:
    """Attach the finished upload to its report: Evidence row, count, event; the evidence id."""
    metadata = upload.metadata
    document = {
        "id": new_id("evd"),
        "report_id": report.id,
        **metadata.to_json(),
        "size": upload.length,
        "received_at": format_ms(at_ms),
    }
    info_request = report.document.get("info_request")
    tx.execute(
        "INSERT INTO evidence (id, agency_id, report_id, upload_id, sha256, size, "
        "info_request_id, received_ms, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            document["id"],
            report.agency_id,
            report.id,
            upload.id,
            metadata.sha256,
            upload.length,
            info_request["id"] if report.status == "info_requested" and info_request else None,
            at_ms,
            json.dumps(document),
        ),
    )
    tx.execute(
        "UPDATE uploads SET state = 'finished', evidence_id = ?, updated_ms = ? WHERE id = ?",
        (document["id"], at_ms, upload.id),
    )
    report.document["evidence_count"] = report.document.get("evidence_count", 0) + 1
    save_report(tx, report, at_ms)
    append_event(
        tx,
        agency_id=report.agency_id,
        event_type="evidence.received",
        at_ms=at_ms,
        data={"report_id": report.id, "evidence": evidence_for_response(document)},
        report_id=report.id,
    )
    return str(document["id"])


def evidence_for_response(document: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's Evidence, fields in the contract's order."""
    keys = ("id", "report_id", "filename", "content_type", "size", "sha256", "relevance")
    return {
        **{key: document[key] for key in keys},
        "captured_at": document["captured_at"],
        "received_at": document["received_at"],
    }


def list_evidence(
    tx: Transaction, report_id: str, agency_id: str, *, after: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the report's finished evidence, oldest first, and the last seq if more follow."""
    load_report(tx, report_id, agency_id)
    rows = tx.all(
        "SELECT seq, document FROM evidence WHERE report_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (report_id, after, limit + 1),
    )
    page = rows[:limit]
    data = [evidence_for_response(json.loads(row["document"])) for row in page]
    return data, (page[-1]["seq"] if len(rows) > limit else None)


def check_response_evidence(
    tx: Transaction, report: StoredReport, evidence_ids: list[str]
) -> list[FieldError]:
    """Field errors for ids that are not evidence uploaded to `report` for its open info request.

    Evidence counts as uploaded for the request when its upload finished while the report was
    ``info_requested`` with that request open.
    """
    info_request = report.document.get("info_request") or {}
    errors = []
    for index, evidence_id in enumerate(evidence_ids):
        row = tx.one("SELECT report_id, info_request_id FROM evidence WHERE id = ?", (evidence_id,))
        if row is None or row["report_id"] != report.id:
            detail = f"No evidence {evidence_id} on this report"
        elif row["info_request_id"] is None or row["info_request_id"] != info_request.get("id"):
            detail = (
                f"Evidence {evidence_id} was not uploaded for the open information request; "
                "upload new evidence while the report is info_requested"
            )
        else:
            continue
        errors.append(FieldError(f"/evidence_ids/{index}", detail))
    return errors
