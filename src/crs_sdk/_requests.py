"""What is sent: one API call as a `RequestSpec`, and the httpx request of each attempt at it.

Building a request does no I/O (``build_request``), so both clients build theirs here: the API
request with its token, idempotency key, body and clipped timeout, and the OAuth 2.0 token request.
"""

from __future__ import annotations

import sys
import threading
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from crs_sdk._arguments import check_idempotency_key, new_idempotency_key
from crs_sdk._bodies import BodySource, raw_body
from crs_sdk._version import __version__

if TYPE_CHECKING:
    from crs_sdk._config import ClientConfig

__all__ = [
    "RequestSpec",
    "attempt_timeout",
    "build_api_request",
    "build_token_request",
    "user_agent",
]

ParamValue = str | int
QueryParams = Sequence[tuple[str, ParamValue]]


def user_agent() -> str:
    """``crs-sdk/<version> python/<x.y> httpx/<version>``."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"crs-sdk/{__version__} python/{python} httpx/{httpx.__version__}"


@attrs.frozen
class RequestSpec:
    """One API call, before any token, timeout or transport is known.

    ``path`` is relative to ``/v1``; ``idempotency_key`` is set for every ``POST``. ``headers`` and
    ``content`` (a raw body, instead of ``json``) serve the tus upload requests.
    """

    method: str
    path: str
    params: QueryParams = ()
    json: Any = None
    idempotency_key: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    content: bytes | BodySource | None = attrs.field(default=None, repr=False)

    @classmethod
    def write(
        cls,
        path: str,
        body: Any = None,
        *,
        idempotency_key: str | None = None,
        method: str = "POST",
    ) -> RequestSpec:
        """A write (``POST``, or ``method``) with the caller's idempotency key, or a fresh one."""
        check_idempotency_key(idempotency_key)
        key = new_idempotency_key() if idempotency_key is None else idempotency_key
        return cls(method, path, json=body, idempotency_key=key)


def attempt_timeout(timeout: httpx.Timeout, remaining: float | None) -> httpx.Timeout:
    """The configured timeout, each part clipped to the time left before the retry deadline.

    A deadline further away than a socket can wait (`threading.TIMEOUT_MAX`, about 292 years:
    an infinite or huge ``RetryPolicy.deadline``) clips nothing, so that a part without a limit
    (``None``) stays without one instead of becoming a timeout the socket refuses.
    """
    if remaining is None or remaining > threading.TIMEOUT_MAX:  # also inf
        return timeout
    left = max(remaining, 0.0)

    def clip(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(
        connect=clip(timeout.connect),
        read=clip(timeout.read),
        write=clip(timeout.write),
        pool=clip(timeout.pool),
    )


def _headers(token: str | None, accept: str = "application/json") -> dict[str, str]:
    headers = {"User-Agent": user_agent(), "Accept": accept}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def build_api_request(
    http: httpx.Client | httpx.AsyncClient,
    config: ClientConfig,
    spec: RequestSpec,
    *,
    token: str,
    timeout: httpx.Timeout,
) -> httpx.Request:
    """The request for one attempt of ``spec`` (pure: ``build_request`` does no I/O)."""
    headers = _headers(token)
    headers.update(spec.headers)
    if spec.idempotency_key is not None:
        headers["Idempotency-Key"] = spec.idempotency_key
    content = None
    if spec.content is not None:
        headers["Content-Length"] = str(len(spec.content))
        content = raw_body(http, spec.content)
    return http.build_request(
        spec.method,
        config.api_url(spec.path),
        params=list(spec.params) or None,
        json=spec.json,
        content=content,
        headers=headers,
        timeout=timeout,
    )


def build_token_request(
    http: httpx.Client | httpx.AsyncClient, config: ClientConfig, *, timeout: httpx.Timeout
) -> httpx.Request:
    """The OAuth 2.0 client-credentials request (RFC 6749 §4.4), with HTTP Basic client auth."""
    form = {"grant_type": "client_credentials"}
    if config.scope is not None:
        form["scope"] = config.scope
    headers = _headers(None)
    # RFC 6749 §2.3.1: form-encode each part before joining them for Basic.
    user = urllib.parse.quote_plus(config.client_id)
    password = urllib.parse.quote_plus(config.client_secret)
    basic = httpx.BasicAuth(user, password)
    request = http.build_request(
        "POST", config.token_url, data=form, headers=headers, timeout=timeout
    )
    return next(basic.auth_flow(request))
