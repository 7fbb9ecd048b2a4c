"""The main job: a report taken from draft to a per-item decision against a real mock server.

Starts ``crs-mock serve`` (`crs_mock.ServerProcess`) on the SQLite file ``crs-mock.sqlite3`` in the
current folder (it keeps the platform's state between runs; delete it to start afresh) on a free
loopback port, then, through the SDK over real HTTP:

1. authenticates as the demo agency and registers a local webhook receiver,
2. creates a report with three items, one of which the platform will ask about,
3. attaches evidence (a resumable, verified upload), submits and waits,
4. answers the platform's information request with a message and new evidence,
5. waits for the decision and prints it item by item,
6. prints the report's timeline from the agency's event log, and the webhooks received,

and stops the server. The webhook endpoint it registers is deleted again however the demo ends.
The server cannot outlive the demo: it is waited for at most a minute to start, stopped with SIGTERM
(SIGKILL after 20 s) at the end, and stops by itself when the demo is killed (its standard input
closes). A SIGTERM to the demo ends it as Ctrl+C does, cleaning up. Run it with ``nox -s demo`` (or
``python examples/demo.py``).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import uvicorn

from crs_mock import ServerProcess
from crs_sdk import (
    ALL_EVENT_TYPES,
    Category,
    ContentType,
    CRSClient,
    LegalBasis,
    Officer,
    Platform,
    Priority,
    ReportCreate,
    ReportItemCreate,
    ReportStatus,
    RequestedAction,
    ViolationBasis,
    WebhookEndpointCreate,
)
from crs_sdk.webhooks import MemoryReplayGuard, WebhookASGIApp, WebhookVerifier

if TYPE_CHECKING:
    from types import FrameType

    from crs_sdk import Event, Report

#: The mock server's state, kept between runs (the server's own default file name).
DATABASE = Path("crs-mock.sqlite3")
START_TIMEOUT = 60.0


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


class WebhookReceiver:
    """A webhook receiver on a free loopback port, verifying every delivery before printing it."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/crs/webhooks"
        self.received: list[Event] = []
        self._server: uvicorn.Server | None = None

    def start(self, secret: str) -> None:
        verifier = WebhookVerifier(secret, replay_guard=MemoryReplayGuard())
        app = WebhookASGIApp(verifier, self._on_event)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.listener]}, daemon=True
        )
        thread.start()

    def _on_event(self, event: Event) -> None:
        self.received.append(event)
        print(f"  [webhook] {event.type} ({event.id}), signature verified")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True


def evidence_file(folder: Path, name: str, size: int) -> Path:
    """Stand-in for a file of the ministry's evidence store."""
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def new_report() -> ReportCreate:
    case = f"CP-DEMO-{datetime.now(timezone.utc):%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"
    return ReportCreate(
        client_reference=case,
        items=[
            ReportItemCreate(
                url="https://www.facebook.com/groups/48213377/posts/99120044",
                platform=Platform.FACEBOOK,
                content_type=ContentType.POST,
                account="trade.accounts.4412",
            ),
            ReportItemCreate(
                url="https://www.instagram.com/reel/needs-info-C7q2LmN/",
                platform=Platform.INSTAGRAM,
                content_type=ContentType.REEL,
            ),
            ReportItemCreate(
                url="https://www.instagram.com/p/no-violation-C7q9XkP/",
                platform=Platform.INSTAGRAM,
                content_type=ContentType.PHOTO,
            ),
        ],
        category=Category.SEXTORTION,
        violation_basis=ViolationBasis.BOTH,
        legal_basis=[
            LegalBasis(
                jurisdiction="GB",
                instrument="Online Safety Act 2023",
                provision="s. 59 and Sch. 6",
                explanation="Threats to share intimate images of a 15-year-old unless paid.",
            )
        ],
        explanation=(
            "A network of accounts threatens minors with publishing intimate images. The group "
            "post advertises the material; the reel repeats the threat."
        ),
        requested_actions=[RequestedAction.REMOVE, RequestedAction.PRESERVE],
        territorial_scope=["GB"],
        reporting_officer=Officer(name="Dana Whitfield", email="d.whitfield@ministry.example.gov"),
        good_faith_declaration=True,
        priority=Priority.HIGH,
        escalation_reason="Ongoing extortion of an identified child.",
    )


def print_decision(report: Report) -> None:
    print(f"\nDecision: {report.status}")
    if report.decision is not None:
        print(f"  {report.decision.summary}")
    for item in report.items:
        decision = item.decision
        outcome = "undecided" if decision is None else decision.outcome
        actions = "" if decision is None else ", ".join(decision.actions_taken)
        print(f"  - {item.url}\n      {outcome}{f' ({actions})' if actions else ''}")


def print_timeline(client: CRSClient, report: Report) -> None:
    print(f"\nTimeline of {report.id} ({report.client_reference}), from the event log:")
    events: list[Event] = [
        event for event in client.events.list() if _report_id(event) == report.id
    ]
    for event in events:
        print(f"  {event.timestamp:%H:%M:%S.%f}"[:-3] + f"  {event.type}")


def _report_id(event: Event) -> str | None:
    data = event.data
    if isinstance(data, dict):
        value = data.get("report_id")
        return value if isinstance(value, str) else None
    return getattr(data, "report_id", None)


def run(server: ServerProcess, receiver: WebhookReceiver, folder: Path) -> Report:
    with CRSClient(
        server.base_url, client_id=server.client_id, client_secret=server.client_secret
    ) as client:
        endpoint = client.webhook_endpoints.create(
            WebhookEndpointCreate(url=receiver.url, event_types=ALL_EVENT_TYPES)
        )
        try:
            receiver.start(endpoint.secret)
            print(f"\nRegistered webhook endpoint {endpoint.id} -> {receiver.url}")
            report = review(client, folder)
            print_decision(report)
            print_timeline(client, report)
            print_deliveries(client, endpoint.id, receiver)
        finally:
            client.webhook_endpoints.delete(endpoint.id)
        return report


def review(client: CRSClient, folder: Path) -> Report:
    """Create, attach evidence, submit; answer the platform's question; the decided report."""
    report = client.reports.create(new_report())
    print(f"\nCreated {report.id} ({report.client_reference}) in {report.status}")
    recording = evidence_file(folder, "extortion-messages.mp4", 5 * 1024 * 1024 + 123)
    evidence = client.evidence.upload(
        report.id,
        recording,
        chunk_size=1024 * 1024,
        progress=lambda sent, total: print(f"  uploaded {sent:>8} / {total} bytes"),
    )
    print(f"Attached {evidence.filename}: {evidence.size} bytes, sha256 {evidence.sha256}")
    report = client.reports.submit(report.id)
    print(f"Submitted: {report.status}; waiting for the platform's review...")

    report = client.reports.wait(report.id, timeout=120)
    if report.status == ReportStatus.INFO_REQUESTED:
        assert report.info_request is not None
        print(f"The platform asks: {report.info_request.question}")
        screenshot = evidence_file(folder, "reel-screenshot.png", 200_000)
        extra = client.evidence.upload(report.id, screenshot, relevance="supporting")
        report = client.reports.respond(
            report.id,
            "The reel is a re-upload of the material described in the report; the account "
            "holder is the same person. Screenshot attached.",
            evidence_ids=[extra.id],
        )
        print(f"Answered; back to {report.status}. Waiting for the decision...")
        report = client.reports.wait(report.id, timeout=120)
    return report


def print_deliveries(client: CRSClient, endpoint_id: str, receiver: WebhookReceiver) -> None:
    deliveries = list(client.webhook_endpoints.deliveries(endpoint_id))
    succeeded = sum(1 for delivery in deliveries if delivery.status == "succeeded")
    print(
        f"\nWebhooks: {len(receiver.received)} received and verified; "
        f"{succeeded} of {len(deliveries)} delivery attempts succeeded."
    )


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # clean up as after Ctrl+C
    print("Starting the CRS mock server...")
    receiver = WebhookReceiver()
    server = ServerProcess(DATABASE, start_timeout=START_TIMEOUT)  # the demo agency's
    with server, tempfile.TemporaryDirectory() as folder:
        print(f"  [mock] CRS mock server listening on {server.base_url} (pid {server.pid})")
        print(f"  [mock] State: {server.db} (kept between runs; delete it to start afresh)")
        try:
            report = run(server, receiver, Path(folder))
        finally:
            receiver.stop()
    print("  [mock] stopped")
    if not report.status.is_decided:
        print(f"\nThe report ended in {report.status}, not a decision.", file=sys.stderr)
        return 1
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
