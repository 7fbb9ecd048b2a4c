"""The main job: a report taken from draft to a per-item decision against a real mock server.

Starts ``crs-mock serve`` on its default SQLite file (``crs-mock.sqlite3`` in the current folder)
on a free loopback port, then, through the SDK over real HTTP:

1. authenticates as the demo agency,
2. creates a report with three items, one of which the platform will ask about,
3. submits it and waits; answers the platform's information request,
4. waits for the decision and prints it item by item,
5. prints the report's timeline from the agency's event log,

and stops the server. Run it with ``nox -s demo`` (or ``python examples/demo.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from crs_sdk import (
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
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crs_sdk import Event, Report

LISTENING = re.compile(r"listening on (http://\S+)")
DEMO_CLIENT_ID = "demo-agency"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - the mock server's well-known demo credential


@contextmanager
def mock_server() -> Iterator[str]:
    """Run ``crs-mock serve`` on its default database file; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "crs_mock", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            print(f"  [mock] {line.rstrip()}")
            if match := LISTENING.search(line):
                yield match.group(1)
                break
        else:
            raise SystemExit("the mock server stopped before it was ready")
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
        print("  [mock] stopped")


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
        print(f"  {event.timestamp:%H:%M:%S}  {event.type}")


def _report_id(event: Event) -> str | None:
    data = event.data
    if isinstance(data, dict):
        value = data.get("report_id")
        return value if isinstance(value, str) else None
    return getattr(data, "report_id", None)


def run(base_url: str) -> Report:
    with CRSClient(base_url, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET) as client:
        report = client.reports.create(new_report())
        print(f"\nCreated {report.id} ({report.client_reference}) in {report.status}")
        report = client.reports.submit(report.id)
        print(f"Submitted: {report.status}; waiting for the platform's review...")

        report = client.reports.wait(report.id, timeout=120)
        if report.status == ReportStatus.INFO_REQUESTED:
            assert report.info_request is not None
            print(f"The platform asks: {report.info_request.question}")
            report = client.reports.respond(
                report.id,
                "The reel is a re-upload of the material described in the report; the account "
                "holder is the same person. Case file CP-2026-0041 has the chain of custody.",
            )
            print(f"Answered; back to {report.status}. Waiting for the decision...")
            report = client.reports.wait(report.id, timeout=120)

        print_decision(report)
        print_timeline(client, report)
        return report


def main() -> int:
    print("Starting the CRS mock server...")
    with mock_server() as base_url:
        report = run(base_url)
    if not report.status.is_decided:
        print(f"\nThe report ended in {report.status}, not a decision.", file=sys.stderr)
        return 1
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
