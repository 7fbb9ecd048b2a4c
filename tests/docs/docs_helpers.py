"""Small helpers the documentation pages import, so each page shows only what it is about."""

from __future__ import annotations

import uuid

from crs_sdk import (
    Category,
    ContentType,
    Officer,
    Platform,
    ReportCreate,
    ReportItemCreate,
    RequestedAction,
    ViolationBasis,
)


def new_draft(*urls: str) -> ReportCreate:
    """A valid report with a fresh client reference."""
    return ReportCreate(
        client_reference=f"CP-DOCS-{uuid.uuid4().hex[:8].upper()}",
        items=[
            ReportItemCreate(url=url, platform=Platform.FACEBOOK, content_type=ContentType.POST)
            for url in (urls or ("https://www.facebook.com/groups/1/posts/2",))
        ],
        category=Category.GROOMING,
        violation_basis=ViolationBasis.POLICY_VIOLATION,
        explanation="Adult account contacting children in a school group.",
        requested_actions=[RequestedAction.REMOVE],
        reporting_officer=Officer(name="Dana Whitfield", email="d.whitfield@ministry.example.gov"),
        good_faith_declaration=True,
    )
