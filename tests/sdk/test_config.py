"""Configuration: defaults, arguments over environment, validation, TLS options, secrets."""

from __future__ import annotations

import ssl
import threading
from typing import Any

import attrs
import certifi
import httpx
import pytest

from crs_sdk import AsyncCRSClient, ClientConfig, ConfigurationError, CRSClient, RetryPolicy
from crs_sdk._config import (
    DEFAULT_TIMEOUT,
    HTTPX_DEFAULT_TIMEOUT,
    NOT_GIVEN,
    choose_timeout,
    resolve_config,
    to_timeout,
)
from crs_sdk._http_options import check_own_http_options, http_client_options, ssl_verify

ENV = {
    "CRS_BASE_URL": "https://env.test",
    "CRS_CLIENT_ID": "env-agency",
    "CRS_CLIENT_SECRET": "env-secret",
}


def resolve(environ: dict[str, str] | None = None, **kwargs: Any) -> ClientConfig:
    arguments: dict[str, Any] = {
        "base_url": None,
        "client_id": None,
        "client_secret": None,
        "timeout": DEFAULT_TIMEOUT,
        "retry": None,
        "token_refresh_margin": 60.0,
        "scope": None,
    }
    arguments.update(kwargs)
    return resolve_config(environ=ENV if environ is None else environ, **arguments)


def test_environment_is_the_fallback() -> None:
    config = resolve()
    assert (config.base_url, config.client_id, config.client_secret) == (
        "https://env.test",
        "env-agency",
        "env-secret",
    )


def test_arguments_win_over_the_environment() -> None:
    config = resolve(base_url="https://arg.test", client_id="arg", client_secret="arg-secret")
    assert (config.base_url, config.client_id, config.client_secret) == (
        "https://arg.test",
        "arg",
        "arg-secret",
    )


@pytest.mark.parametrize(
    ("variable", "argument"),
    [
        ("CRS_BASE_URL", "base_url"),
        ("CRS_CLIENT_ID", "client_id"),
        ("CRS_CLIENT_SECRET", "client_secret"),
    ],
)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_values_name_argument_and_variable(
    variable: str, argument: str, value: str | None
) -> None:
    environ = dict(ENV)
    if value is None:
        del environ[variable]
    else:
        environ[variable] = value
    with pytest.raises(ConfigurationError) as info:
        resolve(environ)
    assert f"pass {argument}=" in str(info.value)
    assert variable in str(info.value)


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("https://crs.test", "https://crs.test"),
        ("https://crs.test/", "https://crs.test"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("https://gw.test/crs/", "https://gw.test/crs"),
        ("  https://crs.test  ", "https://crs.test"),
    ],
)
def test_base_url_is_normalised(given: str, normalised: str) -> None:
    assert resolve(base_url=given).base_url == normalised
    assert resolve(base_url=given).token_url == normalised + "/oauth/token"
    assert resolve(base_url=given).api_url("/reports") == normalised + "/v1/reports"


@pytest.mark.parametrize(
    "given",
    [
        "crs.test",
        "ftp://crs.test",
        "https://",
        "https://crs.test/?a=1",
        "https://crs.test/#x",
        "https://user:pw@crs.test",
        "http://[::1",
    ],
)
def test_bad_base_urls(given: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        resolve(base_url=given)


@pytest.mark.parametrize(
    "given", ["ftp://u:hunter2@crs.test", "https://u:hunter2@crs.test", "crs://u:hunter2@"]
)
def test_credentials_in_a_base_url_are_never_repeated(given: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve(base_url=given)
    assert "hunter2" not in str(caught.value)


def refused_where_given(says: str, **option: Any) -> None:
    """``option`` raises `ConfigurationError` matching ``says`` in both constructors and in
    ``with_options``."""
    for cls in (CRSClient, AsyncCRSClient):
        with pytest.raises(ConfigurationError, match=says):
            cls("https://crs.test", client_id="a", client_secret="s", **option)
    client = CRSClient("https://crs.test", client_id="a", client_secret="s")
    with pytest.raises(ConfigurationError, match=says):
        client.with_options(**option)
    client.close()


@pytest.mark.parametrize(
    "margin", [-1.0, -0.001, float("-inf"), float("inf"), float("nan"), "60", None, True]
)
def test_refresh_margin_must_be_finite_and_not_negative(margin: float) -> None:
    with pytest.raises(ConfigurationError, match="token_refresh_margin must be a finite number"):
        resolve(token_refresh_margin=margin)
    with pytest.raises(ConfigurationError, match="token_refresh_margin"):
        CRSClient("https://crs.test", client_id="a", client_secret="s", token_refresh_margin=margin)
    with pytest.raises(ConfigurationError, match="token_refresh_margin"):
        attrs.evolve(resolve(), token_refresh_margin=margin)


@pytest.mark.parametrize("retry", [3, {"max_attempts": 3}, "disabled"])
def test_retry_must_be_a_policy(retry: Any) -> None:
    """Before the fix, the client took it and its first request raised AttributeError."""
    refused_where_given(f"retry must be a RetryPolicy .*, not {type(retry).__name__}", retry=retry)


@pytest.mark.parametrize("margin", [0.0, 0, 0.5, 1e9])
def test_refresh_margins_accepted(margin: float) -> None:
    assert resolve(token_refresh_margin=margin).token_refresh_margin == margin


def test_secret_is_not_in_repr_and_not_stripped() -> None:
    config = resolve(client_secret=" spaced secret ")
    assert config.client_secret == " spaced secret "
    assert "spaced secret" not in repr(config)
    assert "env-agency" in repr(config)


def test_defaults() -> None:
    config = resolve()
    assert config.timeout == httpx.Timeout(30.0, connect=10.0)
    assert config.retry == RetryPolicy()
    assert config.token_refresh_margin == 60.0
    assert config.scope is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (5.0, httpx.Timeout(5.0)),
        (None, httpx.Timeout(None)),
        (httpx.Timeout(1.0, read=9.0), httpx.Timeout(1.0, read=9.0)),
    ],
)
def test_to_timeout(given: Any, expected: httpx.Timeout) -> None:
    assert to_timeout(given) == expected


BAD_TIMEOUTS = [
    (-1.0, "timeout must be"),
    (float("nan"), "timeout must be"),
    (float("inf"), "timeout must be"),
    (threading.TIMEOUT_MAX * 2, "timeout must be"),  # a socket refuses it
    ("30", "timeout must be"),
    (True, "timeout must be"),
    (httpx.Timeout(1.0, read=-1.0), "timeout.read must be"),
    (httpx.Timeout(1.0, pool=float("nan")), "timeout.pool must be"),
    (httpx.Timeout(None, connect=float("-inf")), "timeout.connect must be"),
]


@pytest.mark.parametrize(("timeout", "says"), BAD_TIMEOUTS)
def test_bad_timeouts_are_refused_where_they_are_given(timeout: Any, says: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{says} None or a number of seconds from 0"):
        resolve(timeout=timeout)
    refused_where_given(says, timeout=timeout)
    if isinstance(timeout, httpx.Timeout):
        with pytest.raises(ConfigurationError, match=says):
            attrs.evolve(resolve(), timeout=timeout)


@pytest.mark.parametrize(
    "timeout", [0, 0.0, None, 1e9, threading.TIMEOUT_MAX, httpx.Timeout(None, connect=3.0)]
)
def test_timeouts_accepted(timeout: Any) -> None:
    assert resolve(timeout=timeout).timeout == to_timeout(timeout)


@pytest.mark.parametrize(
    ("timeout", "http_client_timeout", "expected"),
    [
        (NOT_GIVEN, None, DEFAULT_TIMEOUT),
        (NOT_GIVEN, httpx.Timeout(5.0), DEFAULT_TIMEOUT),  # httpx's default: no choice made
        (NOT_GIVEN, httpx.Timeout(0.5), httpx.Timeout(0.5)),
        (NOT_GIVEN, httpx.Timeout(None), httpx.Timeout(None)),
        (NOT_GIVEN, httpx.Timeout(5.0, connect=1.0), httpx.Timeout(5.0, connect=1.0)),
        (7.0, httpx.Timeout(0.5), httpx.Timeout(7.0)),  # given: it wins
        (None, httpx.Timeout(0.5), httpx.Timeout(None)),
        (DEFAULT_TIMEOUT, None, DEFAULT_TIMEOUT),
    ],
)
def test_the_http_clients_timeout_applies_unless_one_is_given(
    timeout: Any, http_client_timeout: httpx.Timeout | None, expected: httpx.Timeout
) -> None:
    assert choose_timeout(timeout, http_client_timeout) == expected
    config = resolve(timeout=timeout, http_client_timeout=http_client_timeout)
    assert config.timeout == expected


def test_httpx_default_timeout_is_httpxs() -> None:
    """What tells an ``http_client`` whose timeout nobody chose; follows httpx's releases."""
    with httpx.Client() as sync_client:
        assert sync_client.timeout == HTTPX_DEFAULT_TIMEOUT
    assert httpx.AsyncClient().timeout == HTTPX_DEFAULT_TIMEOUT


def test_a_bad_timeout_of_the_http_client_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"^http_client's timeout\.read must be"):
        resolve(timeout=NOT_GIVEN, http_client_timeout=httpx.Timeout(1.0, read=-1.0))


def test_config_is_frozen_and_evolvable() -> None:
    config = resolve()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.client_id = "x"  # type: ignore[misc]
    assert attrs.evolve(config, timeout=httpx.Timeout(1.0)).client_secret == "env-secret"


def test_not_given_is_falsy_and_named() -> None:
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"


# --- TLS and transport options ------------------------------------------------------------------


def test_verify_passes_through_without_a_certificate() -> None:
    assert ssl_verify(verify=True, cert=None) is True
    assert ssl_verify(verify=False, cert=None) is False
    context = ssl.create_default_context()
    assert ssl_verify(verify=context, cert=None) is context


def test_verify_path_is_a_ca_bundle(tmp_path: Any) -> None:
    """Before the fix, a missing or unreadable bundle raised a bare FileNotFoundError or
    SSLError that named no argument, and a directory of CA certificates IsADirectoryError."""
    not_a_bundle = tmp_path / "hostname"
    not_a_bundle.write_text("crs-host\n")
    for path in (tmp_path / "missing-ca.pem", not_a_bundle):
        with pytest.raises(ConfigurationError, match="cannot load the CA bundle given as verify="):
            ssl_verify(verify=str(path), cert=None)
        with pytest.raises(ConfigurationError, match="verify="):
            CRSClient("https://crs.test", client_id="a", client_secret="s", verify=str(path))
    assert isinstance(ssl_verify(verify=certifi.where(), cert=None), ssl.SSLContext)
    assert isinstance(ssl_verify(verify=str(tmp_path), cert=None), ssl.SSLContext)  # a capath


def test_client_certificate_loads_into_a_context(tmp_path: Any) -> None:
    certfile = tmp_path / "client.pem"
    certfile.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="client certificate"):
        ssl_verify(verify=True, cert=str(certfile))
    with pytest.raises(ConfigurationError, match="client certificate"):
        ssl_verify(verify=False, cert=(str(certfile), str(certfile)))


def test_http_client_options() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    options = http_client_options(
        transport=transport,
        proxy="http://proxy:3128",
        verify=False,
        cert=None,
        timeout=DEFAULT_TIMEOUT,
    )
    assert options == {
        "transport": transport,
        "proxy": "http://proxy:3128",
        "verify": False,
        "timeout": DEFAULT_TIMEOUT,
    }


def test_own_http_options_are_free_without_http_client() -> None:
    check_own_http_options(
        has_http_client=False, transport=object(), proxy="p", verify=False, cert="c"
    )
    check_own_http_options(has_http_client=True, transport=None, proxy=None, verify=True, cert=None)
    with pytest.raises(ConfigurationError, match="proxy, cert, verify"):
        check_own_http_options(
            has_http_client=True, transport=None, proxy="p", verify=False, cert="c"
        )


def test_a_client_certificate_is_not_loaded_into_the_callers_ssl_context() -> None:
    """It would change the caller's context, and every other client sharing it."""
    context = ssl.create_default_context()
    with pytest.raises(ConfigurationError, match=r"load_cert_chain"):
        ssl_verify(verify=context, cert=("client.crt", "client.key"))
    for make in (CRSClient, AsyncCRSClient):
        with pytest.raises(ConfigurationError, match=r"cert= cannot be given with an ssl"):
            make("https://crs.test", client_id="a", client_secret="s", verify=context, cert="c")
