"""The httpx client a client makes for itself: TLS verification, client certificate, proxy.

A caller who passes ``http_client=`` configures that client; these options (and ``transport=``)
next to it are refused (`check_own_http_options`) rather than silently ignored.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from crs_sdk._exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CertTypes",
    "VerifyTypes",
    "check_own_http_options",
    "http_client_options",
    "ssl_verify",
]

CertTypes = str | tuple[str, str] | tuple[str, str, str]
VerifyTypes = ssl.SSLContext | str | bool


def ssl_verify(*, verify: VerifyTypes, cert: CertTypes | None) -> ssl.SSLContext | bool:
    """What to pass as httpx's ``verify``: the SSL context with the client certificate, if any.

    ``verify`` may be a bool, an `ssl.SSLContext`, or the path of a CA bundle (a file, or a
    directory of hashed certificates); ``cert`` is a certificate file, or ``(certfile, keyfile)``,
    or ``(certfile, keyfile, password)``.

    Raises:
        ConfigurationError: the CA bundle or the client certificate cannot be loaded, or
            ``cert`` comes with an `ssl.SSLContext` (which it would change).
    """
    if cert is None and not isinstance(verify, str):
        return verify
    if isinstance(verify, ssl.SSLContext):
        # Loading the certificate would change the caller's own context (shared, perhaps, by
        # other clients), and a context cannot be copied.
        raise ConfigurationError(
            "cert= cannot be given with an ssl.SSLContext as verify=: load the client "
            "certificate into the context (context.load_cert_chain(...)) and pass it alone"
        )
    if isinstance(verify, str):
        context = _ca_context(verify)
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


def _ca_context(path: str) -> ssl.SSLContext:
    """A verifying context that trusts the CA bundle file ``path`` (or a directory of hashed CA
    certificates, as ``openssl rehash`` makes them).

    Raises:
        ConfigurationError: the path cannot be read or holds no certificate; the message names
            ``verify=``, like the one for ``cert=``.
    """
    try:
        if Path(path).is_dir():
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the CA bundle given as verify=: {exc}") from exc


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
