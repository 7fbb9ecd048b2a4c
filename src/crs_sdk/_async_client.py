"""`AsyncCRSClient`, the asynchronous client: the I/O around the I/O-free modules.

`crs_sdk._base` (the client core), `_requests` and `_responses` build what it sends and read what
comes back.
"""

from __future__ import annotations

import threading
import weakref
from functools import cached_property, partial
from typing import TYPE_CHECKING, TypeVar

import httpx

from crs_sdk._auth import AccessToken, TokenCache, parse_token_response
from crs_sdk._base import CallState, ClientCore
from crs_sdk._config import DEFAULT_TOKEN_REFRESH_MARGIN, NOT_GIVEN, resolve_config
from crs_sdk._exceptions import ConfigurationError
from crs_sdk._responses import map_transport_errors, raise_for_status
from crs_sdk._wait import asyncio_sleep

if TYPE_CHECKING:
    import asyncio
    from types import TracebackType

    from crs_sdk._config import NotGiven, TimeoutTypes
    from crs_sdk._http_options import CertTypes, VerifyTypes
    from crs_sdk._requests import RequestSpec
    from crs_sdk._resources._events import AsyncEvents
    from crs_sdk._resources._evidence import AsyncReportEvidence
    from crs_sdk._resources._reports import AsyncReports
    from crs_sdk._resources._webhook_endpoints import AsyncWebhookEndpoints
    from crs_sdk._retry import RetryPolicy
    from crs_sdk._retry_call import RetryCall

__all__ = ["AsyncCRSClient"]

ClientT = TypeVar("ClientT", bound="AsyncCRSClient")


class _EventLoopBinding:
    """The event loop a client's connection pool belongs to: the one of its first request.

    httpx's connections and their locks are bound to the loop that made them; on another loop
    they fail with bare `RuntimeError` ("Event loop is closed", "... is bound to a different event
    loop"), so a request on another loop is refused first, with a message that says why. The loop
    is held weakly: a client must not keep a finished ``asyncio.run``'s loop alive.
    """

    def __init__(self) -> None:
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._lock = threading.Lock()  # two threads' loops may make the first request at once

    def check(self) -> None:
        import asyncio  # here: the sync client never needs asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is None:
                self._loop = weakref.ref(loop)
                return
            bound = self._loop()
        if bound is not loop:
            raise ConfigurationError(
                "this AsyncCRSClient made its first request on another event loop (its "
                "connection pool belongs to that loop): use one client per event loop, made "
                "and closed within it (one asyncio.run, one thread)"
            )


class AsyncCRSClient(ClientCore[httpx.AsyncClient]):
    """An asynchronous client of the CRS API, with the same surface as `CRSClient`.

    Arguments left out are read from the environment: ``CRS_BASE_URL``, ``CRS_CLIENT_ID``,
    ``CRS_CLIENT_SECRET``; a value missing from both raises `ConfigurationError`.

    Pass ``http_client=`` to use your own ``httpx.AsyncClient`` (it is not closed by this client),
    or ``transport=``, ``proxy=``, ``verify=`` and ``cert=`` (a client certificate, for mutual TLS)
    to shape the one the client creates. Use ``async with``, or call `aclose`. It runs on asyncio,
    on one event loop: the loop of its first request, to which its connection pool then belongs.
    A request from another event loop (a second ``asyncio.run``, a loop in another thread) raises
    `ConfigurationError`; make one client per event loop. Tasks of that loop may share it freely.

    ``timeout`` (seconds, an ``httpx.Timeout``, or ``None`` for no limit) bounds each attempt
    of a request, within the retry policy's deadline. Left out, it is the ``http_client``'s own
    timeout, unless that is httpx's default (5 s); else 30 s (connect: 10 s). A part that is
    negative, ``nan`` or infinite raises `ConfigurationError` naming it.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        token_refresh_margin: float = DEFAULT_TOKEN_REFRESH_MARGIN,
        scope: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | httpx.Proxy | None = None,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
    ) -> None:
        config = resolve_config(
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            timeout=timeout,
            retry=retry,
            token_refresh_margin=token_refresh_margin,
            scope=scope,
            http_client_timeout=None if http_client is None else http_client.timeout,
        )
        self._init_core(
            config,
            http_client,
            httpx.AsyncClient,
            transport=transport,
            proxy=proxy,
            verify=verify,
            cert=cert,
            tokens=TokenCache(),
        )
        self._event_loop = _EventLoopBinding()  # shared with the copies with_options makes

    # --- resources, made on first use: each imports its module and the models it decodes -------

    @cached_property
    def reports(self) -> AsyncReports:
        """Create, read, list, submit, withdraw, answer, appeal and wait for reports."""
        from crs_sdk._resources._reports import AsyncReports

        return AsyncReports(
            self._request,
            sleep=asyncio_sleep,
            evidence=lambda: self.evidence,
            retry=self._config.retry,
            request_with=lambda retry: self.with_options(retry=retry)._request,  # noqa: SLF001 - a copy of self
        )

    @cached_property
    def evidence(self) -> AsyncReportEvidence:
        """Upload evidence (resumable, streamed) and list a report's evidence."""
        from crs_sdk._resources._evidence import AsyncReportEvidence

        return AsyncReportEvidence(
            self._request, self._send_once, self._retry_call, self._config, sleep=asyncio_sleep
        )

    @cached_property
    def events(self) -> AsyncEvents:
        """The agency's event log."""
        from crs_sdk._resources._events import AsyncEvents

        return AsyncEvents(self._request)

    @cached_property
    def webhook_endpoints(self) -> AsyncWebhookEndpoints:
        """Register and manage webhook endpoints and their deliveries."""
        from crs_sdk._resources._webhook_endpoints import AsyncWebhookEndpoints

        return AsyncWebhookEndpoints(self._request)

    # --- lifecycle -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool, unless it belongs to a caller-supplied ``http_client``.

        Raises:
            ConfigurationError: the pool belongs to another event loop (see `AsyncCRSClient`).
        """
        if self._owns_http:
            self._event_loop.check()
            await self._http.aclose()

    async def __aenter__(self: ClientT) -> ClientT:  # noqa: PYI019 - typing.Self needs 3.11
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- I/O -------------------------------------------------------------------------------------

    async def _send(self, request: httpx.Request) -> httpx.Response:
        self._event_loop.check()
        with map_transport_errors():
            return await self._http.send(request)

    async def _fetch_token(self, call: CallState) -> AccessToken:
        # The call that fetches bounds the token request by its own deadline.
        response = await self._send(self._token_request(call))
        return parse_token_response(
            response, now=self._tokens.clock(), refresh_margin=self._config.token_refresh_margin
        )

    async def _token(self, call: CallState) -> str:
        fetch = partial(self._fetch_token, call)
        return await self._tokens.aget(fetch, wait=call.retry.remaining())

    async def _attempt(self, call: CallState) -> httpx.Response:
        # Before the token cache: a call from another loop must not count as a failed refresh.
        self._event_loop.check()
        token = await self._token(call)
        response = await self._send(self._api_request(call, token))
        if call.needs_new_token(response):
            self._tokens.invalidate(token)
            token = await self._token(call)
            response = await self._send(self._api_request(call, token))
        return raise_for_status(response)

    async def _send_once(self, spec: RequestSpec, retry: RetryCall) -> httpx.Response:
        # One attempt of a call the caller retries itself (see `CRSClient._send_once`).
        return await self._attempt(CallState(spec=spec, retry=retry))

    async def _request(self, spec: RequestSpec) -> httpx.Response:
        call = self._start_call(spec)
        try:
            return await self._attempt(call)
        except Exception as exc:
            if not call.retry.may_retry(exc):
                raise
            failure = exc
        return await call.retry.aretry_after(failure, partial(self._attempt, call), asyncio_sleep)
