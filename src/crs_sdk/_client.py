"""`CRSClient`, the synchronous client: the I/O around the I/O-free modules.

`crs_sdk._base` (the client core), `_requests` and `_responses` build what it sends and read what
comes back.
"""

from __future__ import annotations

import time
from functools import cached_property, partial
from typing import TYPE_CHECKING, TypeVar

import httpx

from crs_sdk._auth import AccessToken, TokenCache, parse_token_response
from crs_sdk._base import CallState, ClientCore
from crs_sdk._config import DEFAULT_TOKEN_REFRESH_MARGIN, NOT_GIVEN, resolve_config
from crs_sdk._responses import map_transport_errors, raise_for_status

if TYPE_CHECKING:
    from types import TracebackType

    from crs_sdk._config import NotGiven, TimeoutTypes
    from crs_sdk._http_options import CertTypes, VerifyTypes
    from crs_sdk._requests import RequestSpec
    from crs_sdk._resources._events import Events
    from crs_sdk._resources._evidence import ReportEvidence
    from crs_sdk._resources._reports import Reports
    from crs_sdk._resources._webhook_endpoints import WebhookEndpoints
    from crs_sdk._retry import RetryPolicy
    from crs_sdk._retry_call import RetryCall

__all__ = ["CRSClient"]

ClientT = TypeVar("ClientT", bound="CRSClient")


class CRSClient(ClientCore[httpx.Client]):
    """A synchronous client of the CRS API.

    Arguments left out are read from the environment: ``CRS_BASE_URL``, ``CRS_CLIENT_ID``,
    ``CRS_CLIENT_SECRET``; a value missing from both raises `ConfigurationError`.

    Pass ``http_client=`` to use your own ``httpx.Client`` (it is not closed by this client), or
    ``transport=``, ``proxy=``, ``verify=`` and ``cert=`` (a client certificate, for mutual TLS) to
    shape the one the client creates. Use the client as a context manager, or call `close`.

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
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
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
            httpx.Client,
            transport=transport,
            proxy=proxy,
            verify=verify,
            cert=cert,
            tokens=TokenCache(),
        )

    # --- resources, made on first use: each imports its module and the models it decodes -------

    @cached_property
    def reports(self) -> Reports:
        """Create, read, list, submit, withdraw, answer, appeal and wait for reports."""
        from crs_sdk._resources._reports import Reports

        return Reports(
            self._request,
            sleep=time.sleep,
            evidence=lambda: self.evidence,
            retry=self._config.retry,
            request_with=lambda retry: self.with_options(retry=retry)._request,  # noqa: SLF001 - a copy of self
        )

    @cached_property
    def evidence(self) -> ReportEvidence:
        """Upload evidence (resumable, streamed) and list a report's evidence."""
        from crs_sdk._resources._evidence import ReportEvidence

        return ReportEvidence(
            self._request, self._send_once, self._retry_call, self._config, sleep=time.sleep
        )

    @cached_property
    def events(self) -> Events:
        """The agency's event log."""
        from crs_sdk._resources._events import Events

        return Events(self._request)

    @cached_property
    def webhook_endpoints(self) -> WebhookEndpoints:
        """Register and manage webhook endpoints and their deliveries."""
        from crs_sdk._resources._webhook_endpoints import WebhookEndpoints

        return WebhookEndpoints(self._request)

    # --- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool, unless it belongs to a caller-supplied ``http_client``."""
        if self._owns_http:
            self._http.close()

    def __enter__(self: ClientT) -> ClientT:  # noqa: PYI019 - typing.Self needs 3.11
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- I/O -------------------------------------------------------------------------------------

    def _send(self, request: httpx.Request) -> httpx.Response:
        with map_transport_errors():
            return self._http.send(request)

    def _fetch_token(self, call: CallState) -> AccessToken:
        # The call that fetches bounds the token request by its own deadline.
        response = self._send(self._token_request(call))
        return parse_token_response(
            response, now=self._tokens.clock(), refresh_margin=self._config.token_refresh_margin
        )

    def _token(self, call: CallState) -> str:
        fetch = partial(self._fetch_token, call)
        return self._tokens.get(fetch, wait=call.retry.remaining())

    def _attempt(self, call: CallState) -> httpx.Response:
        token = self._token(call)
        response = self._send(self._api_request(call, token))
        if call.needs_new_token(response):
            self._tokens.invalidate(token)
            token = self._token(call)
            response = self._send(self._api_request(call, token))
        return raise_for_status(response)

    def _send_once(self, spec: RequestSpec, retry: RetryCall) -> httpx.Response:
        # One attempt of a call the caller retries itself (`retry`: its deadline clips this
        # attempt's timeouts): the uploader's chunks. Outside tenacity nothing keeps the chunk
        # alive after the answer (memory stays flat).
        return self._attempt(CallState(spec=spec, retry=retry))

    def _request(self, spec: RequestSpec) -> httpx.Response:
        call = self._start_call(spec)
        try:
            return self._attempt(call)
        except Exception as exc:
            if not call.retry.may_retry(exc):
                raise
            failure = exc
        return call.retry.retry_after(failure, partial(self._attempt, call), time.sleep)
