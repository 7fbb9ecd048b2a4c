"""Isolation: a second agency tries everything on the first agency's resources and gets 404s.

The first agency has a draft with evidence, a decided report, an upload in progress, a webhook
endpoint with a delivery, and events. The second agency, with a valid token of its own and valid
request bodies, tries every operation on them: each answer is a ``404`` problem (never a ``403``,
which would confirm the resource exists), and the database is unchanged after each attempt. Lists
show it nothing of the first agency's, and its own namespace is its own: the first agency's
``client_reference`` and ``Idempotency-Key`` mean nothing to it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from chaos.chaos_support import ServerProcess, Snapshot, access_token, rows

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from chaos.chaos_support import Figures

pytestmark = pytest.mark.chaos

OWNER = ("demo-agency", "demo-secret")
RIVAL = ("rival-agency", "rival-secret-for-isolation")
TUS = {"Tus-Resumable": "1.0.0"}
Attempt = tuple[str, str, dict[str, Any]]


def report_body(reference: str) -> dict[str, Any]:
    return {
        "client_reference": reference,
        "items": [
            {"url": "https://example.com/p/1", "platform": "facebook", "content_type": "post"}
        ],
        "category": "grooming",
        "violation_basis": "policy_violation",
        "explanation": "Isolation target.",
        "requested_actions": ["remove"],
        "reporting_officer": {"name": "Officer", "email": "officer@example.gov"},
        "good_faith_declaration": True,
    }


def tus_creation(data: bytes) -> dict[str, str]:
    pairs = {
        "filename": "evidence.png",
        "content_type": "image/png",
        "sha256": hashlib.sha256(data).hexdigest(),
        "relevance": "primary",
    }
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())
    return {**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": encoded}


def patch_headers(offset: int, chunk: bytes) -> dict[str, str]:
    digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    return {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        "Upload-Checksum": f"sha256 {digest}",
    }


def upload_id(response: httpx.Response) -> str:
    return response.raise_for_status().headers["location"].rstrip("/").rsplit("/", 1)[-1]


def owner_resources(http: httpx.Client, server: ServerProcess) -> dict[str, str]:
    """Everything the owner has, settled: the clock is frozen once the first deliveries ran."""
    endpoint = http.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
    )
    draft = http.post("/v1/reports", json=report_body("iso-draft")).raise_for_status().json()
    data = b"evidence bytes" * 100
    finished = upload_id(
        http.post(f"/v1/reports/{draft['id']}/evidence", headers=tus_creation(data))
    )
    http.patch(
        f"/v1/uploads/{finished}", content=data, headers=patch_headers(0, data)
    ).raise_for_status()
    evidence = http.get(f"/v1/reports/{draft['id']}/evidence").raise_for_status().json()["data"]
    partial = b"partial upload" * 100
    open_upload = upload_id(
        http.post(f"/v1/reports/{draft['id']}/evidence", headers=tus_creation(partial))
    )
    http.patch(
        f"/v1/uploads/{open_upload}", content=partial[:100], headers=patch_headers(0, partial[:100])
    ).raise_for_status()
    decided = http.post("/v1/reports", json=report_body("iso-decided")).raise_for_status().json()
    http.post(f"/v1/reports/{decided['id']}/submit", json={}).raise_for_status()
    httpx.post(
        f"{server.base_url}/_mock/reports/{decided['id']}/decide", json={"outcome": "no_action"}
    ).raise_for_status()
    httpx.post(f"{server.base_url}/_mock/clock/freeze").raise_for_status()
    wait_for_first_deliveries(server)
    endpoint_id = endpoint.raise_for_status().json()["id"]
    deliveries = http.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries").raise_for_status()
    events = http.get("/v1/events").raise_for_status().json()["data"]
    return {
        "draft": draft["id"],
        "decided": decided["id"],
        "evidence": evidence[0]["id"],
        "open_upload": open_upload,
        "finished_upload": finished,
        "endpoint": endpoint_id,
        "delivery": deliveries.json()["data"][0]["id"],
        "first_event": events[0]["id"],
    }


def wait_for_first_deliveries(server: ServerProcess) -> None:
    """Until every webhook message had its first attempt (the next is due in frozen time).

    A bounded poll, on purpose: the attempts are recorded by the server's delivery worker, in
    another process, and nothing there can be awaited. The mock's long poll
    (``/_mock/requests/wait``) journals the requests the server receives, not the deliveries it
    sends, and the endpoint's URL (port 9) refuses them, so no receiver sees them either.
    """
    sql = (
        "SELECT COUNT(*) AS n FROM webhook_messages m WHERE NOT EXISTS "
        "(SELECT 1 FROM webhook_deliveries d WHERE d.message_seq = m.seq)"
    )
    deadline = time.monotonic() + 30
    while (waiting := rows(server.db, sql)[0]["n"]) > 0:
        assert time.monotonic() < deadline, f"{waiting} webhook messages had no attempt in 30 s"
        time.sleep(0.05)  # the poll's interval, not a wait for something to have happened


def rival_attempts(owner: dict[str, str]) -> Iterator[Attempt]:
    """Every operation on the owner's resources, as valid requests."""
    draft, decided, endpoint = owner["draft"], owner["decided"], owner["endpoint"]
    js: dict[str, Any] = {}
    yield "GET", f"/v1/reports/{draft}", js
    yield "GET", f"/v1/reports/{decided}", js
    yield "POST", f"/v1/reports/{draft}/submit", {"json": {"good_faith_declaration": True}}
    yield "POST", f"/v1/reports/{draft}/withdraw", {"json": {"reason": "mine now"}}
    yield "POST", f"/v1/reports/{decided}/withdraw", {"json": {}}
    yield "POST", f"/v1/reports/{draft}/responses", {"json": {"message": "an answer"}}
    yield "POST", f"/v1/reports/{decided}/appeal", {"json": {"reason": "review it again"}}
    data = b"rival evidence"
    yield "POST", f"/v1/reports/{draft}/evidence", {"headers": tus_creation(data)}
    yield "GET", f"/v1/reports/{draft}/evidence", js
    for upload in (owner["open_upload"], owner["finished_upload"]):
        yield "HEAD", f"/v1/uploads/{upload}", {"headers": TUS}
        chunk = b"rival"
        yield (
            "PATCH",
            f"/v1/uploads/{upload}",
            {"headers": patch_headers(100, chunk), "content": chunk},
        )
        yield "DELETE", f"/v1/uploads/{upload}", {"headers": TUS}
    yield "GET", f"/v1/webhook-endpoints/{endpoint}", js
    yield "POST", f"/v1/webhook-endpoints/{endpoint}/rotate-secret", {"json": {}}
    yield "POST", f"/v1/webhook-endpoints/{endpoint}/disable", {"json": {}}
    yield "POST", f"/v1/webhook-endpoints/{endpoint}/enable", {"json": {}}
    yield "GET", f"/v1/webhook-endpoints/{endpoint}/deliveries", js
    retry = f"/v1/webhook-endpoints/{endpoint}/deliveries/{owner['delivery']}/retry"
    yield "POST", retry, {"json": {}}
    yield "DELETE", f"/v1/webhook-endpoints/{endpoint}", js


@pytest.mark.timeout(300)
def test_another_agency_sees_and_changes_nothing(
    tmp_path: Path, figures: Callable[[str], Figures]
) -> None:
    started = time.monotonic()
    findings: list[str] = []
    clients = ("--client", ":".join(OWNER), "--client", ":".join(RIVAL))
    with ServerProcess(tmp_path / "crs-mock.sqlite3", *clients) as server:
        owner_auth = {"Authorization": f"Bearer {access_token(server.base_url, OWNER)}"}
        rival_auth = {"Authorization": f"Bearer {access_token(server.base_url, RIVAL)}"}
        with (
            httpx.Client(base_url=server.base_url, headers=owner_auth) as owner_http,
            httpx.Client(base_url=server.base_url, headers=rival_auth) as rival,
        ):
            owner = owner_resources(owner_http, server)
            attempts = list(rival_attempts(owner))
            for method, path, options in attempts:
                before = Snapshot.take(server.db)
                response = rival.request(method, path, **options)
                after = Snapshot.take(server.db)
                if response.status_code != 404:
                    findings.append(
                        f"{method} {path}: {response.status_code} {response.text[:200]}"
                    )
                elif method != "HEAD" and response.json().get("code") != "not_found":
                    findings.append(f"{method} {path}: {response.text[:200]}")
                if changed := before.changes(after):
                    findings.append(f"{method} {path}: changed {changed}")
            findings += lists_show_nothing(rival, owner)
            findings += namespaces_are_separate(rival, owner_http)
    figures("isolation").values.update(
        **{"attempts on another agency's resources": len(attempts)},
        **{"answered 404": len(attempts) - sum(1 for f in findings if ": changed " not in f)},
        **{"state changes": sum(1 for f in findings if ": changed " in f)},
        findings=len(findings),
        seconds=round(time.monotonic() - started),
    )
    assert findings == [], "\n".join(findings)


def lists_show_nothing(rival: httpx.Client, owner: dict[str, str]) -> list[str]:
    findings = []
    owned = set(owner.values())
    for path in (
        "/v1/reports",
        "/v1/events",
        "/v1/webhook-endpoints",
        f"/v1/events?after={owner['first_event']}",
    ):
        response = rival.get(path)
        if response.status_code not in {200, 404}:
            findings.append(f"GET {path}: {response.status_code}")
        elif response.status_code == 200 and owned & set(repr(response.json()).split("'")):
            findings.append(f"GET {path} lists the owner's resources: {response.text[:200]}")
    return findings


def namespaces_are_separate(rival: httpx.Client, owner_http: httpx.Client) -> list[str]:
    """The owner's case number and idempotency key are free for another agency to use."""
    findings = []
    key = {"Idempotency-Key": "iso-shared-key"}
    mine = owner_http.post("/v1/reports", json=report_body("iso-shared"), headers=key)
    theirs = rival.post("/v1/reports", json=report_body("iso-shared"), headers=key)
    if mine.status_code != 201 or theirs.status_code != 201:
        findings.append(f"same reference and key: {mine.status_code}, {theirs.status_code}")
    elif theirs.json()["id"] == mine.json()["id"] or "idempotent-replayed" in theirs.headers:
        findings.append("the rival got the owner's stored answer for the same key")
    return findings
