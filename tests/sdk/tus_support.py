"""A small, strict tus 1.0.0 server for the uploader's tests, behind sync and async transports.

It implements what the contract says about evidence: creation with metadata and idempotency keys,
``HEAD`` offsets, ``PATCH`` with ``Upload-Checksum`` verification (``460``), offset checks
(``409 upload_offset_mismatch``), the whole-file check (``422 integrity_mismatch``), duplicate
evidence (``409``), expiry (``410``), a failed upload (``HEAD``: ``410`` with ``Upload-Error``),
``Evidence-Id`` on the last ``PATCH`` and on ``HEAD`` afterwards, and the evidence list. It keeps
a running hash, never the bytes, so that memory tests measure the client only. Faults are queued
per ``PATCH`` number; reports can be created and submitted for ``create_and_submit``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx

BASE = "https://crs.test"
TOKEN = "tok-upload"

Fault = Callable[["TusServer", "Upload", bytes], "httpx.Response | bytes | None"]


@attrs.define
class Upload:
    id: str
    report_id: str
    length: int
    metadata: dict[str, str]
    offset: int = 0
    hasher: Any = attrs.field(factory=hashlib.sha256)
    evidence_id: str | None = None
    expired: bool = False
    #: The problem the upload failed with on its last byte: ``HEAD`` answers ``410`` with
    #: ``Upload-Error``, ``PATCH`` the problem itself.
    failure: httpx.Response | None = None


def problem(status: int, code: str, **extra: Any) -> httpx.Response:
    body = {
        "type": f"urn:crs:problem:{code}",
        "title": code,
        "status": status,
        "detail": code.replace("_", " "),
        "instance": None,
        "code": code,
        "request_id": "req_t",
        **extra,
    }
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/problem+json", "Tus-Resumable": "1.0.0"},
    )


def report_json(report_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A ``Report`` answer for a created report, its fields taken from ``body``."""
    items = [
        {"id": f"itm_{n}", "account": None, "observed_at": None, "decision": None, **item}
        for n, item in enumerate(body["items"], 1)
    ]
    return {
        "legal_basis": [],
        "territorial_scope": [],
        "good_faith_declaration": False,
        "priority": "standard",
        "escalation_reason": None,
        **body,
        "id": report_id,
        "status": "draft",
        "items": items,
        "info_request": None,
        "decision": None,
        "appeal": None,
        "status_history": [{"status": "draft", "at": "2026-11-23T10:15:00Z", "note": None}],
        "evidence_count": 0,
        "created_at": "2026-11-23T10:15:00Z",
        "updated_at": "2026-11-23T10:15:00Z",
        "submitted_at": None,
    }


def decode_metadata(header: str) -> dict[str, str]:
    pairs = {}
    for part in header.split(","):
        key, _, value = part.strip().partition(" ")
        pairs[key] = base64.b64decode(value, validate=True).decode() if value else ""
    return pairs


class TusServer:
    """The server state; `handle` answers one request."""

    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}
        self.evidence: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, httpx.Response] = {}
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.patch_count = 0
        self.patch_bytes = 0
        #: The read timeout each ``PATCH`` was sent with.
        self.patch_read_timeouts: list[float | None] = []
        self.faults: dict[int, Fault] = {}
        self.report_faults: dict[str, list[httpx.Response]] = {}
        self.server_sha: str | None = None
        self.location_prefix = "/v1/uploads/"
        #: The headers of a ``HEAD`` of an expired upload (the contract allows ``Upload-Error:
        #: upload_expired`` as well as none).
        self.expired_head_headers: dict[str, str] = {}
        self.page_size = 2
        self._ids = itertools.count(1)
        self.body = b""

    # --- helpers for tests -----------------------------------------------------------------------

    def requests(self, method: str) -> list[tuple[str, str, dict[str, str]]]:
        return [e for e in self.log if e[0] == method and e[1] != "/oauth/token"]

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    # --- dispatch --------------------------------------------------------------------------------

    def handle(self, request: httpx.Request, body: bytes) -> httpx.Response:
        path = request.url.path
        self.body = body
        self.log.append((request.method, path, dict(request.headers)))
        if path == "/oauth/token":
            return httpx.Response(
                200,
                json={"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600},
            )
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "uploads"] and len(parts) == 3:
            return self._upload_route(request, parts[2])
        if parts[:2] == ["v1", "reports"]:
            return self._report_route(request, parts[2:])
        raise AssertionError(f"unexpected request {request.method} {path}")

    def _upload_route(self, request: httpx.Request, upload_id: str) -> httpx.Response:
        assert request.headers["Tus-Resumable"] == "1.0.0"
        upload = self.uploads.get(upload_id)
        if upload is None:
            return problem(404, "not_found") if request.method != "HEAD" else httpx.Response(404)
        if upload.expired:
            if request.method == "HEAD":
                return httpx.Response(410, headers=self.expired_head_headers)
            return problem(410, "upload_expired")
        if upload.failure is not None:
            return self._failed(request, upload.failure)
        if request.method == "HEAD":
            return self._head(upload)
        if request.method == "PATCH":
            return self._patch(request, upload)
        raise AssertionError(request.method)

    def _failed(self, request: httpx.Request, failure: httpx.Response) -> httpx.Response:
        if request.method != "HEAD":
            return failure
        code = json.loads(failure.content)["code"]
        return httpx.Response(410, headers={"Upload-Error": code, "Tus-Resumable": "1.0.0"})

    def _report_route(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        if rest == [] and request.method == "POST":
            return self._idempotent(request, self._create_report)
        report_id = rest[0]
        if rest[1:] == ["evidence"] and request.method == "POST":
            return self._idempotent(request, lambda r: self._create_upload(r, report_id))
        if rest[1:] == ["evidence"] and request.method == "GET":
            return self._list_evidence(request, report_id)
        if rest[1:] == ["submit"] and request.method == "POST":
            return self._idempotent(request, lambda _: self._submit(report_id))
        raise AssertionError(f"unexpected {request.method} {request.url.path}")

    def _idempotent(
        self, request: httpx.Request, handler: Callable[[httpx.Request], httpx.Response]
    ) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        stored = self.keys.get(key)
        if stored is not None:
            return httpx.Response(
                stored.status_code,
                content=stored.content,
                headers={**stored.headers, "Idempotent-Replayed": "true"},
            )
        response = handler(request)
        if response.status_code < 500:
            self.keys[key] = response
        return response

    # --- reports ---------------------------------------------------------------------------------

    def _create_report(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(self.body)
        report = report_json(self.new_id("rpt"), body)
        self.reports[report["id"]] = report
        return httpx.Response(201, json=report)

    def _submit(self, report_id: str) -> httpx.Response:
        queued = self.report_faults.get("submit")
        if queued:
            return queued.pop(0)
        report = self.reports[report_id]
        report["status"] = "submitted"
        report["evidence_count"] = len(self.evidence.get(report_id, []))
        return httpx.Response(200, json=report)

    # --- tus -------------------------------------------------------------------------------------

    def _create_upload(self, request: httpx.Request, report_id: str) -> httpx.Response:
        assert request.headers["Tus-Resumable"] == "1.0.0"
        assert self.body == b""
        length = int(request.headers["Upload-Length"])
        if length < 1:
            return problem(422, "validation_error")
        metadata = decode_metadata(request.headers["Upload-Metadata"])
        assert set(metadata) >= {"filename", "content_type", "sha256", "relevance"}
        upload = Upload(self.new_id("upl"), report_id, length, metadata)
        self.uploads[upload.id] = upload
        return httpx.Response(
            201,
            headers={"Location": self.location_prefix + upload.id, "Tus-Resumable": "1.0.0"},
        )

    def _head(self, upload: Upload) -> httpx.Response:
        headers = {
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Cache-Control": "no-store",
        }
        if upload.evidence_id is not None:
            headers["Evidence-Id"] = upload.evidence_id
        return httpx.Response(200, headers=headers)

    def _patch(self, request: httpx.Request, upload: Upload) -> httpx.Response:
        assert request.headers["Content-Type"] == "application/offset+octet-stream"
        self.patch_count += 1
        self.patch_read_timeouts.append(request.extensions.get("timeout", {}).get("read"))
        body, self.body = self.body, b""
        self.patch_bytes += len(body)
        fault = self.faults.pop(self.patch_count, None)
        if fault is not None:
            outcome = fault(self, upload, body)
            if isinstance(outcome, httpx.Response):
                return outcome
            if outcome is not None:
                body = outcome
        if int(request.headers["Upload-Offset"]) != upload.offset:
            return problem(409, "upload_offset_mismatch")
        algorithm, _, digest = request.headers["Upload-Checksum"].partition(" ")
        assert algorithm == "sha256"
        if base64.b64decode(digest) != hashlib.sha256(body).digest():
            return problem(460, "checksum_mismatch")
        if upload.offset + len(body) > upload.length:
            return problem(413, "payload_too_large")
        return self._append(upload, body)

    def _append(self, upload: Upload, body: bytes) -> httpx.Response:
        upload.hasher.update(body)
        upload.offset += len(body)
        headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": str(upload.offset)}
        if upload.offset == upload.length:
            failure = self._finish(upload)
            if failure is not None:
                return failure
            headers["Evidence-Id"] = str(upload.evidence_id)
        return httpx.Response(204, headers=headers)

    def _finish(self, upload: Upload) -> httpx.Response | None:
        sha = upload.hasher.hexdigest()
        if sha != upload.metadata["sha256"]:
            upload.failure = problem(422, "integrity_mismatch", received_sha256=sha)
            return upload.failure
        existing = [e for e in self.evidence.get(upload.report_id, []) if e["sha256"] == sha]
        if existing:
            upload.failure = problem(
                409, "duplicate_evidence", existing_evidence_id=existing[0]["id"]
            )
            return upload.failure
        upload.evidence_id = self.new_id("evd")
        self.evidence.setdefault(upload.report_id, []).append(
            {
                "id": upload.evidence_id,
                "report_id": upload.report_id,
                "filename": upload.metadata["filename"],
                "content_type": upload.metadata["content_type"],
                "size": upload.length,
                "sha256": self.server_sha or sha,
                "relevance": upload.metadata["relevance"],
                "captured_at": upload.metadata.get("captured_at"),
                "received_at": "2026-11-23T10:15:00Z",
            }
        )
        return None

    def _list_evidence(self, request: httpx.Request, report_id: str) -> httpx.Response:
        items = self.evidence.get(report_id, [])
        start = int(request.url.params.get("cursor", "0"))
        end = start + self.page_size
        next_cursor = str(end) if end < len(items) else None
        return httpx.Response(200, json={"data": items[start:end], "next_cursor": next_cursor})


# --- faults ---------------------------------------------------------------------------------------


def cut(keep: int = 0, error: type[Exception] = httpx.ReadError) -> Fault:
    """The connection drops after ``keep`` bytes of the chunk were stored (no response)."""

    def fault(server: TusServer, upload: Upload, body: bytes) -> None:
        if keep:
            server._append(upload, body[:keep])
        raise error("connection reset by peer")

    return fault


def lose_response() -> Fault:
    """The chunk is stored, then the connection drops before the answer."""

    def fault(server: TusServer, upload: Upload, body: bytes) -> None:
        server._append(upload, body)
        raise httpx.RemoteProtocolError("server disconnected without sending a response")

    return fault


def completion_fails() -> Fault:
    """The chunk is stored, but turning the full upload into evidence fails (a full disk):
    ``500``, and the upload holds every byte with no evidence until a request completes it."""

    def fault(server: TusServer, upload: Upload, body: bytes) -> httpx.Response:
        upload.hasher.update(body)
        upload.offset += len(body)
        return problem(500, "internal_error")

    return fault


def corrupt() -> Fault:
    """One bit of the chunk flips on the way: the checksum no longer matches (460)."""

    def fault(server: TusServer, upload: Upload, body: bytes) -> bytes:
        return bytes([body[0] ^ 1]) + body[1:]

    return fault


def status(code: int, problem_code: str) -> Fault:
    """The server answers with an error and stores nothing."""

    def fault(server: TusServer, upload: Upload, body: bytes) -> httpx.Response:
        return problem(code, problem_code)

    return fault


def committed_elsewhere() -> Fault:
    """An earlier, duplicate request already stored this chunk: ``409`` offset mismatch."""

    def fault(server: TusServer, upload: Upload, body: bytes) -> httpx.Response:
        server._append(upload, body)
        return problem(409, "upload_offset_mismatch")

    return fault


# --- transports -----------------------------------------------------------------------------------


class SyncTus(httpx.BaseTransport):
    def __init__(self, server: TusServer) -> None:
        self.server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # Read the stream without caching it on the request (as a network transport would).
        assert isinstance(request.stream, httpx.SyncByteStream)
        return self.server.handle(request, b"".join(request.stream))


class AsyncTus(httpx.AsyncBaseTransport):
    def __init__(self, server: TusServer) -> None:
        self.server = server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        return self.server.handle(request, b"".join([part async for part in request.stream]))
