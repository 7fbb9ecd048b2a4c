"""The I/O-free half of both clients: building requests, translating errors, reading answers.

`CRSClient` and `AsyncCRSClient` only send what this module builds and hand back what it parses, so
the two cannot drift apart. The one place where httpx's errors become the SDK's is
`map_transport_errors`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import ssl
import sys
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

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
from crs_sdk._converter import from_platform
from crs_sdk._exceptions import (
    APIError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    RequestTimeout,
    TransportError,
    api_error_from_response,
)
from crs_sdk._retry import RetryBudgetTracker, RetryPolicy
from crs_sdk._retry_call import RetryCall
from crs_sdk._version import __version__

if TYPE_CHECKING:
    from crs_sdk._auth import TokenCache
    from crs_sdk._models import Problem

__all__ = [
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "RESOURCES",
    "BodySource",
    "CallState",
    "CertTypes",
    "ClientCore",
    "RequestSpec",
    "VerifyTypes",
    "api_error",
    "attempt_timeout",
    "build_api_request",
    "build_token_request",
    "check_idempotency_key",
    "check_own_http_options",
    "check_url_text",
    "decode_json",
    "derived_idempotency_key",
    "http_client_options",
    "json_body",
    "map_transport_errors",
    "new_idempotency_key",
    "path_segment",
    "raise_for_status",
    "ssl_verify",
    "user_agent",
]

T = TypeVar("T")

CertTypes = str | tuple[str, str] | tuple[str, str, str]
VerifyTypes = ssl.SSLContext | str | bool
ParamValue = str | int
QueryParams = Sequence[tuple[str, ParamValue]]

_PROBLEM_TYPES = ("application/problem+json", "application/json")
_NOT_HEADER_TEXT = re.compile("[^\x20-\x7e]")

#: The longest ``Idempotency-Key`` the contract accepts.
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def user_agent() -> str:
    """``crs-sdk/<version> python/<x.y> httpx/<version>``."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"crs-sdk/{__version__} python/{python} httpx/{httpx.__version__}"


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` (a random UUID)."""
    return str(uuid.uuid4())


def check_url_text(value: str, name: str) -> str:
    """Return ``value``, the caller's argument ``name``, if a URL can carry it.

    A URL carries text as UTF-8, and a ``str`` holding an unpaired surrogate (``"\\ud800"``) has
    no UTF-8 form. The message names the argument and the index, never the value.

    Raises:
        TypeError: ``value`` is not a ``str``.
        ValueError: ``value`` holds an unpaired surrogate.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        found = f"U+{ord(value[exc.start]):04X} at index {exc.start}"
        raise ValueError(
            f"{name} cannot be sent in a URL: it holds an unpaired surrogate ({found})"
        ) from exc
    return value


def check_idempotency_key(value: str | None) -> None:
    """Check the caller's ``idempotency_key`` (``None``: not given) before anything is sent.

    The key is sent as the ``Idempotency-Key`` header, whose value the contract takes as 1 to
    ``MAX_IDEMPOTENCY_KEY_LENGTH`` (255) printable ASCII characters (U+0020..U+007E). An empty key
    is refused, not taken as "not given". The message names the argument and the index, never the
    value.

    Raises:
        TypeError: ``value`` is neither a ``str`` nor ``None``.
        ValueError: ``value`` is empty, longer than 255 characters, or holds a character outside
            printable ASCII.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"idempotency_key must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError("idempotency_key must not be empty: leave it out for a fresh key")
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(
            f"idempotency_key must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters, "
            f"not {len(value)}"
        )
    found = _NOT_HEADER_TEXT.search(value)
    if found is not None:
        where = f"U+{ord(found.group()):04X} at index {found.start()}"
        raise ValueError(
            f"idempotency_key cannot be sent in a header: it must be printable ASCII ({where})"
        )


def derived_idempotency_key(key: str, step: str) -> str:
    """The key ``<key>:<step>``, or its SHA-256 (64 hex digits) when that exceeds 255 characters.

    Deterministic, so that repeating a call derives the same key and the server replays; always
    within the contract's limit, whatever the length of the caller's (valid) key.
    """
    derived = f"{key}:{step}"
    if len(derived) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        return derived
    return hashlib.sha256(derived.encode("utf-8")).hexdigest()


def path_segment(value: str, name: str) -> str:
    """Quote the path parameter ``name`` so that it stays one segment (no ``/``, ``..`` or ``?``).

    Checked before anything is sent; the message names the argument, never the value.

    Raises:
        TypeError: ``value`` is not a ``str``.
        ValueError: ``value`` is empty, or holds an unpaired surrogate (see `check_url_text`).
    """
    check_url_text(value, name)
    if not value:
        raise ValueError(f"{name} must not be empty")
    quoted = urllib.parse.quote(value, safe="")
    # "." and ".." survive quoting and would be resolved by the URL parser.
    return quoted.replace(".", "%2E") if quoted in {".", ".."} else quoted


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
        cls, path: str, body: Any = None, *, idempotency_key: str | None = None
    ) -> RequestSpec:
        """A ``POST`` carrying the caller's idempotency key, or a fresh one."""
        check_idempotency_key(idempotency_key)
        key = new_idempotency_key() if idempotency_key is None else idempotency_key
        return cls("POST", path, json=body, idempotency_key=key)


def attempt_timeout(timeout: httpx.Timeout, remaining: float | None) -> httpx.Timeout:
    """The configured timeout, each part clipped to the time left before the retry deadline."""
    if remaining is None:
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


class BodySource(Protocol):
    """A raw request body read piece by piece as it is sent (an evidence chunk from its file).

    Each attempt iterates it anew, so a resent request sends the same bytes again.
    """

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[bytes | memoryview]: ...

    def __aiter__(self) -> AsyncIterator[bytes | memoryview]: ...


#: Bytes handed to the transport at a time. The sync transport resends the rest of a buffer that
#: the socket took only part of by copying it (``buffer = buffer[n:]``), so one large buffer
#: costs time quadratic in its size; slices of this size keep that copy small, and are few enough
#: that h11's per-write work stays small too (256 KiB: 9% less client CPU per GiB than 64 KiB).
_SEND_SLICE = 256 * 1024


def _slices(data: bytes | memoryview) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), _SEND_SLICE):
        # httpx types raw bodies as bytes; h11 takes any bytes-like object and copies it once.
        yield cast("bytes", view[start : start + _SEND_SLICE])


class _SentOnce:
    """A raw request body that lets go of its bytes once they are sent.

    httpx's responses sit in a reference cycle that holds their request, body included, until the
    garbage collector runs; an uploader sending chunk after chunk would hold several of them.
    A resend builds a new request from the `RequestSpec`.
    """

    def __init__(self, data: bytes | BodySource) -> None:
        self._data: bytes | BodySource | None = data

    def _take(self) -> bytes | BodySource:
        data, self._data = self._data, None
        return b"" if data is None else data


class _SyncSentOnce(_SentOnce):
    def __iter__(self) -> Iterator[bytes]:
        data = self._take()
        if isinstance(data, bytes):
            yield from _slices(data)
            return
        for part in data:
            yield from _slices(part)


class _AsyncSentOnce(_SentOnce):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        data = self._take()
        if isinstance(data, bytes):
            if data:
                yield data  # the async transport queues what the socket does not take at once
            return
        async for part in data:
            yield cast("bytes", part)  # bytes-like, as in _slices


def _raw_body(
    http: httpx.Client | httpx.AsyncClient, data: bytes | BodySource
) -> _SyncSentOnce | _AsyncSentOnce:
    return _AsyncSentOnce(data) if isinstance(http, httpx.AsyncClient) else _SyncSentOnce(data)


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
        content = _raw_body(http, spec.content)
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


@contextlib.contextmanager
def map_transport_errors() -> Iterator[None]:
    """Translate httpx's transport errors into the SDK's, chaining the original.

    The only place where this translation happens; both clients wrap every ``send`` in it.
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RequestTimeout(f"request timed out: {type(exc).__name__}") from exc
    except httpx.ConnectError as exc:
        raise ConnectError(f"cannot connect: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransportError(f"transport error: {type(exc).__name__}: {exc}") from exc
    except httpx.RequestError as exc:  # an unreadable answer (DecodingError), TooManyRedirects
        raise TransportError(f"no usable answer: {type(exc).__name__}: {exc}") from exc


def _is_json(response: httpx.Response) -> bool:
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media in _PROBLEM_TYPES or media.endswith("+json")


def _problem(response: httpx.Response) -> Problem | None:
    if not _is_json(response):
        return None
    from crs_sdk._models._common import Problem  # the models load on first use

    try:
        return from_platform(response.json(), Problem)
    except (DecodeError, ValueError):
        return None


def api_error(response: httpx.Response) -> APIError:
    """The exception for an error answer; its problem is ``None`` when the body is not one."""
    return api_error_from_response(
        response.status_code,
        _problem(response),
        request_id=response.headers.get("x-request-id"),
        headers=response.headers,
    )


def raise_for_status(response: httpx.Response) -> httpx.Response:
    """Return a successful response; raise the matching `APIError` for any other."""
    if response.is_success:
        return response
    raise api_error(response)


def json_body(response: httpx.Response) -> Any:
    """The JSON body of a successful answer.

    Raises:
        DecodeError: the body is not JSON.
    """
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        request_id = response.headers.get("x-request-id", "unknown")
        raise DecodeError(f"the answer is not JSON (request {request_id})") from exc


def decode_json(response: httpx.Response, cls: type[T]) -> T:
    """Decode a successful JSON answer into ``cls``.

    Raises:
        DecodeError: the body is not JSON, or does not fit ``cls`` (the message names the field).
    """
    return from_platform(json_body(response), cls)


def ssl_verify(*, verify: VerifyTypes, cert: CertTypes | None) -> ssl.SSLContext | bool:
    """What to pass as httpx's ``verify``: the SSL context with the client certificate, if any.

    ``verify`` may be a bool, an `ssl.SSLContext`, or the path of a CA bundle; ``cert`` is a
    certificate file, or ``(certfile, keyfile)``, or ``(certfile, keyfile, password)``.
    """
    if cert is None and not isinstance(verify, str):
        return verify
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif isinstance(verify, str):
        context = ssl.create_default_context(cafile=verify)
    else:
        context = httpx.create_ssl_context(verify=verify)
    if cert is not None:
        try:
            if isinstance(cert, str):
                context.load_cert_chain(cert)
            else:
                context.load_cert_chain(*cert)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load the client certificate: {exc}") from exc
    return context


def http_client_options(
    *,
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
    proxy: str | httpx.Proxy | None,
    verify: VerifyTypes,
    cert: CertTypes | None,
    timeout: httpx.Timeout,
) -> Mapping[str, Any]:
    """Keyword arguments for the ``httpx.Client``/``AsyncClient`` a client creates for itself."""
    options: dict[str, Any] = {"verify": ssl_verify(verify=verify, cert=cert), "timeout": timeout}
    if transport is not None:
        options["transport"] = transport
    if proxy is not None:
        options["proxy"] = proxy
    return options


def check_own_http_options(
    *, has_http_client: bool, transport: object, proxy: object, verify: object, cert: object
) -> None:
    """Refuse transport options that would be silently ignored next to ``http_client=``."""
    if not has_http_client:
        return
    given = [
        name
        for name, value in (("transport", transport), ("proxy", proxy), ("cert", cert))
        if value is not None
    ]
    if verify is not True:
        given.append("verify")
    if given:
        raise ConfigurationError(
            f"{', '.join(given)} cannot be combined with http_client=: "
            "configure the http client itself"
        )


# --- the state both clients share ---------------------------------------------------------------


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

        Closing the copy does not close the pool; close the original.
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
