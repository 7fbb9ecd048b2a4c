"""Client configuration and every default the SDK uses, documented once.

Defaults
--------

==================================  ===========  ==========================================
constant                            value        meaning
==================================  ===========  ==========================================
``DEFAULT_TIMEOUT``                 30 s         per HTTP request (connect: 10 s); a given
                                                 ``http_client``'s own timeout instead, unless
                                                 it is httpx's default (5 s)
``DEFAULT_TOKEN_REFRESH_MARGIN``    60 s         refresh a token this long before it expires
                                                 (capped at half the token's lifetime)
``DEFAULT_TOKEN_REFRESH_COOL_OFF``  5 s          after a failed refresh, the current token is
                                                 used this long (at most half its remaining
                                                 life) before the next refresh is tried
``DEFAULT_UNTIMED_TOKEN_REFRESH``   300 s        refresh a token whose answer has no
                                                 ``expires_in`` this long after it was issued
                                                 (it never expires by itself: a ``401`` ends it)
``DEFAULT_MAX_ATTEMPTS``            5            attempts per call, the first included
``DEFAULT_INITIAL_BACKOFF``         0.5 s        base of the exponential backoff
``DEFAULT_MAX_BACKOFF``             30 s         cap of one backoff
``DEFAULT_RETRY_DEADLINE``          60 s         overall, across attempts and sleeps
``DEFAULT_MAX_RETRY_AFTER``         60 s         longest ``Retry-After`` the SDK waits for
``DEFAULT_RETRY_STATUSES``          408, 429,    statuses worth another attempt
                                    500, 502,
                                    503, 504
``DEFAULT_RETRY_BUDGET_RATIO``      0.2          retries may be 20 % of the requests ...
``DEFAULT_RETRY_BUDGET_MIN``        10           ... plus this many ...
``DEFAULT_RETRY_BUDGET_WINDOW``     10 s         ... over a sliding window of this length
``DEFAULT_WAIT_TIMEOUT``            600 s        ``reports.wait`` gives up after this long
``DEFAULT_POLL_INTERVAL``           1 s          ``reports.wait``: first poll interval
``DEFAULT_MAX_POLL_INTERVAL``       30 s         ``reports.wait``: longest poll interval
``DEFAULT_POLL_BACKOFF_FACTOR``     1.5          ``reports.wait``: growth of the interval (each
                                                 pause is uniform in half to all of it)
``DEFAULT_CHUNK_SIZE``              8 MiB        evidence upload: bytes per ``PATCH`` (read
                                                 from the file as sent: memory holds 1 MiB)
``DEFAULT_RESUME_TTL``              7 days       resume points older than this are dropped
==================================  ===========  ==========================================

``FileResumeStore()`` keeps its file at ``$XDG_CACHE_HOME/crs-sdk/uploads.json``, or
``~/.cache/crs-sdk/uploads.json`` without the variable (on Windows ``%LOCALAPPDATA%`` replaces
``~/.cache``). It holds upload URLs and file hashes only, never a token or a secret.

There is deliberately no default base URL: a client that silently talks to the wrong platform is
worse than one that refuses to start. Pass ``base_url=`` or set ``CRS_BASE_URL``.
"""

from __future__ import annotations

import enum
import math
import os
import threading
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
import httpx

from crs_sdk._exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crs_sdk._retry import RetryPolicy

__all__ = [
    "API_PREFIX",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_INITIAL_BACKOFF",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_POLL_BACKOFF_FACTOR",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RESUME_TTL",
    "DEFAULT_RETRY_BUDGET_MIN",
    "DEFAULT_RETRY_BUDGET_RATIO",
    "DEFAULT_RETRY_BUDGET_WINDOW",
    "DEFAULT_RETRY_DEADLINE",
    "DEFAULT_RETRY_STATUSES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOKEN_REFRESH_COOL_OFF",
    "DEFAULT_TOKEN_REFRESH_MARGIN",
    "DEFAULT_UNTIMED_TOKEN_REFRESH",
    "DEFAULT_WAIT_TIMEOUT",
    "ENV_BASE_URL",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "HTTPX_DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "TOKEN_PATH",
    "ClientConfig",
    "NotGiven",
    "TimeoutTypes",
    "choose_timeout",
    "resolve_config",
    "to_timeout",
]

# --- HTTP -------------------------------------------------------------------------------------
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)
API_PREFIX: Final = "/v1"
TOKEN_PATH: Final = "/oauth/token"  # noqa: S105 - a path, not a secret

# --- tokens -----------------------------------------------------------------------------------
DEFAULT_TOKEN_REFRESH_MARGIN: Final = 60.0
DEFAULT_TOKEN_REFRESH_COOL_OFF: Final = 5.0
DEFAULT_UNTIMED_TOKEN_REFRESH: Final = 300.0

# --- retries ----------------------------------------------------------------------------------
DEFAULT_MAX_ATTEMPTS: Final = 5
DEFAULT_INITIAL_BACKOFF: Final = 0.5
DEFAULT_MAX_BACKOFF: Final = 30.0
DEFAULT_RETRY_DEADLINE: Final = 60.0
DEFAULT_MAX_RETRY_AFTER: Final = 60.0
DEFAULT_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_RETRY_BUDGET_RATIO: Final = 0.2
DEFAULT_RETRY_BUDGET_MIN: Final = 10
DEFAULT_RETRY_BUDGET_WINDOW: Final = 10.0

# --- reports.wait -----------------------------------------------------------------------------
DEFAULT_WAIT_TIMEOUT: Final = 600.0
DEFAULT_POLL_INTERVAL: Final = 1.0
DEFAULT_MAX_POLL_INTERVAL: Final = 30.0
DEFAULT_POLL_BACKOFF_FACTOR: Final = 1.5

# --- evidence uploads ---------------------------------------------------------------------------
DEFAULT_CHUNK_SIZE: Final = 8 * 1024 * 1024
DEFAULT_RESUME_TTL: Final = 7 * 24 * 3600.0

# --- environment ------------------------------------------------------------------------------
ENV_BASE_URL: Final = "CRS_BASE_URL"
ENV_CLIENT_ID: Final = "CRS_CLIENT_ID"
ENV_CLIENT_SECRET: Final = "CRS_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret

TimeoutTypes = float | httpx.Timeout | None


class NotGiven(enum.Enum):
    """Marks an argument that was not passed, as opposed to an explicit ``None``."""

    NOT_GIVEN = enum.auto()

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


#: httpx's own default, which says nothing about what the caller of an ``http_client`` wants.
HTTPX_DEFAULT_TIMEOUT: Final = httpx.Timeout(5.0)


def to_timeout(value: TimeoutTypes, *, name: str = "timeout") -> httpx.Timeout:
    """Normalise a timeout argument: a number of seconds, an ``httpx.Timeout``, or ``None``.

    Raises:
        ConfigurationError: a part is neither ``None`` nor a number of seconds from 0 to
            `threading.TIMEOUT_MAX` (about 292 years: a longer timeout is refused by the socket);
            the message names ``name`` and the part.
    """
    timeout = value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)
    for part, seconds in timeout.as_dict().items():
        if seconds is None or _is_seconds(seconds):
            continue
        where = f"{name}.{part}" if isinstance(value, httpx.Timeout) else name
        raise ConfigurationError(
            f"{where} must be None or a number of seconds from 0 to "
            f"{threading.TIMEOUT_MAX:.0f}, got {seconds!r}"
        )
    return timeout


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 <= value <= threading.TIMEOUT_MAX  # also refuses nan
    )


def choose_timeout(
    timeout: TimeoutTypes | NotGiven, http_client_timeout: httpx.Timeout | None
) -> httpx.Timeout:
    """The client's timeout: ``timeout`` when given; else the ``http_client``'s own, unless it
    is httpx's default (`HTTPX_DEFAULT_TIMEOUT`); else `DEFAULT_TIMEOUT`. Validated (`to_timeout`).
    """
    if not isinstance(timeout, NotGiven):
        return to_timeout(timeout)
    if http_client_timeout is not None and http_client_timeout != HTTPX_DEFAULT_TIMEOUT:
        return to_timeout(http_client_timeout, name="http_client's timeout")
    return DEFAULT_TIMEOUT


def _default_retry_policy() -> RetryPolicy:
    from crs_sdk._retry import RetryPolicy

    return RetryPolicy()


def _seconds_not_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ConfigurationError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _retry_policy(_: object, __: attrs.Attribute[Any], value: object) -> None:
    from crs_sdk._retry import RetryPolicy

    if not isinstance(value, RetryPolicy):
        # Else the first request fails with AttributeError, far from the mistake.
        raise ConfigurationError(
            f"retry must be a RetryPolicy (RetryPolicy(max_attempts=3), RetryPolicy.disabled()),"
            f" not {type(value).__name__}"
        )


def _valid_timeout(_: object, __: attrs.Attribute[Any], value: httpx.Timeout) -> None:
    to_timeout(value)


@attrs.frozen
class ClientConfig:
    """Everything a client needs to know, resolved once; copies are made with ``attrs.evolve``.

    ``client_secret`` is excluded from ``repr()``. A ``token_refresh_margin`` that is not a
    number, or is negative, ``nan`` or infinite, a ``timeout`` part that is not ``None`` or a
    number of seconds >= 0 (at most about 292 years, what a socket takes), or a ``retry`` that is
    not a `RetryPolicy`, raises `ConfigurationError`.
    """

    base_url: str
    client_id: str
    client_secret: str = attrs.field(repr=False)
    timeout: httpx.Timeout = attrs.field(default=DEFAULT_TIMEOUT, validator=_valid_timeout)
    retry: RetryPolicy = attrs.field(factory=_default_retry_policy, validator=_retry_policy)
    token_refresh_margin: float = attrs.field(
        default=DEFAULT_TOKEN_REFRESH_MARGIN, validator=_seconds_not_negative
    )
    scope: str | None = None

    @property
    def token_url(self) -> str:
        """The OAuth 2.0 token endpoint."""
        return self.base_url + TOKEN_PATH

    def api_url(self, path: str) -> str:
        """The absolute URL of an API path such as ``/reports``."""
        return self.base_url + API_PREFIX + path


def _pick(argument: str | None, name: str, variable: str, environ: Mapping[str, str]) -> str:
    value = argument if argument is not None else environ.get(variable, "")
    if not value.strip():
        raise ConfigurationError(f"missing {name}: pass {name}= or set the {variable} variable")
    return value


def _normalise_base_url(value: str) -> str:
    try:
        url = httpx.URL(value.strip())
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {exc}") from exc
    if url.userinfo:
        # It would show in repr() and logs; credentials belong in client_id / client_secret.
        # Checked first: the messages below repeat the URL.
        raise ConfigurationError("base_url must not carry credentials")
    if url.scheme not in {"http", "https"} or not url.host:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL, got {value!r}")
    if url.query or url.fragment:
        raise ConfigurationError("base_url must not carry a query or a fragment")
    return str(url).rstrip("/")


def resolve_config(
    *,
    base_url: str | None,
    client_id: str | None,
    client_secret: str | None,
    timeout: TimeoutTypes | NotGiven,
    retry: RetryPolicy | None,
    token_refresh_margin: float,
    scope: str | None,
    http_client_timeout: httpx.Timeout | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Build a `ClientConfig` from arguments, falling back to the environment.

    ``http_client_timeout`` is the timeout of the caller's ``http_client``, if any: it is the
    client's timeout when ``timeout`` is not given (`choose_timeout`).

    Raises:
        ConfigurationError: a required value is missing (the message names both the argument and
            the environment variable) or malformed, a part of the timeout is not ``None`` or a
            number of seconds >= 0 (the message names it), ``token_refresh_margin`` is not a
            finite number >= 0, or ``retry`` is not a `RetryPolicy`.
    """
    env = os.environ if environ is None else environ
    return ClientConfig(
        base_url=_normalise_base_url(_pick(base_url, "base_url", ENV_BASE_URL, env)),
        client_id=_pick(client_id, "client_id", ENV_CLIENT_ID, env).strip(),
        client_secret=_pick(client_secret, "client_secret", ENV_CLIENT_SECRET, env),
        timeout=choose_timeout(timeout, http_client_timeout),
        retry=_default_retry_policy() if retry is None else retry,
        token_refresh_margin=token_refresh_margin,
        scope=scope,
    )
