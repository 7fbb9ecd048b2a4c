"""Evidence over tus 1.0.0: creation, chunks, checksums, integrity, limits, expiry, evidence."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_mock import create_app
from mock.mock_support import AGENCIES, Agency, advance, assert_problem, assert_schema
from mock.upload_support import (
    CHUNK,
    OCTETS,
    TUS,
    TusAgency,
    assert_tus,
    checksum,
    encode_metadata,
    metadata_for,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from crs_mock import MockPlatform, ReviewClock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tus(demo: Agency) -> TusAgency:
    return TusAgency(demo)


@pytest.fixture
async def draft(demo: Agency) -> dict[str, Any]:
    return await demo.create()


# -- discovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/uploads",
        "/v1/uploads/upl_whatever",
        "/v1/reports/rpt_whatever/evidence",  # the URL a tus client is configured with
    ],
)
async def test_options_needs_no_token(client: httpx.AsyncClient, path: str) -> None:
    response = assert_tus(await client.options(path))
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    extensions = response.headers["tus-extension"].split(",")
    assert extensions == ["creation", "checksum", "termination", "expiration"]
    assert response.headers["tus-max-size"] == str(2 * 1024**3)
    assert response.headers["tus-checksum-algorithm"].split(",") == ["sha1", "sha256"]


async def test_wrong_tus_version_is_412(tus: TusAgency, draft: dict[str, Any]) -> None:
    location = await tus.start(draft["id"], b"x")
    for version in ("0.2.2", None):
        headers = {**tus.agency.headers, "Upload-Offset": "0", "Content-Type": OCTETS}
        if version is not None:
            headers["Tus-Resumable"] = version
        response = assert_tus(await tus.client.patch(location, content=b"x", headers=headers))
        body = assert_problem(response, 412, "invalid_request")
        assert body["header"] == "Tus-Resumable"
        assert response.headers["tus-version"] == "1.0.0"
        assert "1.0.0" in body["detail"]


async def test_problems_on_tus_paths_carry_tus_resumable(tus: TusAgency) -> None:
    assert_problem(assert_tus(await tus.client.get("/v1/uploads/upl_x")), 405, "method_not_allowed")
    unauthenticated = await tus.client.head("/v1/uploads/upl_x", headers=TUS)
    assert assert_tus(unauthenticated).status_code == 401
    missing = await tus.patch("/v1/uploads/upl_nope", 0, b"x")
    assert_problem(missing, 404, "not_found")


# -- the happy path -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, CHUNK, CHUNK + 1, 5 * CHUNK + 7])
async def test_upload_becomes_evidence(
    tus: TusAgency, draft: dict[str, Any], size: int, mock: MockPlatform
) -> None:
    data = os.urandom(size)
    created = await tus.create(draft["id"], data, captured_at="2025-12-31T22:00:00Z")
    assert created.status_code == 201
    assert created.content == b""
    location = created.headers["location"]
    assert location.startswith("/v1/uploads/upl_")
    assert created.headers["upload-expires"] == "Fri, 02 Jan 2026 00:00:00 GMT"

    head = await tus.head(location)
    assert head.status_code == 200
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("0", str(size))
    assert "evidence-id" not in head.headers

    last = await tus.send(location, data)
    evidence_id = last.headers["evidence-id"]
    assert evidence_id.startswith("evd_")
    assert "upload-expires" not in last.headers

    head = await tus.head(location)
    assert head.headers["upload-offset"] == str(size)
    assert head.headers["evidence-id"] == evidence_id
    evidence = await tus.evidence(draft["id"])
    assert evidence == [
        {
            "id": evidence_id,
            "report_id": draft["id"],
            "filename": "capture.png",
            "content_type": "image/png",
            "size": size,
            "sha256": hashlib.sha256(data).hexdigest(),
            "relevance": "primary",
            "captured_at": "2025-12-31T22:00:00Z",
            "received_at": "2026-01-01T00:00:00.000Z",
        }
    ]
    assert_schema("EvidencePage", {"data": evidence, "next_cursor": None})
    assert (await tus.agency.report(draft["id"]))["evidence_count"] == 1
    stored = mock.uploads.blobs.blob_path(hashlib.sha256(data).hexdigest())
    assert stored.read_bytes() == data
    assert not list((mock.uploads.blobs.root / "uploads").iterdir())


async def test_evidence_received_event(tus: TusAgency, draft: dict[str, Any]) -> None:
    evidence_id = await tus.upload(draft["id"], os.urandom(100), relevance="supporting")
    events = await tus.agency.events()
    assert [event["type"] for event in events] == ["report.created", "evidence.received"]
    assert_schema("Event", events[1])
    data = events[1]["data"]
    assert data["report_id"] == draft["id"]
    assert data["evidence"] == (await tus.evidence(draft["id"]))[0]
    assert data["evidence"]["id"] == evidence_id


async def test_evidence_list_pages(tus: TusAgency, draft: dict[str, Any]) -> None:
    ids = [await tus.upload(draft["id"], os.urandom(10)) for _ in range(3)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = await tus.agency.get(f"/v1/reports/{draft['id']}/evidence", params=params)
        page = response.json()
        assert_schema("EvidencePage", page)
        seen.extend(evidence["id"] for evidence in page["data"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ids
    bad = await tus.agency.get(f"/v1/reports/{draft['id']}/evidence", params={"cursor": "zz"})
    assert_problem(bad, 400, "invalid_request")


async def test_same_bytes_on_two_reports_are_stored_once(
    tus: TusAgency, demo: Agency, mock: MockPlatform
) -> None:
    data = os.urandom(1000)
    for n in range(2):
        report = await demo.create(client_reference=f"CP-{n}")
        await tus.upload(report["id"], data)
    files = [p for p in (mock.uploads.blobs.root / "sha256").rglob("*") if p.is_file()]
    assert len(files) == 1


# -- chunks: offsets and checksums --------------------------------------------------------------


async def test_closing_the_platform_stops_its_writer_and_checksum_threads(
    tus: TusAgency, draft: dict[str, Any], mock: MockPlatform
) -> None:
    data = os.urandom(CHUNK)
    location = await tus.start(draft["id"], data)
    header = {"Upload-Checksum": checksum("sha256", data)}
    assert (await tus.patch(location, 0, data, **header)).status_code == 204

    def threads(prefix: str) -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith(prefix)]

    assert threads("crs-mock-writer")  # the blocks were written beside the event loop
    assert threads("crs-mock-checksum")  # the chunk's checksum was computed beside the writes
    mock.close()
    assert threads("crs-mock-writer") == []
    assert threads("crs-mock-checksum") == []


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_chunk_checksum(tus: TusAgency, draft: dict[str, Any], algorithm: str) -> None:
    data = os.urandom(2 * CHUNK)
    location = await tus.start(draft["id"], data)
    first, second = data[:CHUNK], data[CHUNK:]
    ok = await tus.patch(location, 0, first, **{"Upload-Checksum": checksum(algorithm, first)})
    assert ok.status_code == 204
    corrupted = bytes([second[0] ^ 1]) + second[1:]
    header = {"Upload-Checksum": checksum(algorithm, second)}
    bad = await tus.patch(location, CHUNK, corrupted, **header)
    body = assert_problem(bad, 460, "checksum_mismatch")
    assert algorithm in body["detail"]
    assert (await tus.head(location)).headers["upload-offset"] == str(CHUNK)
    good = await tus.patch(location, CHUNK, second, **header)
    assert good.status_code == 204
    assert [e["sha256"] for e in await tus.evidence(draft["id"])] == [
        hashlib.sha256(data).hexdigest()
    ]


async def test_whole_file_hash_is_kept_across_chunks_and_a_refused_one(
    tus: TusAgency, draft: dict[str, Any], mock: MockPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's SHA-256 of the file grows with each committed chunk; a chunk refused with
    460 or 413 leaves it untouched, and completion does not read the file again."""
    reads: list[int] = []
    read_file = mock.uploads.blobs._hash_file
    monkeypatch.setattr(
        mock.uploads.blobs,
        "_hash_file",
        lambda upload_id, length: reads.append(length) or read_file(upload_id, length),
    )
    data = os.urandom(3 * CHUNK)
    location = await tus.start(draft["id"], data)
    first, second, third = data[:CHUNK], data[CHUNK : 2 * CHUNK], data[2 * CHUNK :]
    assert (
        await tus.patch(location, 0, first, **{"Upload-Checksum": checksum("sha256", first)})
    ).status_code == 204
    corrupted = bytes([second[0] ^ 1]) + second[1:]
    bad = await tus.patch(
        location, CHUNK, corrupted, **{"Upload-Checksum": checksum("sha256", second)}
    )
    assert_problem(bad, 460, "checksum_mismatch")
    too_long = await tus.patch(location, CHUNK, second + third + b"!")
    assert_problem(too_long, 413, "payload_too_large")
    assert (await tus.patch(location, CHUNK, second)).status_code == 204  # no checksum: kept
    last = await tus.patch(
        location, 2 * CHUNK, third, **{"Upload-Checksum": checksum("sha1", third)}
    )
    assert last.status_code == 204
    assert [e["sha256"] for e in await tus.evidence(draft["id"])] == [
        hashlib.sha256(data).hexdigest()
    ]
    assert reads == [0]  # the empty start only: never the file's bytes


@pytest.mark.parametrize(
    "value", ["md5 AAAA", "sha256", "sha256 not-base64!", "sha1 " + "A" * 8, "SHA256 xyz="]
)
async def test_malformed_checksum_is_400(tus: TusAgency, draft: dict[str, Any], value: str) -> None:
    location = await tus.start(draft["id"], b"abc")
    response = await tus.patch(location, 0, b"abc", **{"Upload-Checksum": value})
    assert assert_problem(response, 400, "invalid_request")["header"] == "Upload-Checksum"
    assert (await tus.head(location)).headers["upload-offset"] == "0"


async def test_wrong_offset_is_409(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = os.urandom(300)
    location = await tus.start(draft["id"], data)
    assert (await tus.patch(location, 0, data[:100])).status_code == 204
    for offset in (0, 50, 200):
        response = await tus.patch(location, offset, data[offset : offset + 10])
        body = assert_problem(response, 409, "upload_offset_mismatch")
        assert "100" in body["detail"]
        assert body["header"] == "Upload-Offset"
    for headers in ({}, {"Upload-Offset": "-1"}, {"Upload-Offset": "1e3"}):
        refused = await tus.client.patch(
            location, content=b"x", headers=tus.headers(**{"Content-Type": OCTETS, **headers})
        )
        body = assert_problem(assert_tus(refused), 400, "invalid_request")
        assert body["header"] == "Upload-Offset"
    assert (await tus.head(location)).headers["upload-offset"] == "100"


async def test_patch_needs_offset_octet_stream(tus: TusAgency, draft: dict[str, Any]) -> None:
    location = await tus.start(draft["id"], b"abc")
    response = await tus.client.patch(
        location,
        content=b"abc",
        headers=tus.headers(**{"Upload-Offset": "0", "Content-Type": "application/octet-stream"}),
    )
    body = assert_problem(assert_tus(response), 415, "unsupported_media_type")
    assert body["header"] == "Content-Type"


async def test_chunk_beyond_upload_length_is_413(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = os.urandom(10)
    location = await tus.start(draft["id"], data)
    response = await tus.patch(location, 0, data + b"more")
    assert_problem(response, 413, "payload_too_large")
    assert (await tus.head(location)).headers["upload-offset"] == "0"


async def test_finished_upload_takes_no_more_chunks(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = os.urandom(10)
    location = await tus.start(draft["id"], data)
    await tus.send(location, data)
    again = await tus.patch(location, 0, data)
    assert_problem(again, 409, "upload_offset_mismatch")
    deleted = await tus.client.delete(location, headers=tus.headers())
    body = assert_problem(assert_tus(deleted), 409, "invalid_transition")
    assert body["current_status"] == "draft"


# -- integrity and duplicates -------------------------------------------------------------------


async def test_wrong_declared_sha256_attaches_nothing(
    tus: TusAgency, draft: dict[str, Any], mock: MockPlatform
) -> None:
    data = os.urandom(CHUNK + 5)
    declared = hashlib.sha256(b"something else").hexdigest()
    location = await tus.start(draft["id"], data, sha256=declared)
    await tus.patch(location, 0, data[:CHUNK])
    last = await tus.patch(location, CHUNK, data[CHUNK:])
    body = assert_problem(last, 422, "integrity_mismatch")
    assert body["received_sha256"] == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(data).hexdigest() in body["detail"]
    assert (await tus.agency.report(draft["id"]))["evidence_count"] == 0
    assert [e["type"] for e in await tus.agency.events()] == ["report.created"]
    head = await tus.head(location)
    assert head.status_code == 410
    assert head.headers["upload-error"] == "integrity_mismatch"
    # A client whose connection dropped on the last chunk learns the outcome when it resends.
    assert_problem(await tus.patch(location, CHUNK, data[CHUNK:]), 422, "integrity_mismatch")
    assert not list((mock.uploads.blobs.root / "uploads").iterdir())
    assert not list((mock.uploads.blobs.root / "sha256").rglob("*.*"))


async def test_duplicate_at_creation(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = os.urandom(64)
    evidence_id = await tus.upload(draft["id"], data)
    response = await tus.create(draft["id"], data, filename="again.png")
    body = assert_problem(response, 409, "duplicate_evidence")
    assert body["existing_evidence_id"] == evidence_id


async def test_duplicate_at_completion(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = os.urandom(64)
    first = await tus.start(draft["id"], data)
    second = await tus.start(draft["id"], data)
    evidence_id = (await tus.send(first, data)).headers["evidence-id"]
    response = await tus.patch(second, 0, data)
    body = assert_problem(response, 409, "duplicate_evidence")
    assert body["existing_evidence_id"] == evidence_id
    assert [e["id"] for e in await tus.evidence(draft["id"])] == [evidence_id]
    assert (await tus.head(second)).headers["upload-error"] == "duplicate_evidence"


# -- creation headers and limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Upload-Metadata": metadata_for(b"x")}, "Upload-Length"),
        ({"Upload-Length": "0", "Upload-Metadata": metadata_for(b"")}, "Upload-Length"),
        ({"Upload-Length": "-1", "Upload-Metadata": metadata_for(b"x")}, "Upload-Length"),
        ({"Upload-Length": "1"}, "Upload-Metadata"),
        ({"Upload-Length": "1", "Upload-Metadata": "filename !!!"}, "Upload-Metadata"),
        ({"Upload-Length": "1", "Upload-Metadata": "filename,filename"}, "Upload-Metadata"),
        (
            {"Upload-Length": "1", "Upload-Metadata": "filename eA==,filename eA=="},
            "Upload-Metadata",
        ),
        ({"Upload-Length": "1", "Upload-Metadata": "a b c"}, "Upload-Metadata"),
        ({"Upload-Length": "1", "Upload-Metadata": "filename /w=="}, "Upload-Metadata"),
        (
            {"Upload-Defer-Length": "1", "Upload-Metadata": metadata_for(b"x")},
            "Upload-Defer-Length",
        ),
    ],
)
async def test_malformed_creation_headers_are_400(
    tus: TusAgency, draft: dict[str, Any], headers: dict[str, str], named: str
) -> None:
    response = await tus.client.post(
        f"/v1/reports/{draft['id']}/evidence", headers=tus.headers(**headers)
    )
    assert assert_problem(assert_tus(response), 400, "invalid_request")["header"] == named


@pytest.mark.parametrize(
    ("overrides", "pointers"),
    [
        ({"filename": None, "relevance": None}, ["/metadata/filename", "/metadata/relevance"]),
        ({"filename": "../etc/passwd"}, ["/metadata/filename"]),
        ({"content_type": "png"}, ["/metadata/content_type"]),
        ({"content_type": "video/mp4\n"}, ["/metadata/content_type"]),
        ({"content_type": "video/mp4; x=\x01"}, ["/metadata/content_type"]),
        ({"content_type": "video/mp4; not a parameter"}, ["/metadata/content_type"]),
        ({"filename": "clip\u0085.mp4"}, ["/metadata/filename"]),
        ({"filename": "C:\\clip.mp4"}, ["/metadata/filename"]),
        ({"filename": "x" * 256}, ["/metadata/filename"]),
        ({"filename": "  "}, ["/metadata/filename"]),
        # A long failing media type is refused at once (no exponential backtracking).
        ({"content_type": "video/mp4" + "; " * 500 + "\x01"}, ["/metadata/content_type"]),
        ({"sha256": "abc"}, ["/metadata/sha256"]),
        ({"relevance": "central"}, ["/metadata/relevance"]),
        ({"captured_at": "yesterday"}, ["/metadata/captured_at"]),
    ],
)
async def test_invalid_metadata_values_are_422(
    tus: TusAgency, draft: dict[str, Any], overrides: dict[str, str | None], pointers: list[str]
) -> None:
    body = assert_problem(await tus.create(draft["id"], b"x", **overrides), 422, "validation_error")
    assert [error["pointer"] for error in body["errors"]] == pointers


@pytest.mark.parametrize(
    "content_type",
    [
        "image/png",
        "video/mp4",
        "audio/ogg",
        "application/pdf",
        "text/plain; charset=utf-8",
        'video/mp4; codecs="avc1.42E01E, mp4a.40.2"',
        "application/zip",
        "application/x-7z-compressed",
        "application/gzip",
        "application/x-tar",
    ],
)
async def test_allowed_content_types(
    tus: TusAgency, draft: dict[str, Any], content_type: str
) -> None:
    assert (await tus.create(draft["id"], b"x", content_type=content_type)).status_code == 201


@pytest.mark.parametrize("content_type", ["application/x-msdownload", "text/html"])
async def test_other_content_types_are_415(
    tus: TusAgency, draft: dict[str, Any], content_type: str
) -> None:
    response = await tus.create(draft["id"], b"x", content_type=content_type)
    body = assert_problem(response, 415, "unsupported_media_type")
    assert content_type in body["detail"]


async def test_unknown_metadata_keys_are_ignored(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = b"hello"
    values = {
        "filename": "a.txt",
        "content_type": "text/plain",
        "sha256": hashlib.sha256(data).hexdigest(),
        "relevance": "supporting",
        "filetype": "text/plain",
        "empty": "",
    }
    response = await tus.client.post(
        f"/v1/reports/{draft['id']}/evidence",
        headers=tus.headers(**{"Upload-Length": "5", "Upload-Metadata": encode_metadata(values)}),
    )
    assert response.status_code == 201, response.text
    head = await tus.head(response.headers["location"])
    assert head.headers["upload-metadata"] == encode_metadata(values)


@pytest.fixture
async def small(clock: ReviewClock) -> AsyncIterator[TusAgency]:
    """An agency on a server whose largest upload is 1 KiB."""
    app = create_app(clock=clock, agencies=AGENCIES, max_upload_size=1024)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
        agency = Agency(http, "demo-agency")
        await agency.login()
        yield TusAgency(agency)
    app.state.mock.close()


async def test_upload_length_above_max_size_is_413(small: TusAgency) -> None:
    report = await small.agency.create()
    options = await small.client.options("/v1/uploads")
    assert options.headers["tus-max-size"] == "1024"
    assert (await small.create(report["id"], os.urandom(1024))).status_code == 201
    response = await small.create(report["id"], os.urandom(1025))
    body = assert_problem(response, 413, "payload_too_large")
    assert body["header"] == "Upload-Length"
    assert "1025" in body["detail"]
    assert "1024" in body["detail"]


async def test_fifty_files_per_report(tus: TusAgency, draft: dict[str, Any]) -> None:
    for n in range(49):
        await tus.start(draft["id"], n.to_bytes(2, "big"))
    evidence_id = await tus.upload(draft["id"], b"the fiftieth")
    response = await tus.create(draft["id"], b"one too many")
    assert_problem(response, 409, "evidence_limit_reached")
    assert [e["id"] for e in await tus.evidence(draft["id"])] == [evidence_id]


async def test_expired_uploads_free_their_slot(
    tus: TusAgency, demo: Agency, client: httpx.AsyncClient
) -> None:
    report = await demo.submitted()  # info_requested does not expire, unlike an untouched draft
    await client.post(f"/_mock/reports/{report['id']}/request-info", json={"question": "More?"})
    for n in range(50):
        await tus.start(report["id"], n.to_bytes(2, "big"))
    assert_problem(await tus.create(report["id"], b"full"), 409, "evidence_limit_reached")
    await advance(client, 24 * 3600)
    await tus.agency.login()
    assert (await tus.create(report["id"], b"room again")).status_code == 201


async def test_creation_with_a_body_is_refused(tus: TusAgency, draft: dict[str, Any]) -> None:
    response = await tus.client.post(
        f"/v1/reports/{draft['id']}/evidence",
        content=b"x",
        headers=tus.headers(**{"Upload-Length": "1", "Upload-Metadata": metadata_for(b"x")}),
    )
    body = assert_problem(assert_tus(response), 400, "invalid_request")
    assert body["header"] == "Content-Length"


# -- report status and agencies -----------------------------------------------------------------


async def test_no_uploads_to_a_submitted_report(tus: TusAgency, demo: Agency) -> None:
    report = await demo.submitted()
    body = assert_problem(await tus.create(report["id"], b"x"), 409, "invalid_transition")
    assert body["current_status"] == "submitted"


async def test_report_submitted_during_the_upload(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = os.urandom(20)
    location = await tus.start(draft["id"], data)
    assert (await tus.patch(location, 0, data[:10])).status_code == 204
    assert (await tus.agency.post(f"/v1/reports/{draft['id']}/submit")).status_code == 200
    body = assert_problem(await tus.patch(location, 10, data[10:]), 409, "invalid_transition")
    assert body["current_status"] == "submitted"


async def test_another_agencys_upload_is_404(
    tus: TusAgency, other: Agency, draft: dict[str, Any]
) -> None:
    location = await tus.start(draft["id"], b"abc")
    stranger = TusAgency(other)
    assert_problem(await stranger.create(draft["id"], b"abc"), 404, "not_found")
    assert_problem(await stranger.patch(location, 0, b"abc"), 404, "not_found")
    assert (await stranger.head(location)).status_code == 404
    deleted = await stranger.client.delete(location, headers=stranger.headers())
    assert_problem(deleted, 404, "not_found")
    listed = await other.get(f"/v1/reports/{draft['id']}/evidence")
    assert_problem(listed, 404, "not_found")
    assert (await tus.head(location)).headers["upload-offset"] == "0"


async def test_token_required(client: httpx.AsyncClient, draft: dict[str, Any]) -> None:
    response = await client.post(
        f"/v1/reports/{draft['id']}/evidence",
        headers={**TUS, "Upload-Length": "1", "Upload-Metadata": metadata_for(b"x")},
    )
    assert_problem(assert_tus(response), 401, "unauthorized")


# -- termination, expiry, idempotency, reset ----------------------------------------------------


async def test_terminate(tus: TusAgency, draft: dict[str, Any], mock: MockPlatform) -> None:
    data = os.urandom(100)
    location = await tus.start(draft["id"], data)
    await tus.patch(location, 0, data[:50])
    deleted = assert_tus(await tus.client.delete(location, headers=tus.headers()))
    assert deleted.status_code == 204
    assert (await tus.head(location)).status_code == 404
    assert_problem(await tus.patch(location, 50, data[50:]), 404, "not_found")
    assert not list((mock.uploads.blobs.root / "uploads").iterdir())


async def test_unfinished_upload_expires(
    tus: TusAgency, draft: dict[str, Any], client: httpx.AsyncClient, mock: MockPlatform
) -> None:
    data = os.urandom(100)
    location = await tus.start(draft["id"], data)
    await advance(client, 12 * 3600)
    await tus.agency.login()
    chunk = await tus.patch(location, 0, data[:50])
    assert chunk.headers["upload-expires"] == "Fri, 02 Jan 2026 12:00:00 GMT"  # moved on
    await advance(client, 24 * 3600 - 1)
    await tus.agency.login()
    assert (await tus.head(location)).status_code == 200
    await advance(client, 1)
    assert (await tus.head(location)).status_code == 410
    assert_problem(await tus.patch(location, 50, data[50:]), 410, "upload_expired")
    deleted = await tus.client.delete(location, headers=tus.headers())
    assert_problem(assert_tus(deleted), 410, "upload_expired")
    assert not list((mock.uploads.blobs.root / "uploads").iterdir())


async def test_creation_is_idempotent(tus: TusAgency, draft: dict[str, Any]) -> None:
    data = os.urandom(10)
    headers = tus.headers(
        **{
            "Upload-Length": "10",
            "Upload-Metadata": metadata_for(data),
            "Idempotency-Key": "upload-1",
        }
    )
    path = f"/v1/reports/{draft['id']}/evidence"
    first = assert_tus(await tus.client.post(path, headers=headers))
    replay = assert_tus(await tus.client.post(path, headers=headers))
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["upload-expires"] == first.headers["upload-expires"]
    other = {**headers, "Upload-Metadata": metadata_for(data, filename="b.png")}
    reused = assert_tus(await tus.client.post(path, headers=other))
    assert_problem(reused, 422, "idempotency_key_reused")


async def test_reset_forgets_evidence_and_files(
    tus: TusAgency, draft: dict[str, Any], client: httpx.AsyncClient, mock: MockPlatform
) -> None:
    await tus.upload(draft["id"], os.urandom(100))
    await tus.start(draft["id"], os.urandom(100))
    partial = await tus.start(draft["id"], b"half")
    await tus.patch(partial, 0, b"ha")
    assert (await client.post("/_mock/reset")).status_code == 204
    root = mock.uploads.blobs.root
    assert [p for p in root.rglob("*") if p.is_file()] == []
    with mock.store.transaction() as tx:
        rows = tx.all("SELECT id FROM uploads UNION ALL SELECT id FROM evidence")
    assert rows == []


# -- responding with evidence -------------------------------------------------------------------


async def test_respond_with_evidence(
    tus: TusAgency, demo: Agency, client: httpx.AsyncClient
) -> None:
    report = await demo.create()
    early = await tus.upload(report["id"], b"uploaded in draft")
    await demo.post(f"/v1/reports/{report['id']}/submit")
    asked = await client.post(
        f"/_mock/reports/{report['id']}/request-info", json={"question": "When?"}
    )
    assert asked.status_code == 200
    answer = await tus.upload(report["id"], b"uploaded for the question")
    assert (await demo.report(report["id"]))["evidence_count"] == 2
    other_report = await demo.create(client_reference="CP-other")
    elsewhere = await tus.upload(other_report["id"], b"another report")
    path = f"/v1/reports/{report['id']}/responses"
    refused = await demo.post(
        path, {"message": "See files.", "evidence_ids": [answer, early, elsewhere, "evd_nope"]}
    )
    body = assert_problem(refused, 422, "validation_error")
    pointers = [error["pointer"] for error in body["errors"]]
    assert pointers == ["/evidence_ids/1", "/evidence_ids/2", "/evidence_ids/3"]
    accepted = await demo.post(path, {"message": "See file.", "evidence_ids": [answer]})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "in_review"
    late = await tus.create(report["id"], b"too late")
    assert assert_problem(late, 409, "invalid_transition")["current_status"] == "in_review"


# -- durability within one process --------------------------------------------------------------


async def test_offset_survives_a_restart_and_extra_bytes_are_dropped(
    tmp_path: Path, clock: ReviewClock
) -> None:
    db = tmp_path / "mock.sqlite3"
    data = os.urandom(3 * CHUNK)
    app = create_app(db=db, clock=clock, agencies=AGENCIES)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mock.test"
    ) as http:
        tus = TusAgency(Agency(http, "demo-agency"))
        await tus.agency.login()
        report = await tus.agency.create()
        location = await tus.start(report["id"], data)
        await tus.patch(location, 0, data[:CHUNK])
        token = tus.agency.headers
    app.state.mock.close()
    partial = db.with_name("mock.sqlite3.blobs") / "uploads" / f"{location.rsplit('/', 1)[1]}.part"
    with partial.open("ab") as file:  # bytes written by a process that died before committing
        file.write(b"garbage that was never acknowledged")

    app = create_app(db=db, clock=clock, agencies=AGENCIES)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mock.test"
    ) as http:
        tus = TusAgency(Agency(http, "demo-agency", dict(token)))
        assert partial.stat().st_size == CHUNK
        assert (await tus.head(location)).headers["upload-offset"] == str(CHUNK)
        await tus.patch(location, CHUNK, data[CHUNK:])
        evidence = await tus.evidence(report["id"])
        assert evidence[0]["sha256"] == hashlib.sha256(data).hexdigest()
    app.state.mock.close()


async def test_whole_file_hash_after_a_restart_reads_the_committed_bytes_once(
    tmp_path: Path, clock: ReviewClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process has no hash state: it hashes the committed part of the file once, then
    keeps going with the chunks it receives, and the evidence gets the whole file's SHA-256."""
    db = tmp_path / "mock.sqlite3"
    data = os.urandom(4 * CHUNK)
    app = create_app(db=db, clock=clock, agencies=AGENCIES)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mock.test"
    ) as http:
        tus = TusAgency(Agency(http, "demo-agency"))
        await tus.agency.login()
        report = await tus.agency.create()
        location = await tus.start(report["id"], data)
        await tus.patch(location, 0, data[:CHUNK])
        token = tus.agency.headers
    app.state.mock.close()

    app = create_app(db=db, clock=clock, agencies=AGENCIES)
    blobs = app.state.mock.uploads.blobs
    reads: list[int] = []
    read_file = blobs._hash_file
    monkeypatch.setattr(
        blobs,
        "_hash_file",
        lambda upload_id, length: reads.append(length) or read_file(upload_id, length),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mock.test"
    ) as http:
        tus = TusAgency(Agency(http, "demo-agency", dict(token)))
        for offset in range(CHUNK, 4 * CHUNK, CHUNK):
            answer = await tus.patch(location, offset, data[offset : offset + CHUNK])
            assert answer.status_code == 204
        evidence = await tus.evidence(report["id"])
        assert evidence[0]["sha256"] == hashlib.sha256(data).hexdigest()
    app.state.mock.close()
    assert reads == [CHUNK]


def fill_the_disk(mock: MockPlatform, monkeypatch: pytest.MonkeyPatch, *, stores: int) -> None:
    """The next `stores` attempts to store a finished upload's file fail: the disk is full."""
    blobs = mock.uploads.blobs
    store = blobs.store
    failures = [OSError(28, "No space left on device") for _ in range(stores)]

    def store_unless_full(upload_id: str, sha256: str) -> None:
        if failures:
            raise failures.pop()
        store(upload_id, sha256)

    monkeypatch.setattr(blobs, "store", store_unless_full)


@pytest.mark.parametrize("retry", ["HEAD", "PATCH"])
async def test_a_full_upload_whose_completion_failed_is_completed_by_the_next_request(
    tus: TusAgency,
    draft: dict[str, Any],
    mock: MockPlatform,
    monkeypatch: pytest.MonkeyPatch,
    retry: str,
) -> None:
    """Storing the file failed once (a full disk) after the last chunk was committed: the answer
    is a 500 and the upload holds every byte. The next ``HEAD`` (or an empty ``PATCH`` at the
    end) completes it; it stayed open and full for ever (until a restart)."""
    data = os.urandom(3000)
    fill_the_disk(mock, monkeypatch, stores=1)
    location = await tus.start(draft["id"], data)
    failed = await tus.patch(location, 0, data)
    assert failed.status_code == 500

    if retry == "HEAD":
        answer = await tus.head(location)
        assert answer.status_code == 200
    else:
        answer = await tus.patch(location, len(data), b"")
        assert answer.status_code == 204, answer.text
    assert answer.headers["upload-offset"] == str(len(data))
    listed = await tus.evidence(draft["id"])
    assert [e["id"] for e in listed] == [answer.headers["evidence-id"]]
    assert listed[0]["sha256"] == hashlib.sha256(data).hexdigest()


async def test_a_head_answers_the_state_of_a_full_upload_it_cannot_complete_yet(
    tus: TusAgency,
    draft: dict[str, Any],
    mock: MockPlatform,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The disk is still full when the ``HEAD`` tries to complete the upload: the answer is its
    state (every byte, no evidence yet; it was a ``500``), and the next ``HEAD`` completes it."""
    data = os.urandom(3000)
    fill_the_disk(mock, monkeypatch, stores=2)
    location = await tus.start(draft["id"], data)
    assert (await tus.patch(location, 0, data)).status_code == 500
    still_full = await tus.head(location)
    assert still_full.status_code == 200
    assert still_full.headers["upload-offset"] == still_full.headers["upload-length"]
    assert "evidence-id" not in still_full.headers
    assert "completing it for a HEAD failed" in caplog.text
    completed = await tus.head(location)
    assert [e["id"] for e in await tus.evidence(draft["id"])] == [completed.headers["evidence-id"]]
