"""Standard Webhooks signing: secrets, ``v1`` signatures and delivery headers.

Pure functions: no clock unless the caller leaves one out, no I/O. The mock server signs its
deliveries with :func:`sign`, and the verifier computes the expected signature with the same code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets as _secrets
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "SECRET_PREFIX",
    "build_headers",
    "decode_secret",
    "generate_secret",
    "keyed_hmac",
    "secret_list",
    "sign",
    "signature_digest",
    "signed_content",
    "to_unix_seconds",
]

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret
HEADER_ID: Final = "webhook-id"
HEADER_TIMESTAMP: Final = "webhook-timestamp"
HEADER_SIGNATURE: Final = "webhook-signature"
_SIGNATURE_VERSION: Final = "v1"
_SECRET_BYTES: Final = 32


def decode_secret(secret: str) -> bytes:
    """Return the key bytes of a Standard Webhooks secret.

    ``whsec_`` followed by base64 is the canonical form; as the specification allows, the base64 is
    also accepted without the prefix, and with or without padding.

    Raises:
        TypeError: The secret is not a ``str`` (``bytes``, say).
        ValueError: The secret is not base64 or holds no key bytes.

    Neither message repeats the secret.
    """
    if not isinstance(secret, str):
        raise TypeError(f"secret must be a str ('whsec_' and base64), not {type(secret).__name__}")
    encoded = secret.removeprefix(SECRET_PREFIX).strip()
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def secret_list(secrets: str | Sequence[str]) -> list[str]:
    """Return ``secrets`` (one secret, or several) as a list of at least one.

    Raises:
        TypeError: ``secrets`` is not a ``str`` or a sequence of ``str`` (``bytes``, say). The
            message names the argument and the type, never the value.
        ValueError: No secret was given.
    """
    if isinstance(secrets, str):
        return [secrets]
    # bytes would be iterated as ints; the message names the argument, never its value.
    if isinstance(secrets, (bytes, bytearray, memoryview)):
        raise _not_secrets(secrets)
    try:
        given = list(secrets)
    except TypeError:
        raise _not_secrets(secrets) from None
    for index, secret in enumerate(given):
        if not isinstance(secret, str):
            raise TypeError(f"secrets[{index}] must be a str, not {type(secret).__name__}")
    if not given:
        raise ValueError("at least one webhook secret is required")
    return given


def _not_secrets(value: object) -> TypeError:
    return TypeError(
        "secrets must be a str ('whsec_' and base64) or a sequence of str,"
        f" not {type(value).__name__}"
    )


def generate_secret() -> str:
    """Return a fresh secret: ``whsec_`` and the base64 of 32 random bytes (``secrets`` module)."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def to_unix_seconds(timestamp: int | datetime) -> int:
    """Return ``timestamp`` as integer unix seconds, rounded down.

    A naive :class:`~datetime.datetime` is taken to be UTC.
    """
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        return math.floor(timestamp.timestamp())
    return int(timestamp)


def _signed_prefix(webhook_id: str, timestamp: int | str) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode()


def signed_content(webhook_id: str, timestamp: int | str, body: bytes) -> bytes:
    """Return the bytes that a ``v1`` signature covers: ``{id}.{timestamp}.{body}``.

    ``body`` is the raw request body, exactly as sent; it is never parsed or re-serialised.
    """
    return _signed_prefix(webhook_id, timestamp) + body


def keyed_hmac(key: bytes) -> hmac.HMAC:
    """Return an HMAC-SHA256 keyed with ``key`` and fed nothing yet.

    A verifier keeps one per secret and hands it to :func:`signature_digest`, which works on a
    copy: copying skips the key schedule that a fresh HMAC computes for every delivery.
    """
    return hmac.new(key, digestmod=hashlib.sha256)


def signature_digest(
    key: bytes | hmac.HMAC, webhook_id: str, timestamp: int | str, body: bytes
) -> bytes:
    """Return the raw HMAC-SHA256 of :func:`signed_content` under ``key``.

    ``key`` is the key bytes, or a :func:`keyed_hmac` of them (left unchanged).
    """
    mac = keyed_hmac(key) if isinstance(key, bytes) else key.copy()
    mac.update(_signed_prefix(webhook_id, timestamp))
    mac.update(body)  # the body is not copied into a signed_content() first
    return mac.digest()


def sign(secret: str, webhook_id: str, timestamp: int | datetime, body: bytes | str) -> str:
    """Return the ``v1,<base64>`` signature of one delivery.

    Args:
        secret: The endpoint secret, ``whsec_`` and base64.
        webhook_id: The ``webhook-id`` header's value.
        timestamp: The ``webhook-timestamp``, as unix seconds or a datetime (rounded down to whole
            seconds; naive means UTC).
        body: The exact request body; a ``str`` is encoded as UTF-8.

    Raises:
        TypeError: ``secret`` is not a ``str``.
        ValueError: ``secret`` is not a valid secret.

    Example:
        >>> sign(
        ...     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ...     "msg_p5jXN8AQM9LWM0D4loKWxJek",
        ...     1614265330,
        ...     b'{"test": 2432232314}',
        ... )
        'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    digest = signature_digest(decode_secret(secret), webhook_id, to_unix_seconds(timestamp), raw)
    return f"{_SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def build_headers(
    secrets: str | Sequence[str],
    webhook_id: str,
    body: bytes | str,
    timestamp: int | datetime | None = None,
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one delivery of ``body``.

    Several secrets give several space-separated signatures, as a sender does while a secret is
    being rotated.

    Args:
        secrets: One secret, or several.
        webhook_id: The ``webhook-id``.
        body: The exact request body that will be sent.
        timestamp: The ``webhook-timestamp``; the current time if omitted.

    Raises:
        TypeError: ``secrets`` is not a ``str`` or a sequence of ``str`` (``bytes``, say).
        ValueError: No secret was given, or one is not valid.
    """
    keys = secret_list(secrets)
    seconds = math.floor(time.time()) if timestamp is None else to_unix_seconds(timestamp)
    return {
        HEADER_ID: webhook_id,
        HEADER_TIMESTAMP: str(seconds),
        HEADER_SIGNATURE: " ".join(sign(key, webhook_id, seconds, body) for key in keys),
    }
