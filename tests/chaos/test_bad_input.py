"""Hostile input: each request is refused with a 4xx and leaves the state exactly as it was.

Against a real ``crs-mock serve`` (uvicorn and h11 included, since some inputs never reach the
app), with a draft report, an upload in progress and a webhook endpoint in place. Before and after
each input the database is snapshotted (every state table and the head of the event log).

The answer is a problem (``application/problem+json``) wherever the app answers. A header block
too large for h11 is refused by uvicorn itself, before the app, with a plain-text ``431`` or
``400``; that is accepted and documented (docs/explanation/reliability.md). Control characters in
request bodies must be refused with a ``422`` (TAB, LF and CR only in multi-line text). Free text
that merely looks like SQL, or spans several lines, is a valid value: the last check stores it and
reads it back verbatim.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from chaos.chaos_support import ServerProcess, Snapshot, access_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from chaos.chaos_support import Figures

pytestmark = pytest.mark.chaos

SQL = "'; DROP TABLE reports; -- \" OR 1=1 /*"
PROBLEM = "application/problem+json"
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass(frozen=True)
class Hostile:
    """One hostile request.

    `status`: the one right answer, where any other ``4xx`` would mean the input slipped through
    to a later check (a duplicate ``client_reference``, a report in the wrong status).
    """

    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    status: int | None = None


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_reference": "chaos-bad-input",
        "items": [
            {"url": "https://example.com/p/1", "platform": "facebook", "content_type": "post"}
        ],
        "category": "grooming",
        "violation_basis": "policy_violation",
        "explanation": "Hostile input target.",
        "requested_actions": ["remove"],
        "reporting_officer": {"name": "Officer", "email": "officer@example.gov"},
    }
    body.update(overrides)
    return body


def sql_everywhere(value: Any) -> Any:
    """`value` with every string (keys kept) replaced by SQL-looking text."""
    if isinstance(value, str):
        return SQL
    if isinstance(value, list):
        return [sql_everywhere(item) for item in value]
    if isinstance(value, dict):
        return {key: sql_everywhere(item) for key, item in value.items()}
    return value


def metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def upload_metadata(filename: str) -> str:
    return metadata(
        filename=filename,
        content_type="image/png",
        sha256=hashlib.sha256(b"x" * 10).hexdigest(),
        relevance="primary",
    )


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def hostile_inputs(report_id: str, upload_id: str, endpoint_id: str) -> Iterator[Hostile]:
    js = {"Content-Type": "application/json"}
    yield Hostile(
        "20 MB JSON body", "POST", "/v1/reports", js, b'{"a": "' + b"x" * 20_000_000 + b'"}'
    )
    deep = b"[" * 100_000 + b"]" * 100_000
    yield Hostile("JSON nested 10^5 levels (array)", "POST", "/v1/reports", js, deep)
    deep_object = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    yield Hostile("JSON nested 10^5 levels (object)", "POST", "/v1/reports", js, deep_object)
    yield Hostile(
        "JSON nested 10^5 levels (submit)", "POST", f"/v1/reports/{report_id}/submit", js, deep
    )
    invalid_utf8 = b'{"client_reference": "\xff\xfe\xc3\x28"}'
    yield Hostile("invalid UTF-8 body", "POST", "/v1/reports", js, invalid_utf8)
    yield Hostile(
        "invalid UTF-8 in a webhook endpoint", "POST", "/v1/webhook-endpoints", js, invalid_utf8
    )
    utf16 = json.dumps(report_body(client_reference="chaos-utf-16")).encode("utf-16")
    yield Hostile("a report in UTF-16", "POST", "/v1/reports", js, utf16, status=415)
    untyped = as_json(report_body(client_reference="chaos-untyped"))
    yield Hostile("a report without Content-Type", "POST", "/v1/reports", {}, untyped, status=415)
    for size in (64 * 1024, 1024 * 1024):
        yield Hostile(
            f"{size // 1024} KiB header",
            "GET",
            "/v1/reports",
            {"X-Padding": "a" * size},
            status=431,
        )
    for name in ("../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "a/../../b"):
        yield Hostile(
            f"path traversal in the evidence filename {name!r}",
            "POST",
            f"/v1/reports/{report_id}/evidence",
            {**TUS, "Upload-Length": "10", "Upload-Metadata": upload_metadata(name)},
        )
    yield Hostile(
        "SQL in every string field of a report",
        "POST",
        "/v1/reports",
        js,
        as_json(sql_everywhere(report_body())),
    )
    yield Hostile(
        "SQL in every string field of a webhook endpoint",
        "POST",
        "/v1/webhook-endpoints",
        js,
        as_json({"url": SQL, "event_types": [SQL], "description": SQL * 20}),
    )
    yield Hostile("a report body of null", "POST", "/v1/reports", js, b"null")
    yield Hostile(
        "an unpaired surrogate escape in a string",
        "POST",
        "/v1/reports",
        js,
        b'{"client_reference": "\\ud800"}',
    )
    yield Hostile(
        "a name twice in one object",
        "POST",
        "/v1/reports",
        js,
        as_json(report_body())[:-1] + b', "client_reference": "AGAIN"}',
    )
    past_the_integers = base64.urlsafe_b64encode(b"rpt:99999999999999999999").decode()
    yield Hostile(
        "a cursor past the database's integers", "GET", f"/v1/reports?cursor={past_the_integers}"
    )
    yield Hostile("SQL in a report id", "GET", f"/v1/reports/{SQL}")
    yield Hostile("SQL in a submitted report id", "POST", f"/v1/reports/{SQL}/submit", js, b"{}")
    yield Hostile("SQL in a status filter", "GET", f"/v1/reports?status={SQL}")
    yield Hostile("SQL in a cursor", "GET", f"/v1/reports?cursor={SQL}")
    yield Hostile("SQL in updated_since", "GET", f"/v1/reports?updated_since={SQL}")
    yield Hostile("SQL in an event position", "GET", f"/v1/events?after={SQL}")
    yield Hostile("SQL in an upload id", "HEAD", f"/v1/uploads/{SQL}", TUS)
    yield Hostile("SQL in an endpoint id", "DELETE", f"/v1/webhook-endpoints/{SQL}")
    yield Hostile(
        "SQL in a withdrawal body",
        "POST",
        f"/v1/reports/{report_id}/withdraw",
        js,
        as_json({"reason": [SQL], SQL: SQL}),
    )
    yield Hostile(
        "SQL in the evidence metadata",
        "POST",
        f"/v1/reports/{report_id}/evidence",
        {
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename=SQL, content_type=SQL, sha256=SQL, relevance=SQL),
        },
    )
    octets = {**TUS, "Content-Type": "application/offset+octet-stream"}
    for offset in ("-1", "99999999999999999999", "1e3", "0x10", "", "+5"):
        yield Hostile(
            f"Upload-Offset {offset!r}",
            "PATCH",
            f"/v1/uploads/{upload_id}",
            {**octets, "Upload-Offset": offset},
            b"x" * 5,
        )
    for length in ("-1", "99999999999999999999", "abc"):
        yield Hostile(
            f"Upload-Length {length!r}",
            "POST",
            f"/v1/reports/{report_id}/evidence",
            {**TUS, "Upload-Length": length, "Upload-Metadata": upload_metadata("a.png")},
        )
    yield Hostile(
        "a chunk past the declared length",
        "PATCH",
        f"/v1/uploads/{upload_id}",
        {**octets, "Upload-Offset": "0"},
        b"x" * 11,
    )
    yield Hostile(
        "a report as text/plain",
        "POST",
        "/v1/reports",
        {"Content-Type": "text/plain"},
        as_json(report_body(client_reference="chaos-text-plain")),
    )
    yield Hostile(
        "a report as form data",
        "POST",
        "/v1/reports",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"client_reference=chaos-form",
    )
    yield Hostile(
        "a chunk as application/json",
        "PATCH",
        f"/v1/uploads/{upload_id}",
        {**TUS, "Content-Type": "application/json", "Upload-Offset": "0"},
        b'"xxxxx"',
    )
    yield Hostile(
        "a token request as JSON",
        "POST",
        "/oauth/token",
        js,
        as_json({"grant_type": "client_credentials", "client_id": "demo-agency"}),
    )
    yield from control_characters(report_id, endpoint_id)
    yield Hostile("NUL in a path", "GET", "/v1/reports/rpt_%00")
    yield Hostile("NUL bytes as the body", "POST", "/v1/reports", js, b"\x00" * 64)
    yield Hostile(
        "NUL in the evidence filename",
        "POST",
        f"/v1/reports/{report_id}/evidence",
        {**TUS, "Upload-Length": "10", "Upload-Metadata": upload_metadata("a\x00.png")},
    )


def control_characters(report_id: str, endpoint_id: str) -> Iterator[Hostile]:
    """Control characters in request bodies: each a ``422``, also where the body would otherwise be
    valid (a fresh ``client_reference`` each, so that a duplicate is not what refuses it)."""
    js = {"Content-Type": "application/json"}
    item = {"url": "https://example.com/p/2", "platform": "facebook", "content_type": "post"}
    legal = {"jurisdiction": "GB", "instrument": "Online Safety Act 2023", "provision": "s. 59"}
    reports = {
        "NUL in a report explanation": {"explanation": "Seen at 21:40\x00"},
        "NUL in a client reference": {"client_reference": "chaos\x00ref"},
        "LF in a client reference": {"client_reference": "chaos-lf\n"},
        "NUL in an email": {"reporting_officer": {"name": "N", "email": "a\x00@example.gov"}},
        "NUL in an item URL": {"items": [{**item, "url": "https://example.com/\x00"}]},
        "ESC in an item account": {"items": [{**item, "account": "a\x1b[2J"}]},
        "C1 control in a legal basis explanation": {
            "violation_basis": "both",
            "legal_basis": [{**legal, "explanation": "s. 59 applies\x85"}],
        },
        "DEL in an escalation reason": {"priority": "urgent", "escalation_reason": "Now\x7f"},
    }
    for number, (name, overrides) in enumerate(reports.items()):
        body = report_body(**{"client_reference": f"chaos-control-{number}", **overrides})
        yield Hostile(name, "POST", "/v1/reports", js, as_json(body), status=422)
    actions = {
        "NUL in a withdrawal reason": ("withdraw", {"reason": "Passed on\x00"}),
        "NUL in a response message": ("responses", {"message": "\x00"}),
        "BEL in an appeal reason": ("appeal", {"reason": "Again\x07"}),
    }
    for name, (action, body) in actions.items():
        path = f"/v1/reports/{report_id}/{action}"
        yield Hostile(name, "POST", path, js, as_json(body), status=422)
    # Were one accepted, it would be subscribed to an event this test never causes.
    hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["report.appealed"]}
    endpoints = {
        "NUL in a webhook endpoint URL": {"url": "http://127.0.0.1:9/hook\x00"},
        "NUL in a webhook endpoint description": {"description": "Production\x00"},
    }
    for name, overrides in endpoints.items():
        endpoint = as_json({**hook, **overrides})
        yield Hostile(name, "POST", "/v1/webhook-endpoints", js, endpoint, status=422)
    yield Hostile(  # a raw NUL inside a JSON string is not JSON: a 400
        "NUL in a rotation body",
        "POST",
        f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        js,
        b'{"expire_previous_after": "\x00"}',
    )


def setup_state(http: httpx.Client) -> tuple[str, str, str]:
    """A draft report, an upload with nothing received yet, and a webhook endpoint."""
    report = http.post("/v1/reports", json=report_body()).raise_for_status().json()
    created = http.post(
        f"/v1/reports/{report['id']}/evidence",
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": upload_metadata("a.png")},
    ).raise_for_status()
    upload_id = created.headers["location"].rstrip("/").rsplit("/", 1)[-1]
    # Subscribed to an event this test never causes, so no delivery runs in the background.
    endpoint = http.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["report.appealed"]},
    ).raise_for_status()
    return report["id"], upload_id, endpoint.json()["id"]


def send(http: httpx.Client, hostile: Hostile) -> httpx.Response | None:
    """The answer, or None when the server closed the connection without one."""
    try:
        return http.request(
            hostile.method, hostile.path, headers=hostile.headers, content=hostile.content
        )
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        return None


def judge(hostile: Hostile, response: httpx.Response | None) -> str | None:
    """What is wrong with the answer, or None."""
    if response is None:
        return "no answer"
    status = response.status_code
    if not 400 <= status < 500:
        return f"answered {status}: {response.text[:300]}"
    if hostile.status is not None and status != hostile.status:
        return f"answered {status}, not {hostile.status}: {response.text[:300]}"
    if hostile.method == "HEAD":  # no body, so no problem document
        return None
    return problem_error(response)


def problem_error(response: httpx.Response) -> str | None:
    media = response.headers.get("content-type", "").split(";")[0]
    if media != PROBLEM:
        return f"{response.status_code} as {media!r}, not a problem"
    problem = response.json()
    if problem.get("status") != response.status_code or not problem.get("code"):
        return f"an incomplete problem: {problem}"
    return None


@pytest.mark.timeout(600)
def test_hostile_input_is_refused_without_a_trace(
    tmp_path: Path, figures: Callable[[str], Figures]
) -> None:
    started = time.monotonic()
    findings: list[str] = []
    answers: dict[str, str] = {}
    with ServerProcess(tmp_path / "crs-mock.sqlite3") as server:
        token = access_token(server.base_url)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http:
            report_id, upload_id, endpoint_id = setup_state(http)
            inputs = list(hostile_inputs(report_id, upload_id, endpoint_id))
            for hostile in inputs:
                before = Snapshot.take(server.db)
                response = send(http, hostile)
                after = Snapshot.take(server.db)
                answers[hostile.name] = (
                    "no answer" if response is None else str(response.status_code)
                )
                wrong = judge(hostile, response)
                if wrong:
                    findings.append(f"{hostile.name}: {wrong}")
                if changed := before.changes(after):
                    findings.append(f"{hostile.name}: changed {changed}")
            accepted = check_sql_text_is_stored_verbatim(http, server.db)
    figures("bad input").values.update(
        **{"inputs tried": len(inputs)},
        refused=sum(1 for a in answers.values() if a.startswith("4")),
        **{"state changes": sum(1 for f in findings if ": changed " in f)},
        findings=len(findings),
        **{"SQL-looking and multi-line text stored verbatim": accepted},
        seconds=round(time.monotonic() - started),
    )
    assert findings == [], "\n".join(findings)


def check_sql_text_is_stored_verbatim(http: httpx.Client, db: Path) -> bool:
    """Free text that looks like SQL, or spans lines (TAB, LF and CR), is valid: stored as given,
    tables intact."""
    for reference, text in ((SQL, SQL), ("chaos-multi-line", "Line 1\r\n\tLine 2\nLine 3")):
        before = Snapshot.take(db)
        created = http.post(
            "/v1/reports", json=report_body(client_reference=reference, explanation=text)
        )
        assert created.status_code == 201, created.text
        fetched = http.get(f"/v1/reports/{created.json()['id']}").raise_for_status().json()
        after = Snapshot.take(db)
        assert (fetched["client_reference"], fetched["explanation"]) == (reference, text)
        assert after.counts["reports"] == before.counts["reports"] + 1
    return True
