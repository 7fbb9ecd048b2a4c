"""The evidence endpoints: tus creation, ``HEAD``/``PATCH``/``DELETE``/``OPTIONS`` on uploads, and
the list of a report's evidence.

A ``PATCH`` body is streamed to disk as it arrives (`request.stream()`, written in blocks of
`FLUSH_BYTES` by a `BlockWriter`), never read whole into memory, so the server's memory does not
grow with the file.
A chunk is written at the committed offset and acknowledged only after it was fsynced and its new
offset committed. A chunk with ``Upload-Checksum`` is all or nothing: on a mismatch (``460``), a
chunk that overruns ``Upload-Length`` (``413``) or a dropped connection it is discarded. A chunk
without a checksum whose connection drops keeps the bytes that arrived (tus core: the client
resumes from the offset ``HEAD`` reports); if that was the last byte, the upload is completed all
the same. A chunk the server stops receiving is treated the same
way, then answered with the connection closed: ``408`` when no byte arrived for the platform's idle
timeout, ``409`` when a newer request on the upload took over (`UploadLocks.exclusive`), so a
dead client's half-open connection does not hold the upload. Only a request that may touch the
upload takes it over: it is looked up (``404``/``410``), and a ``PATCH`` checked against the
committed state (its offset, size and the report's status: ``409``/``413``), before its lock is
taken, so another agency's request, or a refused one, changes nothing.

Checks, in order: ``Tus-Resumable`` (``412``), token (``401``), headers (``400``/``413``/``415``),
upload or report (``404``), expiry (``410``), status and offset (``409``), limits.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Literal

import anyio.to_thread
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from crs_mock._block_writer import BlockWriter
from crs_mock._evidence import list_evidence
from crs_mock._headers import single_header
from crs_mock._idempotency import fingerprint, read_key
from crs_mock._platform import render_problem, to_response
from crs_mock._problems import ProblemError, Reply, json_reply
from crs_mock._tus import (
    OFFSET_CONTENT_TYPE,
    ChunkChecksum,
    discovery_headers,
    http_date,
    parse_checksum,
    parse_upload_offset,
    require_tus_version,
)
from crs_mock._validation import decode_cursor, encode_cursor, is_ascii_digits, parse_limit

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from starlette.requests import Request

    from crs_mock._blobs import PartialFile
    from crs_mock._evidence_uploads import EvidenceUploads
    from crs_mock._platform import MockPlatform
    from crs_mock._store import Transaction

logger = logging.getLogger("crs_mock")

__all__ = [
    "append_upload",
    "create_upload",
    "get_upload_offset",
    "list_report_evidence",
    "terminate_upload",
    "tus_options",
]


def _platform(request: Request) -> MockPlatform:
    platform: MockPlatform = request.app.state.mock
    return platform


def _uploads(request: Request) -> EvidenceUploads:
    return _platform(request).uploads


async def tus_options(request: Request) -> Response:
    """tus discovery; no token needed."""
    return Response(status_code=204, headers=discovery_headers(_uploads(request).max_size))


# -- creation -----------------------------------------------------------------------------------


async def create_upload(request: Request) -> Response:
    """tus creation, idempotent like every ``POST``: the key covers the tus headers."""
    platform = _platform(request)
    uploads = platform.uploads
    require_tus_version(request)
    agency_id = platform.agencies.authenticate(request)
    if request.headers.get("content-length", "0") != "0":
        raise ProblemError.bad_request(
            "Creation requests carry no body (creation-with-upload is not offered); send the "
            "bytes with PATCH.",
            header="Content-Length",
        )
    key = read_key(request)  # before the sweep: a refused request changes nothing
    declared = "\n".join(
        single_header(request, name) or "" for name in ("Upload-Length", "Upload-Metadata")
    )
    await anyio.to_thread.run_sync(uploads.sweep)
    report_id = request.path_params["report_id"]
    request_fingerprint = fingerprint("POST", request.url.path, declared.encode())

    def operation(tx: Transaction) -> Reply:
        return uploads.create(tx, agency_id, report_id, request)

    run = functools.partial(
        platform.idempotency.execute,
        agency_id,
        key,
        request_fingerprint,
        operation,
        functools.partial(render_problem, request),
    )
    if key is None:
        reply = await anyio.to_thread.run_sync(run)
    else:
        with platform.idempotency.claim(agency_id, key, request_fingerprint):
            reply = await anyio.to_thread.run_sync(run)
        if "idempotent-replayed" in reply.headers and "location" in reply.headers:
            expires = await anyio.to_thread.run_sync(
                uploads.expiry_header, reply.headers["location"]
            )
            reply = Reply(reply.status, reply.body, {**reply.headers, **expires})
    return to_response(reply)


# -- HEAD and DELETE ----------------------------------------------------------------------------


async def get_upload_offset(request: Request) -> Response:
    """The upload's offset; answers carry no body (errors: status and headers only).

    An upload that holds every byte but is no evidence yet (its completion failed, e.g. the disk
    was full) is completed first, under its lock: the answer names the evidence, or is the
    ``410`` of the failed upload.
    """
    platform = _platform(request)
    uploads = platform.uploads
    upload_id = request.path_params["upload_id"]
    try:
        require_tus_version(request)
        agency_id = platform.agencies.authenticate(request)
        headers = await anyio.to_thread.run_sync(uploads.describe, agency_id, upload_id)
        if "Evidence-Id" not in headers and headers["Upload-Offset"] == headers["Upload-Length"]:
            await _complete_full(uploads, agency_id, upload_id)
            headers = await anyio.to_thread.run_sync(uploads.describe, agency_id, upload_id)
    except ProblemError as problem:
        reply = render_problem(request, problem)
        headers = {k: v for k, v in reply.headers.items() if k != "content-type"}
        return Response(status_code=reply.status, headers={**headers, "Cache-Control": "no-store"})
    return Response(status_code=200, headers={**headers, "Cache-Control": "no-store"})


async def _complete_full(uploads: EvidenceUploads, agency_id: str, upload_id: str) -> None:
    """Complete a full upload for its ``HEAD``, if that can be done now: a ``HEAD`` answers the
    upload's state in any case, also when another request holds the upload past the lock's wait
    (``409``) or the completion fails again (a disk still full: logged, retried by the next)."""
    try:
        async with uploads.locks.exclusive(upload_id):
            await anyio.to_thread.run_sync(uploads.complete_full, agency_id, upload_id)
    except ProblemError:
        pass
    except OSError:
        logger.exception("Upload %s: completing it for a HEAD failed", upload_id)


async def terminate_upload(request: Request) -> Response:
    platform = _platform(request)
    require_tus_version(request)
    agency_id = platform.agencies.authenticate(request)
    upload_id = request.path_params["upload_id"]
    await _require_owned(platform.uploads, agency_id, upload_id)
    async with platform.uploads.locks.exclusive(upload_id):
        await anyio.to_thread.run_sync(platform.uploads.terminate, agency_id, upload_id)
    return Response(status_code=204)


async def _require_owned(uploads: EvidenceUploads, agency_id: str, upload_id: str) -> None:
    """The usual `404` (or `410`) unless the upload is the agency's and live, checked *before*
    the request takes the upload's lock: taking it stops the request holding it, and another
    agency's request must change nothing."""
    await anyio.to_thread.run_sync(uploads.live, agency_id, upload_id)


# -- PATCH --------------------------------------------------------------------------------------


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and is_ascii_digits(value) else None


async def append_upload(request: Request) -> Response:
    platform = _platform(request)
    uploads = platform.uploads
    require_tus_version(request)
    agency_id = platform.agencies.authenticate(request)
    media = (single_header(request, "Content-Type") or "").split(";")[0].strip().lower()
    if media != OFFSET_CONTENT_TYPE:
        raise ProblemError(
            "unsupported_media_type",
            f"PATCH bodies must be {OFFSET_CONTENT_TYPE}, not {media or 'untyped'}.",
            header="Content-Type",
        )
    offset = parse_upload_offset(request)
    checksum = parse_checksum(request)
    upload_id = request.path_params["upload_id"]
    content_length = _content_length(request)
    # Before the lock (which stops the request holding it): a refused PATCH changes nothing.
    await anyio.to_thread.run_sync(
        uploads.check_append, agency_id, upload_id, offset, content_length
    )
    async with uploads.locks.exclusive(upload_id) as receiving:
        upload, part = await anyio.to_thread.run_sync(
            uploads.begin_append, agency_id, upload_id, offset, content_length
        )
        try:
            with receiving:
                ended = await _receive(request, part, upload.length - offset, checksum)
            if receiving.cancelled_caught:
                ended = await _cut_off(part, checksum, "taken over")
            upload = await anyio.to_thread.run_sync(uploads.commit_append, upload, part)
        finally:
            part.close()
        evidence_id = None
        if upload.received == upload.length:  # however the body ended: every byte is here
            evidence_id = await anyio.to_thread.run_sync(uploads.complete, upload)
        if ended == "disconnected":
            return Response(status_code=400)  # nobody is listening any more
        if ended != "complete":
            raise _stopped(ended, upload.received, uploads.idle_timeout)
        headers = {"Upload-Offset": str(upload.received)}
        if evidence_id is not None:
            headers["Evidence-Id"] = evidence_id
        else:
            headers["Upload-Expires"] = http_date(upload.expires_ms)
    return Response(status_code=204, headers=headers)


#: How receiving a ``PATCH`` body ended: all of it, or cut off (the chunk is then kept or
#: discarded as the checksum rule says).
Ending = Literal["complete", "disconnected", "idle", "taken over"]


def _stopped(ended: Ending, received: int, idle_timeout: float) -> ProblemError:
    """The answer to a chunk the server stopped receiving; the connection is closed after it."""
    resume = f"The upload holds {received} bytes; HEAD it and resume from its Upload-Offset."
    if ended == "idle":
        return ProblemError(
            "invalid_request",
            f"No byte of the chunk arrived for {idle_timeout:g} s; the server stopped waiting. "
            + resume,
            status=408,
            title="Request timeout",
            headers={"Connection": "close"},
        )
    return ProblemError(
        "upload_offset_mismatch",
        "Another request for this upload took over before this chunk ended. " + resume,
        headers={"Connection": "close"},
    )


async def _cut_off(part: PartialFile, checksum: ChunkChecksum | None, ended: Ending) -> Ending:
    """A chunk that did not arrive whole: kept, unless it has a checksum that cannot be checked."""
    if checksum is not None:
        await anyio.to_thread.run_sync(part.rewind)
    return ended


async def _receive(
    request: Request, part: PartialFile, room: int, checksum: ChunkChecksum | None
) -> Ending:
    """Stream the body into `part`; how that ended.

    A `413`/`460` is raised with the chunk discarded. A dropped connection, or a body with no byte
    for the platform's idle timeout, cuts the chunk off (`_cut_off`).
    """
    try:
        if await _stream_into(request, part, room, checksum):
            return "complete"
        return await _cut_off(part, checksum, "idle")
    except ClientDisconnect:
        return await _cut_off(part, checksum, "disconnected")
    except ProblemError:
        await anyio.to_thread.run_sync(part.rewind)
        raise


def _overrun() -> ProblemError:
    return ProblemError(
        "payload_too_large", "The chunk goes beyond Upload-Length; it was discarded."
    )


def _absorb(
    threads: Executor, part: PartialFile, checksum: ChunkChecksum | None, block: bytearray
) -> None:
    """Write one block (`part` adds it to the file's hash) while another thread adds it to the
    chunk's checksum: the two hashes take turns on no core (hashlib lets go of the GIL)."""
    if checksum is None:
        part.write(block)
        return
    checked = threads.submit(checksum.update, block)
    try:
        part.write(block)
    finally:
        checked.result()


async def _stream_into(
    request: Request, part: PartialFile, room: int, checksum: ChunkChecksum | None
) -> bool:
    """Write the body to `part` as it arrives (`BlockWriter`: the next block is received while the
    last one is written and hashed); False if no byte arrived for the idle timeout. What arrived
    is written even if the client goes away (`ClientDisconnect`) or the receiving is cancelled."""
    uploads = _uploads(request)
    absorb = functools.partial(_absorb, uploads.checksum_threads, part, checksum)
    writer = BlockWriter(absorb, uploads.writer_threads)
    pieces = request.stream()
    try:
        while True:
            with anyio.move_on_after(uploads.idle_timeout) as waiting:
                data = await anext(pieces, None)
            if waiting.cancelled_caught:
                return False
            if data is None:
                break
            if writer.taken + len(data) > room:
                raise _overrun()
            await writer.feed(data)
    finally:
        await writer.finish()
    if checksum is not None and not checksum.matches():
        raise checksum.mismatch()
    return True


# -- listing ------------------------------------------------------------------------------------


async def list_report_evidence(request: Request) -> Response:
    report_id = request.path_params["report_id"]

    def query(tx: Transaction, agency_id: str) -> Reply:
        limit = parse_limit(request.query_params.get("limit"))
        cursor = request.query_params.get("cursor")
        after = decode_cursor("evd", cursor) if cursor else 0
        data, last = list_evidence(tx, report_id, agency_id, after=after, limit=limit)
        next_cursor = None if last is None else encode_cursor("evd", last)
        return json_reply(200, {"data": data, "next_cursor": next_cursor})

    return await _platform(request).read(request, query)
