"""Clients whose requests a function answers, for tests that need no server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from crs_sdk import AsyncCRSClient, CRSClient, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable


def mock_client(
    flavour: str,
    handler: Callable[[httpx.Request], httpx.Response],
    retry: RetryPolicy | None = None,
) -> Any:
    """A ``CRSClient`` (``flavour="sync"``) or ``AsyncCRSClient`` whose requests ``handler``
    answers (an ``httpx.MockTransport``); no retries unless ``retry`` is given."""
    cls: Any = CRSClient if flavour == "sync" else AsyncCRSClient
    return cls(
        "https://crs.test",
        client_id="demo-agency",
        client_secret="demo-secret",
        transport=httpx.MockTransport(handler),
        retry=retry or RetryPolicy.disabled(),
    )
