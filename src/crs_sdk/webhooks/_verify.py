"""Verifying a Standard Webhooks delivery before anything reads its body."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final, NoReturn, TypeAlias

import attrs

from crs_sdk._converter import event_from_platform
from crs_sdk._exceptions import DecodeError
from crs_sdk.webhooks._errors import (
    FutureTimestampError,
    InvalidHeaderError,
    InvalidSignatureError,
    MalformedPayloadError,
    MissingHeaderError,
    ReplayedWebhookError,
    StaleTimestampError,
    TimestampError,
)
from crs_sdk.webhooks._replay import DEFAULT_TOLERANCE, ReplayGuard, duration
from crs_sdk.webhooks._sign import (
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    decode_secret,
    keyed_hmac,
    secret_list,
    signature_digest,
)

if TYPE_CHECKING:
    from crs_sdk._models import Event

__all__ = [
    "ADMISSION",
    "Admission",
    "HeaderTypes",
    "SignedDelivery",
    "VerifiedWebhook",
    "WebhookVerifier",
    "header_value",
]

#: Request headers in any common shape: a mapping (``dict``, :class:`httpx.Headers`, a framework's
#: headers object) or ``(name, value)`` pairs, as text or as raw bytes (ASGI). Names are
#: case-insensitive.
HeaderTypes: TypeAlias = (
    Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]
)

_WEBHOOK_ID: Final = re.compile(r"[\x21-\x7e]{1,256}")
# Twelve digits reach the year 33658, beyond datetime's range; more cannot be a real timestamp.
_MAX_DIGITS: Final = 12
_WANTED: Final = frozenset({HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)
_MICROSECONDS: Final = 1_000_000


@attrs.frozen
class VerifiedWebhook:
    """The authenticated headers of a delivery whose signature checked out.

    Attributes:
        webhook_id: The ``webhook-id`` (stable across the sender's retries).
        timestamp: The signed ``webhook-timestamp``, in unix seconds.
    """

    webhook_id: str
    timestamp: int


@attrs.frozen
class SignedDelivery:
    """A delivery whose headers, timestamp and signature checked out; not yet parsed.

    Made by ``WebhookVerifier._check`` and accepted by ``WebhookVerifier._accept``.
    """

    raw: bytes = attrs.field(repr=False)
    verified: VerifiedWebhook
    now: datetime


@attrs.define
class Admission:
    """What ``admit`` (in ``_receive``) learns while it runs ``verifier.verify``.

    ``admit`` calls the public `WebhookVerifier.verify`, so that a subclass's override applies;
    ``WebhookVerifier._accept`` reports here, for the verifier ``admit`` runs, the ``webhook-id``
    once timestamp and signature checked out (``on_signed``, before the replay guard is asked: the
    id is then in progress) and whether the replay guard recorded it.
    """

    verifier: WebhookVerifier
    on_signed: Callable[[str], None]
    webhook_id: str | None = None
    recorded: bool = False

    def claim(self, verifier: WebhookVerifier) -> Admission | None:
        """This admission, if it is for ``verifier`` and no id was reported to it yet."""
        return self if verifier is self.verifier and self.webhook_id is None else None


#: The admission in progress in this context (set by ``admit`` around ``verify``), if any.
ADMISSION: ContextVar[Admission | None] = ContextVar("crs_sdk_webhook_admission", default=None)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _header_items(headers: HeaderTypes) -> Iterable[tuple[str | bytes, str | bytes]]:
    if isinstance(headers, dict):  # the usual case, first
        return headers.items()
    multi_items = getattr(headers, "multi_items", None)
    if callable(multi_items):  # httpx.Headers joins repeated headers in .items()
        items: Iterable[tuple[str | bytes, str | bytes]] = multi_items()
        return items
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def _collect_headers(headers: HeaderTypes) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in _header_items(headers):
        # HTTP header bytes are Latin-1 on the wire (ASGI passes them raw).
        key = (name if type(name) is str else _text(name)).strip().lower()
        if key in _WANTED:
            text = value if type(value) is str else _text(value)
            if key in found:
                found[key].append(text.strip())
            else:
                found[key] = [text.strip()]
    return found


def _single(found: dict[str, list[str]], header: str) -> str:
    given = found.get(header, ())
    if len(given) == 1 and given[0]:  # the usual case
        return given[0]
    values = {value for value in given if value}
    if not values:
        raise MissingHeaderError(header)
    if len(values) > 1:
        raise InvalidHeaderError(header, f"header {header} appears with {len(values)} values")
    return values.pop()


def _signatures(header: str) -> list[bytes]:
    """The decoded ``v1`` signatures in a ``webhook-signature``; other versions are skipped."""
    decoded = []
    for entry in header.split():
        version, comma, value = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            # rstrip: a server that joins repeated headers with ", " leaves a comma behind.
            decoded.append(base64.b64decode(value.rstrip(","), validate=True))
        except (binascii.Error, ValueError):
            continue
    return decoded


def header_value(headers: HeaderTypes, name: str) -> str:
    """The single non-empty value of header ``name`` (lower case).

    Raises:
        MissingHeaderError: It is absent or empty.
        InvalidHeaderError: It appears with several different values.
    """
    return _single(_collect_headers(headers), name)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _parse_event(body: bytes) -> Event:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise MalformedPayloadError(f"webhook body is not UTF-8 JSON: {exc}") from exc
    try:
        return event_from_platform(data)
    except DecodeError as exc:
        raise MalformedPayloadError(f"webhook body is not an Event: {exc}") from exc


class WebhookVerifier:
    """Verifies Standard Webhooks deliveries, then decodes them into typed events.

    :meth:`verify` checks, in this order, and stops at the first failure:

    1. the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers are present
       (names are case-insensitive);
    2. the timestamp is integer unix seconds within ``tolerance`` of the clock, in the past
       *and* in the future;
    3. a ``v1`` signature in the header matches the raw body under one of the secrets
       (compared in constant time; signatures of other versions are ignored);
    4. the ``webhook-id`` was not accepted before (only with a ``replay_guard``);
    5. the body is a JSON Event; only now is it parsed.

    The body is never re-serialised: the signature covers the bytes as they arrived.

    :meth:`verify` is the extension point: :func:`handle_webhook`, :class:`WebhookASGIApp` and
    :class:`WebhookWSGIApp` call it, so a subclass that overrides it (say, to refuse event types
    it does not handle, after ``super().verify()``) is honoured by all of them. An override that
    raises a :class:`WebhookVerificationError` is answered ``400``; if it raises after
    ``super().verify()`` returned, the ``webhook-id`` is released again, so the sender's retry is
    verified anew rather than acknowledged as a duplicate. An override that does not call
    ``super().verify()`` is used as it is; the ``webhook-id`` header then still names the
    delivery for the in-progress state. The replay guard released after a failed handler is the
    guard of the verifier given to them: an override that delegates to another verifier should
    leave the replay guard to the outer one.

    Args:
        secrets: The endpoint secret (``whsec_`` and base64), or several while a secret is being
            rotated: a delivery signed with any of them is accepted.
        tolerance: How far ``webhook-timestamp`` may be from the clock, either way
            (a :class:`~datetime.timedelta` or seconds; default 5 minutes).
        clock: Returns the current time (aware; a naive value is taken as UTC). Defaults to
            ``datetime.now(timezone.utc)``; inject one in tests.
        replay_guard: Remembers accepted ``webhook-id`` values so a captured delivery cannot be
            replayed. Its ``ttl``, if it has one, must be at least ``2 x tolerance``.

    Raises:
        TypeError: ``secrets`` is not a ``str`` or a sequence of ``str`` (``bytes``, say); the
            message never repeats it. Or ``tolerance`` is not a timedelta or a number.
        ValueError: No secret, an invalid secret (the message never repeats it), a negative,
            ``nan`` or infinite tolerance, or a replay guard whose ``ttl`` is too short.

    Example:
        >>> from crs_sdk.webhooks import WebhookVerifier, MemoryReplayGuard
        >>> verifier = WebhookVerifier(
        ...     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", replay_guard=MemoryReplayGuard()
        ... )
        >>> verifier
        WebhookVerifier(secrets=1, tolerance=300.0, replay_guard=MemoryReplayGuard(...))
    """

    def __init__(
        self,
        secrets: str | Sequence[str],
        *,
        tolerance: timedelta | float = DEFAULT_TOLERANCE,
        clock: Callable[[], datetime] | None = None,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        given = secret_list(secrets)
        self._macs = tuple(keyed_hmac(decode_secret(secret)) for secret in given)
        self._tolerance = duration(tolerance, "tolerance")
        self._tolerance_microseconds = self._tolerance // _MICROSECOND
        if self._tolerance < timedelta(0):
            raise ValueError("tolerance must not be negative")
        ttl = getattr(replay_guard, "ttl", None)
        if isinstance(ttl, timedelta) and ttl < 2 * self._tolerance:
            raise ValueError(
                f"replay guard ttl {ttl} is shorter than 2 x tolerance ({2 * self._tolerance}):"
                " a replay could pass both checks"
            )
        self._clock = clock or _utc_now
        self._replay_guard = replay_guard

    def __repr__(self) -> str:
        guard = (
            "None" if self._replay_guard is None else type(self._replay_guard).__name__ + "(...)"
        )
        return (
            f"WebhookVerifier(secrets={len(self._macs)},"
            f" tolerance={self._tolerance.total_seconds()}, replay_guard={guard})"
        )

    @property
    def tolerance(self) -> timedelta:
        """How far ``webhook-timestamp`` may be from the clock, either way."""
        return self._tolerance

    @property
    def replay_guard(self) -> ReplayGuard | None:
        """The replay guard, if any."""
        return self._replay_guard

    def verify(self, body: bytes | str, headers: HeaderTypes) -> Event:
        """Verify one delivery and return its event.

        Args:
            body: The raw request body, exactly as received (a ``str`` is encoded as UTF-8;
                ``bytearray`` and ``memoryview`` are taken too).
            headers: The request headers.

        Returns:
            The typed event; an event type this SDK does not know is an
            :class:`~crs_sdk.UnknownEvent`.

        Raises:
            MissingHeaderError: A Standard Webhooks header is absent or empty.
            InvalidHeaderError: ``webhook-id`` is not printable ASCII, or a header is repeated with
                different values.
            TimestampError: ``webhook-timestamp`` is not integer unix seconds
                (:class:`StaleTimestampError`, :class:`FutureTimestampError`: outside the
                tolerance).
            InvalidSignatureError: No signature matches.
            ReplayedWebhookError: The ``webhook-id`` was already accepted.
            MalformedPayloadError: The body is not an Event. The ``webhook-id`` is then not
                recorded as accepted.
            TypeError: ``body`` is not bytes-like or a ``str`` (a parsed ``dict``, say).
        """
        return self._accept(self._check(body, headers))

    def verify_signature_only(self, body: bytes | str, headers: HeaderTypes) -> VerifiedWebhook:
        """Check headers, timestamp and signature; neither consult the replay guard nor parse.

        For receivers that parse the body themselves or keep their own record of processed ids.

        Raises:
            MissingHeaderError: See :meth:`verify`.
            InvalidHeaderError: See :meth:`verify`.
            TimestampError: See :meth:`verify`.
            InvalidSignatureError: See :meth:`verify`.
        """
        return self._verify_signature(_body_bytes(body), headers, self._now())

    def _check(self, body: bytes | str, headers: HeaderTypes) -> SignedDelivery:
        """Steps 1 to 3 of :meth:`verify`: headers, timestamp, signature. Touches no state."""
        raw = _body_bytes(body)
        now = self._now()
        return SignedDelivery(raw=raw, verified=self._verify_signature(raw, headers, now), now=now)

    def _accept(self, signed: SignedDelivery) -> Event:
        """Steps 4 and 5 of :meth:`verify`: the replay guard, then the body is parsed."""
        webhook_id = signed.verified.webhook_id
        guard = self._replay_guard
        current = ADMISSION.get()
        admission = None if current is None else current.claim(self)
        if admission is not None:
            admission.webhook_id = webhook_id
            admission.on_signed(webhook_id)
        if guard is not None and guard.seen(webhook_id, signed.now):
            raise ReplayedWebhookError(webhook_id)
        if admission is not None:
            admission.recorded = guard is not None
        try:
            return _parse_event(signed.raw)
        except MalformedPayloadError:
            if guard is not None:
                guard.forget(webhook_id)
            if admission is not None:
                admission.recorded = False
            raise

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def _verify_signature(self, raw: bytes, headers: HeaderTypes, now: datetime) -> VerifiedWebhook:
        found = _collect_headers(headers)
        webhook_id = _single(found, HEADER_ID)
        timestamp_text = _single(found, HEADER_TIMESTAMP)
        signature_header = " ".join(found.get(HEADER_SIGNATURE, ())).strip()
        if not signature_header:
            raise MissingHeaderError(HEADER_SIGNATURE)
        if not _WEBHOOK_ID.fullmatch(webhook_id):
            raise InvalidHeaderError(HEADER_ID, "header webhook-id is not 1 to 256 printable ASCII")
        timestamp = self._check_timestamp(timestamp_text, now)
        self._check_signature(raw, webhook_id, timestamp_text, signature_header)
        return VerifiedWebhook(webhook_id=webhook_id, timestamp=timestamp)

    def _check_timestamp(self, text: str, now: datetime) -> int:
        if not (len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()):
            raise TimestampError("header webhook-timestamp is not integer unix seconds")
        timestamp = int(text)
        # Whole microseconds, compared exactly: float seconds could print "300 s old, more than
        # the 300 s tolerance".
        age = (now - _EPOCH) // _MICROSECOND - timestamp * _MICROSECONDS
        tolerance = self._tolerance_microseconds
        if age > tolerance:
            raise StaleTimestampError(
                f"webhook timestamp is {_seconds_over(age, tolerance)} s old,"
                f" more than the {_seconds(tolerance)} s tolerance",
                timestamp=timestamp,
                now=now,
                tolerance=self._tolerance,
            )
        if -age > tolerance:
            raise FutureTimestampError(
                f"webhook timestamp is {_seconds_over(-age, tolerance)} s in the future,"
                f" more than the {_seconds(tolerance)} s tolerance",
                timestamp=timestamp,
                now=now,
                tolerance=self._tolerance,
            )
        return timestamp

    def _check_signature(self, raw: bytes, webhook_id: str, timestamp: str, header: str) -> None:
        candidates = _signatures(header)
        if not candidates:
            raise InvalidSignatureError("header webhook-signature holds no v1 signature")
        matched = False
        for mac in self._macs:
            expected = signature_digest(mac, webhook_id, timestamp, raw)
            for candidate in candidates:
                # No early exit: every comparison runs, each in constant time.
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise InvalidSignatureError(
                f"no v1 signature matches ({len(candidates)} checked"
                f" against {len(self._macs)} secret(s))"
            )


def _seconds(microseconds: int) -> str:
    """``microseconds`` as seconds, exactly, without trailing zeros: ``300``, ``0.5``."""
    whole, fraction = divmod(microseconds, _MICROSECONDS)
    return f"{whole}.{fraction:06d}".rstrip("0").rstrip(".")


def _seconds_over(amount: int, limit: int) -> str:
    """``amount`` microseconds as seconds, rounded down to the fewest decimals that still exceed
    ``limit``: ``301``, ``300.4``, ``300.000001`` for a limit of 300 s."""
    for decimals in range(7):
        unit = 10 ** (6 - decimals)
        shown = amount // unit * unit
        if shown > limit:
            return _seconds(shown)
    return _seconds(amount)  # not over the limit: exact, whatever it says


def _body_bytes(body: bytes | str) -> bytes:
    """The raw body as bytes.

    Raises:
        TypeError: ``body`` is not bytes-like or a ``str``: a parsed body (a ``dict``) cannot be
            verified, and ``bytes()`` would make a wrong body of it (of an ``int``: zero bytes).
    """
    # surrogatepass: a str that no HTTP request could carry still yields bytes, which then simply
    # fail the signature check, instead of an unexpected UnicodeEncodeError.
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    given: object = body  # what the caller passed, whatever its annotation says
    if not isinstance(given, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"body must be the raw request body (bytes or str) exactly as received, not "
            f"{type(given).__name__}: verify it before parsing it"
        )
    return bytes(given)
