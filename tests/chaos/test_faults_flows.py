"""Thousands of full flows through the SDK while the server breaks ~30 % of the requests.

Each flow creates an urgent report, attaches one or two small random files, submits it and waits
for the decision, through one shared `AsyncCRSClient`, many flows at a time, against a real
``crs-mock serve`` on a SQLite file. Fault rules (scoped to the agency, seeded) answer 429 with
``Retry-After``, 503, reset connections, drop or cut answers after the commit, and add latency.

Afterwards the server is stopped and its database is the judge: every flow finished, every
``client_reference`` is there exactly once, created and submitted once, with exactly its evidence,
whose SHA-256 matches the local file and the bytes kept on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from chaos.chaos_support import DEMO, ServerProcess, rows
from crs_sdk import (
    AsyncCRSClient,
    EvidenceFile,
    MemoryResumeStore,
    Priority,
    ReportStatus,
    RetryBudget,
    RetryPolicy,
)
from crs_sdk.testing import make_report_create

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from chaos.chaos_support import Figures

pytestmark = [pytest.mark.chaos, pytest.mark.anyio]

CONCURRENCY = 48
SEED = 20261123
#: First rule that fires wins; together they strike about 30 % of the agency's requests.
FAULT_RULES: tuple[dict[str, Any], ...] = (
    {"action": "error", "status": 429, "retry_after": 1, "probability": 0.005},
    {"action": "error", "status": 503, "probability": 0.09},
    {"action": "connection_reset", "probability": 0.07},
    {"action": "drop_response", "probability": 0.07},
    {"action": "truncated_body", "probability": 0.02},
    {
        "action": "latency",
        "latency_ms": 5,
        "latency_distribution": "uniform",
        "latency_max_ms": 80,
        "probability": 0.08,
    },
)
#: Small waits over a real socket; enough attempts that 30 % faults never exhaust them.
POLICY = RetryPolicy(
    max_attempts=25,
    initial_backoff=0.01,
    max_backoff=0.2,
    max_retry_after=2,
    deadline=120,
    budget=RetryBudget(ratio=1.0, min_retries=100),
)


@dataclass(frozen=True)
class Flow:
    index: int
    reference: str
    files: tuple[Path, ...]

    def sha256s(self) -> Counter[str]:
        return Counter(hashlib.sha256(path.read_bytes()).hexdigest() for path in self.files)


def make_flows(folder: Path, count: int, run: str) -> list[Flow]:
    rng = random.Random(SEED)
    flows = []
    for index in range(count):
        files = []
        for part in range(rng.choice((1, 1, 2))):
            path = folder / f"flow-{index}-{part}.bin"
            path.write_bytes(rng.randbytes(rng.randint(1, 48 * 1024)))
            files.append(path)
        flows.append(Flow(index, f"{run}-{index:05d}", tuple(files)))
    return flows


async def run_flow(client: AsyncCRSClient, flow: Flow, store: MemoryResumeStore) -> ReportStatus:
    report = make_report_create(
        client_reference=flow.reference,
        priority=Priority.URGENT,
        escalation_reason="Reliability suite: decided in about a second of virtual time.",
    )
    evidence = [EvidenceFile(source=path, content_type="image/png") for path in flow.files]
    submitted = await client.reports.create_and_submit(
        report, evidence, idempotency_key=flow.reference, resume_store=store
    )
    final = await client.reports.wait(
        submitted.id, timeout=120, poll_interval=0.25, max_poll_interval=1.0
    )
    return final.status


async def run_all(base_url: str, flows: list[Flow]) -> dict[int, ReportStatus | BaseException]:
    results: dict[int, ReportStatus | BaseException] = {}
    queue = list(reversed(flows))
    store = MemoryResumeStore()
    async with AsyncCRSClient(
        base_url, client_id=DEMO[0], client_secret=DEMO[1], retry=POLICY
    ) as client:

        async def worker() -> None:
            while queue:
                flow = queue.pop()
                try:
                    results[flow.index] = await run_flow(client, flow, store)
                except Exception as exc:  # every failure is a finding, reported below
                    results[flow.index] = exc

        with anyio.fail_after(1800):
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


def add_faults(base_url: str) -> list[str]:
    ids = []
    for number, rule in enumerate(FAULT_RULES):
        body = {**rule, "agency_id": DEMO[0], "seed": SEED + number}
        response = httpx.post(f"{base_url}/_mock/faults", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def fault_counters(base_url: str) -> dict[str, tuple[int, int]]:
    """action -> (hits, matches) of the agency's rules."""
    page = httpx.get(f"{base_url}/_mock/faults", params={"agency_id": DEMO[0]}).json()
    return {
        rule["action"] + str(rule.get("status") or ""): (rule["hits"], rule["matches"])
        for rule in page["data"]
    }


def check_database(db: Path, flows: list[Flow]) -> tuple[int, int, list[str]]:
    """(lost, duplicated, problems) as the server's database and blob store tell."""
    wanted = {flow.reference: flow for flow in flows}
    reports = rows(
        db,
        "SELECT id, client_reference, status FROM reports WHERE agency_id = ?",
        (DEMO[0],),
    )
    per_reference = Counter(
        row["client_reference"] for row in reports if row["client_reference"] in wanted
    )
    lost = sum(1 for reference in wanted if per_reference[reference] == 0)
    duplicated = sum(count - 1 for count in per_reference.values() if count > 1)
    problems: list[str] = []
    by_id = {
        row["id"]: wanted[row["client_reference"]]
        for row in reports
        if row["client_reference"] in wanted
    }
    events = Counter(
        (row["report_id"], row["type"])
        for row in rows(db, "SELECT report_id, type FROM events WHERE agency_id = ?", (DEMO[0],))
    )
    evidence: dict[str, Counter[str]] = {report_id: Counter() for report_id in by_id}
    blobs = db.parent / f"{db.name}.blobs" / "sha256"
    for row in rows(db, "SELECT report_id, sha256 FROM evidence WHERE agency_id = ?", (DEMO[0],)):
        if row["report_id"] in evidence:
            evidence[row["report_id"]][row["sha256"]] += 1
            kept = blobs / row["sha256"][:2] / row["sha256"][2:]
            if hashlib.sha256(kept.read_bytes()).hexdigest() != row["sha256"]:
                problems.append(f"blob {row['sha256']} does not hash to its name")
    for report_id, flow in by_id.items():
        expected = flow.sha256s()
        got = evidence[report_id]
        duplicated += sum(max(0, got[sha] - expected[sha]) for sha in got)
        lost += sum(max(0, expected[sha] - got[sha]) for sha in expected)
        for kind in ("report.created", "report.submitted"):
            if events[report_id, kind] != 1:
                duplicated += max(0, events[report_id, kind] - 1)
                problems.append(f"{flow.reference}: {events[report_id, kind]} {kind} events")
        if events[report_id, "evidence.received"] != sum(expected.values()):
            problems.append(
                f"{flow.reference}: {events[report_id, 'evidence.received']} evidence.received"
            )
    return lost, duplicated, problems


@pytest.mark.timeout(3600)
async def test_flows_survive_injected_faults(
    tmp_path: Path, chaos_flows: int, figures: Callable[[str], Figures]
) -> None:
    flows = make_flows(tmp_path, chaos_flows, "chaos-faults")
    db = tmp_path / "crs-mock.sqlite3"
    started = time.monotonic()
    with ServerProcess(db) as server:
        add_faults(server.base_url)
        results = await run_all(server.base_url, flows)
        counters = fault_counters(server.base_url)
    elapsed = time.monotonic() - started

    failed = {
        index: result for index, result in results.items() if isinstance(result, BaseException)
    }
    finished = [status for status in results.values() if isinstance(status, ReportStatus)]
    lost, duplicated, problems = check_database(db, flows)
    requests = max(matches for _, matches in counters.values())
    injected = sum(hits for hits, _ in counters.values())
    figures("faults").values.update(
        flows=len(flows),
        finished=len(finished),
        requests=requests,
        **{"faults injected": f"{injected} ({injected / max(requests, 1):.0%})"},
        **{"by kind": " ".join(f"{kind}={hits}" for kind, (hits, _) in counters.items())},
        lost=lost,
        duplicated=duplicated,
        seconds=round(elapsed),
    )
    assert not failed, {index: repr(exc) for index, exc in list(failed.items())[:10]}
    assert len(finished) == len(flows)
    assert all(status == ReportStatus.ACTIONED for status in finished), Counter(finished)
    assert (lost, duplicated, problems) == (0, 0, [])
    assert injected / requests > 0.25
