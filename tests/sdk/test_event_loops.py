"""An `AsyncCRSClient` belongs to the event loop of its first request: another loop gets a
`ConfigurationError` that says so, not httpx's bare `RuntimeError`."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_sdk import AsyncCRSClient, ConfigurationError, RetryPolicy
from sdk.mock_clients import mock_client

if TYPE_CHECKING:
    from crs_mock import ServerProcess

ANOTHER_LOOP = "made its first request on another event loop"


def _events_page(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/oauth/token":
        body = {"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
        return httpx.Response(200, json=body)
    return httpx.Response(200, json={"data": [], "next_cursor": None})


def _client() -> AsyncCRSClient:
    client: AsyncCRSClient = mock_client("async", _events_page)
    return client


async def _list(client: AsyncCRSClient) -> list[Any]:
    return [event async for event in client.events.list()]


def test_a_loop_in_another_thread_is_refused_over_a_real_connection(
    live_env: ServerProcess,
) -> None:
    # Over a real socket: the pooled keep-alive connection is what belongs to the first loop
    # (it was RuntimeError: <asyncio.locks.Event ...> is bound to a different event loop).
    client = AsyncCRSClient()
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            asyncio.run(_list(client))
        except ConfigurationError as exc:
            errors.append(exc)

    async def main() -> None:
        await _list(client)
        thread = threading.Thread(target=other_thread)
        thread.start()
        await asyncio.to_thread(thread.join)
        await _list(client)  # the refusal changed nothing for the first loop
        await client.aclose()

    asyncio.run(main())
    assert len(errors) == 1
    assert ANOTHER_LOOP in str(errors[0])


def test_a_second_asyncio_run_is_refused() -> None:
    client = _client()
    copy = client.with_options(retry=RetryPolicy())  # shares the pool, so its loop too
    asyncio.run(_list(client))
    with pytest.raises(ConfigurationError, match=ANOTHER_LOOP):
        asyncio.run(_list(copy))  # was RuntimeError: Event loop is closed
    with pytest.raises(ConfigurationError, match=ANOTHER_LOOP):
        asyncio.run(client.aclose())  # the pool could only be closed on its loop


def test_a_refused_call_leaves_the_token_cache_as_it_was() -> None:
    """The refusal comes before the token: a call from another loop whose token was due for a
    refresh used to count as a failed refresh (a warning, a cool-off for every other call)."""
    client = _client()
    asyncio.run(_list(client))
    tokens: Any = client._tokens
    clock = tokens.clock
    tokens.clock = lambda: clock() + 3590  # in its refresh window (60 s), not expired
    before = (tokens._token, tokens._failed_refreshes)
    with pytest.raises(ConfigurationError, match=ANOTHER_LOOP):
        asyncio.run(_list(client))
    assert (tokens._token, tokens._failed_refreshes) == before
