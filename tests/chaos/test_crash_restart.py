"""The server is killed (SIGKILL) several times under load and restarted on the same port.

Flows create a report, upload a file of several 256 KiB chunks and submit. A kill is triggered by
what the test observes, never by a timer: a chunk acknowledged mid-upload since the last restart.
During the outage the SDK's retries (a generous deadline) carry every call on. At some kills the
client "crashes" too: a few flows are cancelled, and later run again by a new client with the same
idempotency keys and the same `FileResumeStore`, so their uploads resume from the stored URL.

Afterwards every acknowledged report is in the database exactly once, every upload finished with
the local SHA-256, no upload was created twice, and no acknowledged chunk was lost (the server's
offset, as the progress callback saw it, never went back).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import random
import socket
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import psutil
import pytest

from chaos.chaos_support import DEMO, ServerProcess, rows
from crs_sdk import AsyncCRSClient, FileResumeStore, RetryPolicy
from crs_sdk.testing import make_report_create

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from chaos.chaos_support import Figures

pytestmark = [pytest.mark.chaos, pytest.mark.anyio]

KILLS = 5
CHUNK = 256 * 1024
CHUNKS = 5
CLIENT_CRASHES_PER_KILL = 2
#: Connection refused is retried every 0.2 s at most, through the restart, for up to 2 minutes.
POLICY = RetryPolicy(
    max_attempts=1000, initial_backoff=0.01, max_backoff=0.2, deadline=120, budget=None
)


@dataclass
class Flow:
    reference: str
    path: Path
    sha256: str
    report_id: str | None = None
    evidence_sha256: str | None = None
    offsets: list[int] = field(default_factory=list)
    uploading: bool = False
    runs: int = 0
    resumed_at: int | None = None


@dataclass
class Outage:
    """The kill switch: armed after each restart, fired by the first chunk acknowledged then."""

    armed: asyncio.Event = field(default_factory=asyncio.Event)
    mid_upload: asyncio.Event = field(default_factory=asyncio.Event)
    interrupted: set[str] = field(default_factory=set)


def make_flows(folder: Path, count: int) -> list[Flow]:
    rng = random.Random(7)
    flows = []
    for index in range(count):
        path = folder / f"crash-{index}.bin"
        data = rng.randbytes(CHUNK * CHUNKS - rng.randint(0, CHUNK // 2))
        path.write_bytes(data)
        flows.append(Flow(f"chaos-crash-{index:04d}", path, hashlib.sha256(data).hexdigest()))
    return flows


async def run_flow(
    client: AsyncCRSClient, flow: Flow, store: FileResumeStore, outage: Outage
) -> None:
    flow.runs += 1
    first_progress = True

    def progress(offset: int, size: int) -> None:
        nonlocal first_progress
        if first_progress and flow.runs > 1:
            flow.resumed_at = offset
        first_progress = False
        flow.offsets.append(offset)
        if 0 < offset < size and outage.armed.is_set():
            outage.mid_upload.set()

    report = make_report_create(client_reference=flow.reference)
    created = await client.reports.create(report, idempotency_key=f"{flow.reference}:create")
    flow.report_id = created.id
    flow.uploading = True
    evidence = await client.evidence.upload(
        created.id,
        flow.path,
        content_type="video/mp4",
        chunk_size=CHUNK,
        progress=progress,
        resume_store=store,
        idempotency_key=f"{flow.reference}:evidence",
    )
    flow.uploading = False
    flow.evidence_sha256 = evidence.sha256
    await client.reports.submit(created.id, idempotency_key=f"{flow.reference}:submit")


async def crash_repeatedly(
    server: ServerProcess, flows: list[Flow], tasks: dict[str, asyncio.Task[None]], outage: Outage
) -> tuple[int, set[str]]:
    """Kill and restart the server `KILLS` times; the kills made and the flows the client lost."""
    rng = random.Random(11)
    cancelled: set[str] = set()
    kills = 0
    for _ in range(KILLS):
        outage.mid_upload.clear()
        outage.armed.set()
        fired = asyncio.ensure_future(outage.mid_upload.wait())
        # asyncio.wait never cancels what it waits for (gather would, when cancelled).
        everything = asyncio.ensure_future(asyncio.wait(tasks.values()))
        await asyncio.wait({fired, everything}, return_when=asyncio.FIRST_COMPLETED)
        everything.cancel()
        if not fired.done():
            fired.cancel()
            break  # every flow finished before a chunk could be caught mid-upload
        outage.armed.clear()
        await asyncio.to_thread(server.kill)
        kills += 1
        in_flight = [flow for flow in flows if flow.uploading]
        outage.interrupted.update(flow.reference for flow in in_flight)
        # The client dies with them: flows whose upload the server holds part of (so the resume
        # store names it) are cancelled, to be picked up by a new client later.
        resumable = [f for f in in_flight if f.offsets and f.offsets[-1] > 0]
        for flow in rng.sample(resumable, min(CLIENT_CRASHES_PER_KILL, len(resumable))):
            if flow.reference not in cancelled:
                tasks[flow.reference].cancel()
                flow.uploading = False
                cancelled.add(flow.reference)
        await asyncio.to_thread(server.restart)
    return kills, cancelled


async def run_under_crashes(
    server: ServerProcess, flows: list[Flow], store: FileResumeStore, outage: Outage
) -> tuple[int, set[str]]:
    """Run every flow through the kills; the kills made and the flows whose client "crashed"."""
    async with AsyncCRSClient(
        server.base_url, client_id=DEMO[0], client_secret=DEMO[1], retry=POLICY
    ) as client:
        tasks = {
            flow.reference: asyncio.create_task(run_flow(client, flow, store, outage))
            for flow in flows
        }
        with anyio.fail_after(600):
            kills, cancelled = await crash_repeatedly(server, flows, tasks, outage)
            results = await asyncio.gather(*tasks.values(), return_exceptions=True)
    errors = [
        repr(result)
        for result in results
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError)
    ]
    assert not errors, errors[:5]
    return kills, cancelled


async def sockets_still_open(port: int) -> list[str]:
    """This process's sockets to the server's `port` that are still open at the OS level once
    nothing refers to them any more: collected, and their closing run by the event loop.

    Counting ResourceWarnings instead (as this test once did) counts an upstream leak, and by
    chance: httpcore 1.0.9's pool takes the connections it closes out of the pool first, then
    closes them one by one under ``AsyncShieldCancellation``, an anyio shield that asyncio's own
    ``Task.cancel()`` goes through (encode/httpcore#922 proposes one that holds). A flow cancelled
    while its pool closes expired connections (after a kill, every idle connection expires at
    once: the server hung up on it) stops at the first close, and the others stay open, referred
    to by nothing, until the garbage collector closes them with a ResourceWarning: 0 in most runs,
    12 in one. What is still open after the collection is held by something alive (a client not
    closed, a task still running): ours to fix.
    """
    gc.collect()  # a collected transport closes its socket at once
    # A transport closed but not yet collected closes its socket in a callback it scheduled:
    # one turn of the loop runs the callbacks already scheduled (no waiting for time).
    await asyncio.sleep(0)
    return [
        f"port {connection.laddr.port} -> {connection.raddr.port} {connection.status}"
        for connection in psutil.Process().net_connections(kind="tcp")
        if connection.raddr and connection.raddr.port == port
    ]


@pytest.mark.timeout(900)
async def test_killed_server_loses_nothing_acknowledged(
    tmp_path: Path, chaos_scale: float, figures: Callable[[str], Figures]
) -> None:
    flows = make_flows(tmp_path, max(12, round(48 * min(chaos_scale, 1.0))))
    by_reference = {flow.reference: flow for flow in flows}
    store = FileResumeStore(tmp_path / "resume" / "uploads.json")
    outage = Outage()
    started = time.monotonic()
    server = ServerProcess(tmp_path / "crs-mock.sqlite3")
    server.start()
    try:
        with warnings.catch_warnings(record=True) as collected:
            warnings.simplefilter("always", ResourceWarning)
            kills, cancelled = await run_under_crashes(server, flows, store, outage)
            left_open = await sockets_still_open(server.port)
        # The client that "crashed" is gone; a new one picks the cancelled flows up again.
        async with AsyncCRSClient(
            server.base_url, client_id=DEMO[0], client_secret=DEMO[1], retry=POLICY
        ) as fresh:
            with anyio.fail_after(300):
                await asyncio.gather(
                    *(run_flow(fresh, by_reference[ref], store, outage) for ref in cancelled)
                )
    finally:
        server.stop()
    elapsed = time.monotonic() - started

    db = server.db
    reports = rows(
        db, "SELECT id, client_reference, status FROM reports WHERE agency_id = ?", DEMO[:1]
    )
    per_reference = Counter(row["client_reference"] for row in reports)
    acknowledged = [flow for flow in flows if flow.report_id is not None]
    lost = [flow.reference for flow in acknowledged if per_reference[flow.reference] == 0]
    duplicated = {ref: n for ref, n in per_reference.items() if n > 1}
    statuses = Counter(row["status"] for row in reports)
    evidence = {
        row["report_id"]: row["sha256"]
        for row in rows(db, "SELECT report_id, sha256 FROM evidence WHERE agency_id = ?", DEMO[:1])
    }
    uploads = Counter(
        row["report_id"]
        for row in rows(db, "SELECT report_id FROM uploads WHERE agency_id = ?", DEMO[:1])
    )
    interrupted = [by_reference[ref] for ref in outage.interrupted]
    went_back = [flow.reference for flow in flows if flow.offsets != sorted(flow.offsets)]
    from_store = [by_reference[ref] for ref in cancelled if by_reference[ref].resumed_at]

    figures("crash").values.update(
        kills=kills,
        flows=len(flows),
        **{"acknowledged reports": len(acknowledged)},
        **{"interrupted uploads": len(interrupted)},
        **{"resumed by a new client from the resume store": len(from_store)},
        **{"sockets left open by the cancelled client": len(left_open)},
        **{"sockets closed only by the garbage collector (httpcore)": len(collected)},
        lost=len(lost),
        duplicated=sum(n - 1 for n in duplicated.values()),
        seconds=round(elapsed),
    )
    assert kills == KILLS
    assert server.starts == KILLS + 1
    assert len(acknowledged) == len(flows)
    assert lost == []
    assert duplicated == {}
    assert sum(statuses.values()) == len(flows)
    assert "draft" not in statuses, statuses
    assert all(evidence.get(flow.report_id or "") == flow.sha256 for flow in flows)
    assert all(flow.evidence_sha256 == flow.sha256 for flow in flows)
    assert all(count == 1 for count in uploads.values()), uploads
    assert interrupted
    assert went_back == []
    assert cancelled
    assert len(from_store) == len(cancelled), [(f.reference, f.offsets) for f in from_store]
    assert left_open == []
    # What the garbage collector closed are sockets (see `sockets_still_open`), nothing else.
    not_sockets = [
        str(w.message)
        for w in collected
        if not isinstance(w.source, (asyncio.BaseTransport, socket.socket))
    ]
    assert not_sockets == []
