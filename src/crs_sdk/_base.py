"""The core both clients share: `ClientCore`, and `CallState` for one call in flight.

`ClientCore` holds the configuration, the connection pool, the token cache and the retry budget.
The pure work lives in I/O-free modules: `crs_sdk._requests` builds what is sent,
`crs_sdk._responses` reads what comes back and translates errors, and `crs_sdk._http_options` sets
up the httpx client. `CRSClient` and `AsyncCRSClient` only send and receive, so the two cannot
drift apart.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import httpx

from crs_sdk._config import (
    API_PREFIX,
    NOT_GIVEN,
    ClientConfig,
    NotGiven,
    TimeoutTypes,
    to_timeout,
)
from crs_sdk._exceptions import RequestTimeout
from crs_sdk._http_options import (
    CertTypes,
    VerifyTypes,
    check_own_http_options,
    http_client_options,
)
from crs_sdk._requests import (
    RequestSpec,
    attempt_timeout,
    build_api_request,
    build_token_request,
)
from crs_sdk._retry import RetryBudgetTracker, RetryPolicy
from crs_sdk._retry_call import RetryCall

if TYPE_CHECKING:
    from collections.abc import Callable

    from crs_sdk._auth import TokenCache

__all__ = ["RESOURCES", "CallState", "ClientCore"]


@attrs.define
class CallState:
    """One API call in flight: what to send, its retry state, whether its token was refreshed."""

    spec: RequestSpec
    retry: RetryCall
    token_refreshed: bool = False

    def timeout(self, configured: httpx.Timeout) -> httpx.Timeout:
        """The timeout for the next attempt, clipped to the time left before the deadline.

        Raises:
            RequestTimeout: no time is left (e.g. fetching a token took it): the attempt is not
                sent, and the retry logic ends the call with `DeadlineExceeded`.
        """
        remaining = self.retry.remaining()
        if remaining is not None and remaining <= 0:
            raise RequestTimeout(
                f"{self.retry.method} {self.retry.path}: no time left before the retry deadline "
                f"of {self.retry.policy.deadline}s; not sent"
            )
        return attempt_timeout(configured, remaining)

    def needs_new_token(self, response: httpx.Response) -> bool:
        """Whether ``response`` is the first ``401`` of this call (refresh and send again, once)."""
        if response.status_code != HTTPStatus.UNAUTHORIZED or self.token_refreshed:
            return False
        self.token_refreshed = True
        return True


#: The clients' resources, made on first use (`functools.cached_property`): each imports its
#: module, and that module the models it decodes.
RESOURCES = ("reports", "evidence", "events", "webhook_endpoints")

HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
CoreT = TypeVar("CoreT", bound="ClientCore[Any]")


class ClientCore(Generic[HttpT]):
    """Configuration, connection pool, token cache and retry budget, and the pure work on them.

    Copies made by `with_options` share the pool, the token cache and the retry budget.
    """

    _config: ClientConfig
    _http: HttpT
    _owns_http: bool
    _tokens: TokenCache
    _budget: RetryBudgetTracker

    def _init_core(
        self,
        config: ClientConfig,
        http_client: HttpT | None,
        make_http_client: Callable[..., HttpT],
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
        proxy: str | httpx.Proxy | None,
        verify: VerifyTypes,
        cert: CertTypes | None,
        tokens: TokenCache,
    ) -> None:
        """Check the HTTP options and make the HTTP client, unless the caller gave one.

        Shared by both clients' constructors, which differ only in the httpx classes.
        """
        check_own_http_options(
            has_http_client=http_client is not None,
            transport=transport,
            proxy=proxy,
            verify=verify,
            cert=cert,
        )
        self._owns_http = http_client is None
        if http_client is None:
            options = http_client_options(
                transport=transport, proxy=proxy, verify=verify, cert=cert, timeout=config.timeout
            )
            http_client = make_http_client(**options)
        self._config = config
        self._http = http_client
        self._tokens = tokens
        self._budget = RetryBudgetTracker()

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration (its ``repr()`` leaves out the secret)."""
        return self._config

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self._config.base_url!r}, "
            f"client_id={self._config.client_id!r})"
        )

    def with_options(  # noqa: PYI019 - typing.Self needs Python 3.11
        self: CoreT,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> CoreT:
        """A copy with other defaults, sharing the connection pool, token cache and retry budget.

        Closing the copy does not close the pool; close the original. A ``timeout`` that the
        constructor would refuse raises `ConfigurationError` here too.
        """
        config = self._config
        if not isinstance(timeout, NotGiven):
            config = attrs.evolve(config, timeout=to_timeout(timeout))
        if not isinstance(retry, NotGiven):
            config = attrs.evolve(config, retry=retry)
        clone = copy.copy(self)
        clone._config = config  # noqa: SLF001 - a copy of self
        clone._owns_http = False  # noqa: SLF001
        for name in RESOURCES:  # the copy makes its own, bound to itself
            clone.__dict__.pop(name, None)
        return clone

    def _start_call(self, spec: RequestSpec) -> CallState:
        retry = RetryCall(
            policy=self._config.retry,
            method=spec.method,
            path=API_PREFIX + spec.path,
            has_idempotency_key=spec.idempotency_key is not None,
            tracker=self._budget,
        )
        return CallState(spec=spec, retry=retry)

    def _retry_call(
        self, method: str, path: str, *, policy: RetryPolicy, safe_to_resend: bool
    ) -> RetryCall:
        """Retry state for a multi-request operation that drives its own attempts.

        The evidence uploader uses it for each chunk: ``PATCH`` is not idempotent, but the uploader
        reads the server's offset (``HEAD``) before it sends again, so it passes
        ``safe_to_resend=True``. The client's retry budget is shared.
        """
        return RetryCall(
            policy=policy,
            method=method,
            path=API_PREFIX + path,
            has_idempotency_key=safe_to_resend,
            tracker=self._budget,
        )

    def _api_request(self, call: CallState, token: str) -> httpx.Request:
        return build_api_request(
            self._http,
            self._config,
            call.spec,
            token=token,
            timeout=call.timeout(self._config.timeout),
        )

    def _token_request(self, call: CallState) -> httpx.Request:
        """The token request for ``call``: its timeout clipped to the call's deadline, like an
        attempt's (raises `RequestTimeout`, not sent, when no time is left)."""
        timeout = call.timeout(self._config.timeout)
        return build_token_request(self._http, self._config, timeout=timeout)
