"""The report every benchmark files: as an SDK model, and as the JSON a raw client would send.

`check_same_body` makes sure that the two are the same request body, so candidate and baseline do
the same work on the server.
"""

from __future__ import annotations

import uuid
from typing import Any

from crs_sdk import (
    Category,
    ContentType,
    Officer,
    Platform,
    ReportCreate,
    ReportItemCreate,
    RequestedAction,
    ViolationBasis,
    unstructure,
)

_URL = "https://www.facebook.com/groups/48213377/posts/{}"
_EXPLANATION = "An adult account asks a 13-year-old to move the conversation to a private app."


def new_reference(prefix: str) -> str:
    """A ``client_reference`` no other report of the run has."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def report_model(reference: str) -> ReportCreate:
    """The report, as an SDK caller builds it."""
    return ReportCreate(
        client_reference=reference,
        items=[
            ReportItemCreate(
                url=_URL.format(reference),
                platform=Platform.FACEBOOK,
                content_type=ContentType.POST,
            )
        ],
        category=Category.GROOMING,
        violation_basis=ViolationBasis.POLICY_VIOLATION,
        explanation=_EXPLANATION,
        requested_actions=[RequestedAction.REMOVE],
        reporting_officer=Officer(name="Dana Whitfield", email="d.whitfield@ministry.example.gov"),
        good_faith_declaration=True,
    )


def report_json(reference: str) -> dict[str, Any]:
    """The same report, as a raw httpx caller writes it."""
    return {
        "client_reference": reference,
        "items": [{"url": _URL.format(reference), "platform": "facebook", "content_type": "post"}],
        "category": "grooming",
        "violation_basis": "policy_violation",
        "explanation": _EXPLANATION,
        "requested_actions": ["remove"],
        "reporting_officer": {
            "name": "Dana Whitfield",
            "email": "d.whitfield@ministry.example.gov",
        },
        "good_faith_declaration": True,
    }


def check_same_body() -> None:
    """Fail loudly if the SDK would send another body than the raw baseline."""
    sdk = unstructure(report_model("SAME"))
    raw = report_json("SAME")
    if sdk != raw:
        raise AssertionError(f"the SDK sends {sdk!r}, the baseline {raw!r}")
