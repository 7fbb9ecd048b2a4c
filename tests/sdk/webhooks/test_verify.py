"""WebhookVerifier: every check, in order, and the typed event at the end."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from crs_sdk import (
    CRSError,
    EventType,
    EvidenceReceivedEvent,
    InfoRequestedEvent,
    ReportDecidedEvent,
    ReportEvent,
    ReportStatus,
    UnknownEvent,
)
from crs_sdk.webhooks import (
    FutureTimestampError,
    InvalidHeaderError,
    InvalidSignatureError,
    MalformedPayloadError,
    MemoryReplayGuard,
    MissingHeaderError,
    ReplayedWebhookError,
    StaleTimestampError,
    TimestampError,
    VerifiedWebhook,
    WebhookVerificationError,
    WebhookVerifier,
    build_headers,
    handle_webhook,
    sign,
)

Clock = Callable[[], datetime]


def test_verify_returns_the_typed_event(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    event = verifier.verify(body, headers)
    assert isinstance(event, ReportEvent)
    assert event.id == "evt_000000000001"
    assert event.type is EventType.REPORT_SUBMITTED
    assert event.data.status is ReportStatus.SUBMITTED
    assert event.data.previous_status is ReportStatus.DRAFT


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [
        ("report.submitted", ReportEvent),
        ("report.info_requested", InfoRequestedEvent),
        ("report.decided", ReportDecidedEvent),
        ("evidence.received", EvidenceReceivedEvent),
        ("report.brand_new_type", UnknownEvent),
    ],
)
def test_each_event_kind_decodes_to_its_class(
    verifier: WebhookVerifier,
    sign_headers: Callable[..., dict[str, str]],
    events: dict[str, dict[str, Any]],
    event_type: str,
    cls: type,
) -> None:
    body = json.dumps(events[event_type]).encode()
    event = verifier.verify(body, sign_headers(body))
    assert isinstance(event, cls)
    assert event.type == event_type


def test_unknown_event_type_is_not_an_error(
    clock: Clock, secret: str, now_seconds: int, events: dict[str, dict[str, Any]]
) -> None:
    body = json.dumps(events["report.brand_new_type"]).encode()
    headers = build_headers(secret, "msg_new", body, timestamp=now_seconds)
    event = WebhookVerifier(secret, clock=clock).verify(body, headers)
    assert isinstance(event, UnknownEvent)
    assert not event.type.is_known
    assert event.data == {"anything": [1, 2, 3]}


def test_str_body_is_encoded_as_utf8(clock: Clock, secret: str, now_seconds: int) -> None:
    payload = {
        "id": "evt_9",
        "type": "report.brand_new_type",
        "timestamp": "2026-11-23T10:15:00Z",
        "data": {"note": "Größe ✓"},
    }
    text = json.dumps(payload, ensure_ascii=False)
    headers = build_headers(secret, "msg_utf8", text.encode(), timestamp=now_seconds)
    event = WebhookVerifier(secret, clock=clock).verify(text, headers)
    assert event.data == {"note": "Größe ✓"}


# --- header shapes ----------------------------------------------------------------------------


def _shapes(headers: dict[str, str]) -> list[Any]:
    return [
        headers,
        {name.upper(): value for name, value in headers.items()},
        {name.title(): value for name, value in headers.items()},
        httpx.Headers(headers),
        list(headers.items()),
        [(name.encode(), value.encode()) for name, value in headers.items()],
        {name.encode(): value.encode() for name, value in headers.items()},
        [*headers.items(), ("content-type", "application/json")],
    ]


@pytest.mark.parametrize("shape", range(8))
def test_header_lookup_accepts_every_shape_case_insensitively(
    clock: Clock, secret: str, body: bytes, headers: dict[str, str], shape: int
) -> None:
    verifier = WebhookVerifier(secret, clock=clock)
    assert verifier.verify(body, _shapes(headers)[shape]).id == "evt_000000000001"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_missing_header(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], missing: str, how: str
) -> None:
    if how == "absent":
        del headers[missing]
    else:
        headers[missing] = "  "
    with pytest.raises(MissingHeaderError) as excinfo:
        verifier.verify(body, headers)
    assert excinfo.value.header == missing
    assert missing in str(excinfo.value)
    assert excinfo.value.code == "missing_header"


def test_no_headers_at_all_names_webhook_id(verifier: WebhookVerifier, body: bytes) -> None:
    with pytest.raises(MissingHeaderError, match="webhook-id"):
        verifier.verify(body, {})


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp"])
def test_repeated_header_with_different_values_is_refused(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], header: str
) -> None:
    pairs = [*headers.items(), (header, headers[header] + "1")]
    with pytest.raises(InvalidHeaderError) as excinfo:
        verifier.verify(body, pairs)
    assert excinfo.value.header == header
    assert type(excinfo.value) is InvalidHeaderError


def test_repeated_header_with_the_same_value_is_fine(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    pairs = [*headers.items(), ("Webhook-Id", headers["webhook-id"])]
    assert verifier.verify(body, pairs).id == "evt_000000000001"


def test_repeated_signature_headers_are_all_candidates(
    verifier: WebhookVerifier, secret: str, now_seconds: int, body: bytes, headers: dict[str, str]
) -> None:
    pairs = [(k, v) for k, v in headers.items() if k != "webhook-signature"]
    pairs += [("webhook-signature", "v1,AAAA"), ("webhook-signature", headers["webhook-signature"])]
    assert verifier.verify(body, pairs).id == "evt_000000000001"
    # httpx.Headers joins repeated headers in .items(); the verifier reads them one by one.
    pairs[0] = ("webhook-id", "msg_other")
    pairs[-1] = ("webhook-signature", sign(secret, "msg_other", now_seconds, body))
    assert verifier.verify(body, httpx.Headers(pairs)).id == "evt_000000000001"


@pytest.mark.parametrize("webhook_id", ["msg with space", "msg_é", "x" * 257, "msg\x00"])
def test_webhook_id_must_be_printable_ascii(
    clock: Clock, secret: str, body: bytes, now_seconds: int, webhook_id: str
) -> None:
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(now_seconds),
        "webhook-signature": "v1,AAAA",
    }
    with pytest.raises(InvalidHeaderError, match="webhook-id"):
        WebhookVerifier(secret, clock=clock).verify(body, headers)


# --- timestamp --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "1.5", "-5", "+1700000000", "1e9", "", "9" * 13, "١٢٣"])
def test_timestamp_must_be_integer_unix_seconds(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], value: str
) -> None:
    headers["webhook-timestamp"] = value
    expected = MissingHeaderError if not value else TimestampError
    with pytest.raises(expected) as excinfo:
        verifier.verify(body, headers)
    assert not isinstance(excinfo.value, (StaleTimestampError, FutureTimestampError))
    assert getattr(excinfo.value, "timestamp", None) is None


@pytest.mark.parametrize(
    ("offset", "error"),
    [
        (-301, StaleTimestampError),
        (-3600, StaleTimestampError),
        (-(10**9), StaleTimestampError),
        (301, FutureTimestampError),
        (86_400, FutureTimestampError),
    ],
)
def test_timestamp_outside_tolerance_is_refused_both_ways(
    verifier: WebhookVerifier,
    sign_headers: Callable[..., dict[str, str]],
    body: bytes,
    offset: int,
    error: type[TimestampError],
) -> None:
    headers = sign_headers(body, offset=offset)
    stamp = int(headers["webhook-timestamp"])
    with pytest.raises(error) as excinfo:
        verifier.verify(body, headers)
    assert isinstance(excinfo.value, TimestampError)
    assert excinfo.value.timestamp == stamp
    assert excinfo.value.tolerance == timedelta(minutes=5)
    assert excinfo.value.now == datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("age", "tolerance", "message"),
    [
        (timedelta(seconds=301), 300, "301 s old, more than the 300 s tolerance"),
        (timedelta(seconds=3600.9), 300, "3600 s old, more than the 300 s tolerance"),
        (timedelta(seconds=300.4), 300, "300.4 s old, more than the 300 s tolerance"),
        (timedelta(seconds=300.999), 300, "300.9 s old, more than the 300 s tolerance"),
        (timedelta(seconds=300, microseconds=1), 300, "300.000001 s old, more than the 300 s"),
        (timedelta(seconds=30.6), 30.5, "30.6 s old, more than the 30.5 s tolerance"),
        (-timedelta(seconds=300.4), 300, "300.4 s in the future, more than the 300 s tolerance"),
        (-timedelta(seconds=302), 300, "302 s in the future, more than the 300 s tolerance"),
    ],
)
def test_timestamp_messages_never_round_to_the_tolerance(  # noqa: PLR0917 - parametrised
    secret: str, now: datetime, body: bytes, age: timedelta, tolerance: float, message: str
) -> None:
    """Rounded to whole seconds, 300.4 s old would read "300 s old, more than the 300 s"."""
    headers = build_headers(secret, "msg_age", body, timestamp=now)
    verifier = WebhookVerifier(secret, tolerance=tolerance, clock=lambda: now + age)
    with pytest.raises(TimestampError) as excinfo:
        verifier.verify(body, headers)
    assert f"webhook timestamp is {message}" in str(excinfo.value)


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamp_within_tolerance_is_accepted(
    clock: Clock, secret: str, now_seconds: int, body: bytes, offset: int
) -> None:
    headers = build_headers(secret, "msg_ok", body, timestamp=now_seconds + offset)
    assert WebhookVerifier(secret, clock=clock).verify(body, headers).id == "evt_000000000001"


def test_tolerance_is_configurable_and_clock_is_injected(
    secret: str, now_seconds: int, body: bytes
) -> None:
    headers = build_headers(secret, "msg_tol", body, timestamp=now_seconds)
    later = datetime.fromtimestamp(now_seconds + 30, tz=timezone.utc)
    naive_later = later.replace(tzinfo=None)  # a naive clock is read as UTC
    assert WebhookVerifier(secret, tolerance=30, clock=lambda: later).verify(body, headers).id
    assert WebhookVerifier(secret, tolerance=30, clock=lambda: naive_later).verify(body, headers).id
    with pytest.raises(StaleTimestampError):
        WebhookVerifier(secret, tolerance=timedelta(seconds=29), clock=lambda: later).verify(
            body, headers
        )
    with pytest.raises(ValueError, match="tolerance"):
        WebhookVerifier(secret, tolerance=-1)


@pytest.mark.parametrize(
    ("tolerance", "error", "says"),
    [
        (float("nan"), ValueError, "tolerance must be a finite number of seconds, got nan"),
        (float("inf"), ValueError, "tolerance must be a finite number of seconds, got inf"),
        ("300", TypeError, "tolerance must be a timedelta or seconds, not str"),
        (None, TypeError, "tolerance must be a timedelta or seconds, not NoneType"),
    ],
)
def test_a_tolerance_that_is_no_duration_is_named(
    secret: str, tolerance: Any, error: type[Exception], says: str
) -> None:
    """Before the fix: ``cannot convert float infinity to integer`` (an OverflowError)."""
    with pytest.raises(error, match=says):
        WebhookVerifier(secret, tolerance=tolerance)


@pytest.mark.parametrize("parsed", [{"type": "report.decided"}, None, 5], ids=repr)
def test_a_body_that_is_not_raw_is_refused_by_name(secret: str, body: bytes, parsed: Any) -> None:
    """Before the fix: ``'str' object cannot be interpreted as an integer`` for a parsed dict,
    and for an int, ``bytes(5)``: a body of five zero bytes that was checked as if received."""
    headers = build_headers(secret, "msg_parsed", body)
    verifier = WebhookVerifier(secret)
    for check in (verifier.verify, verifier.verify_signature_only):
        with pytest.raises(TypeError, match=r"body must be the raw request body .* verify it"):
            check(parsed, headers)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_a_bytes_like_body_is_taken(secret: str, body: bytes, kind: Any) -> None:
    headers = build_headers(secret, "msg_bytes_like", body)
    assert WebhookVerifier(secret).verify(kind(body), headers).id


def test_an_unknown_event_type_with_an_array_as_data_is_handled(secret: str) -> None:
    """Before the fix: MalformedPayloadError, a 400 on every retry of a new type's delivery."""
    body = json.dumps(
        {"id": "evt_9", "type": "report.batch", "timestamp": "2026-11-23T10:25:00Z", "data": [1]}
    ).encode()
    headers = build_headers(secret, "msg_array", body)
    handled: list[Any] = []
    assert handle_webhook(WebhookVerifier(secret), body, headers, handled.append).status == 204
    assert isinstance(handled[0], UnknownEvent)
    assert handled[0].data == [1]


def test_default_clock_is_the_real_time(secret: str, body: bytes) -> None:
    assert WebhookVerifier(secret).verify(body, build_headers(secret, "msg_real", body)).id
    stale = build_headers(secret, "msg_real", body, timestamp=1_000_000_000)
    with pytest.raises(StaleTimestampError):
        WebhookVerifier(secret).verify(body, stale)


# --- signature --------------------------------------------------------------------------------


def test_forged_signature_is_refused(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], now_seconds: int
) -> None:
    forged = sign("whsec_" + "A" * 43 + "=", "msg_0001", now_seconds, body)
    headers["webhook-signature"] = forged
    with pytest.raises(InvalidSignatureError, match="no v1 signature matches"):
        verifier.verify(body, headers)


@pytest.mark.parametrize("position", [0, 10, -2, -1])
def test_one_altered_body_byte_is_refused(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], position: int
) -> None:
    altered = bytearray(body)
    altered[position] ^= 0x01
    with pytest.raises(InvalidSignatureError):
        verifier.verify(bytes(altered), headers)


def test_reserialised_body_is_refused(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert compact != body
    with pytest.raises(InvalidSignatureError):
        verifier.verify(compact, headers)


@pytest.mark.parametrize("field", ["webhook-id", "webhook-timestamp"])
def test_signed_headers_cannot_be_changed(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], field: str
) -> None:
    headers[field] = "msg_9999" if field == "webhook-id" else str(int(headers[field]) + 1)
    with pytest.raises(InvalidSignatureError):
        verifier.verify(body, headers)


@pytest.mark.parametrize(
    "value",
    [
        "v1",
        "v1,",
        "v1,not-base64!",
        "v2,{good_b64}",
        "V1,{good_b64}",
        "v1a,{good_b64}",
        "{good_b64}",
        "v1;{good_b64}",
    ],
)
def test_unusable_signature_entries_never_verify(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str], value: str
) -> None:
    good = headers["webhook-signature"]
    headers["webhook-signature"] = value.format(good=good, good_b64=good.partition(",")[2])
    with pytest.raises(InvalidSignatureError):
        verifier.verify(body, headers)


def test_signature_headers_joined_with_comma_space_still_verify(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    headers["webhook-signature"] = f"{headers['webhook-signature']}, v1,AAAA"
    assert verifier.verify(body, headers).id == "evt_000000000001"


def test_other_versions_are_ignored_next_to_a_valid_v1(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    good = headers["webhook-signature"]
    headers["webhook-signature"] = f"v1a,abcd v2,{good[3:]} garbage v1,AAAA {good}"
    assert verifier.verify(body, headers).id == "evt_000000000001"


# --- rotation ---------------------------------------------------------------------------------


def test_rotation_any_configured_secret_verifies(
    clock: Clock, secret: str, old_secret: str, now_seconds: int, body: bytes
) -> None:
    both = WebhookVerifier([old_secret, secret], clock=clock)
    for signer in (secret, old_secret):
        headers = build_headers(signer, "msg_rot", body, timestamp=now_seconds)
        assert both.verify(body, headers).id == "evt_000000000001"
    only_new = build_headers(secret, "msg_rot", body, timestamp=now_seconds)
    with pytest.raises(InvalidSignatureError):
        WebhookVerifier(old_secret, clock=clock).verify(body, only_new)


@pytest.mark.parametrize("receiver", ["old", "new", "both"])
def test_rotation_two_signatures_verify_with_either_secret(
    secret: str, old_secret: str, body: bytes, receiver: str
) -> None:
    headers = build_headers([secret, old_secret], "msg_rot", body)  # now, on the real clock
    assert len(headers["webhook-signature"].split()) == 2
    secrets = {"old": [old_secret], "new": [secret], "both": [secret, old_secret]}[receiver]
    assert WebhookVerifier(secrets).verify(body, headers).id == "evt_000000000001"


def test_verifier_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WebhookVerifier([])


# --- order of the checks ----------------------------------------------------------------------


def test_timestamp_is_checked_before_the_signature(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    headers["webhook-timestamp"] = "1000000000"  # stale, and the signature no longer matches
    with pytest.raises(StaleTimestampError):
        verifier.verify(body, headers)


def test_signature_is_checked_before_the_body_is_parsed(
    verifier: WebhookVerifier, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidSignatureError):
        verifier.verify(b"not json", headers)


def test_a_forged_replay_is_an_invalid_signature_not_a_replay(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> None:
    verifier.verify(body, headers)
    with pytest.raises(InvalidSignatureError):
        verifier.verify(body + b" ", headers)


# --- replay -----------------------------------------------------------------------------------


def test_replay_is_refused(verifier: WebhookVerifier, body: bytes, headers: dict[str, str]) -> None:
    verifier.verify(body, headers)
    with pytest.raises(ReplayedWebhookError) as excinfo:
        verifier.verify(body, headers)
    assert excinfo.value.webhook_id == "msg_0001"
    assert excinfo.value.code == "replayed"


def test_retry_with_fresh_timestamp_is_still_a_replay(
    verifier: WebhookVerifier, secret: str, now_seconds: int, body: bytes, headers: dict[str, str]
) -> None:
    verifier.verify(body, headers)
    retry = build_headers(secret, "msg_0001", body, timestamp=now_seconds + 5)
    with pytest.raises(ReplayedWebhookError):
        verifier.verify(body, retry)


def test_without_a_guard_replays_are_not_detected(
    clock: Clock, secret: str, body: bytes, headers: dict[str, str]
) -> None:
    verifier = WebhookVerifier(secret, clock=clock)
    assert verifier.replay_guard is None
    assert verifier.verify(body, headers) == verifier.verify(body, headers)


def test_verify_signature_only_neither_records_nor_parses(
    verifier: WebhookVerifier, secret: str, now_seconds: int, headers: dict[str, str], body: bytes
) -> None:
    assert verifier.verify_signature_only(body, headers) == VerifiedWebhook("msg_0001", now_seconds)
    assert verifier.verify_signature_only(body, headers).webhook_id == "msg_0001"
    assert verifier.verify(body, headers).id == "evt_000000000001"  # not recorded before
    junk_headers = build_headers(secret, "msg_junk", b"not json", timestamp=now_seconds)
    assert verifier.verify_signature_only(b"not json", junk_headers).webhook_id == "msg_junk"


def test_guard_with_too_short_ttl_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="shorter than 2 x tolerance"):
        WebhookVerifier(secret, replay_guard=MemoryReplayGuard(ttl=599))
    WebhookVerifier(secret, replay_guard=MemoryReplayGuard(ttl=600))
    with pytest.raises(ValueError, match="shorter"):
        WebhookVerifier(secret, tolerance=3600, replay_guard=MemoryReplayGuard())


# --- the body ---------------------------------------------------------------------------------


def _malformed_bodies(events: dict[str, dict[str, Any]]) -> list[bytes]:
    decided = events["report.decided"]
    decided["data"]["items"][0]["decision"]["decided_at"] = "yesterday"
    return [
        b"",
        b"not json",
        b'{"id": "evt_1"',
        b"\xff\xfe{}",
        b"[1, 2, 3]",
        b'"a string"',
        b"NaN",
        b'{"id": "evt_1", "type": "report.submitted", "timestamp": NaN, "data": {}}',
        b"{}",
        json.dumps({"id": "evt_1", "type": "report.submitted"}).encode(),
        json.dumps({**events["report.submitted"], "timestamp": "not a time"}).encode(),
        json.dumps({**events["report.submitted"], "type": 42}).encode(),
        json.dumps({**events["report.submitted"], "data": {"report_id": "rpt_1"}}).encode(),
        json.dumps(decided).encode(),
        b"[" * 100_000 + b"]" * 100_000,
    ]


@pytest.mark.parametrize("index", range(15))
def test_malformed_payload(
    clock: Clock,
    secret: str,
    now_seconds: int,
    events: dict[str, dict[str, Any]],
    index: int,
) -> None:
    guard = MemoryReplayGuard()
    verifier = WebhookVerifier(secret, clock=clock, replay_guard=guard)
    bad = _malformed_bodies(events)[index]
    headers = build_headers(secret, "msg_bad", bad, timestamp=now_seconds)
    with pytest.raises(MalformedPayloadError) as excinfo:
        verifier.verify(bad, headers)
    assert excinfo.value.code == "malformed_payload"
    assert excinfo.value.__cause__ is not None
    # The id was released: the same delivery is refused the same way, not as a replay.
    with pytest.raises(MalformedPayloadError):
        verifier.verify(bad, headers)
    assert "ids=0" in repr(guard)


def test_decode_error_is_wrapped_with_its_path(
    clock: Clock, secret: str, now_seconds: int, events: dict[str, dict[str, Any]]
) -> None:
    from crs_sdk import DecodeError

    payload = events["report.decided"]
    del payload["data"]["decision"]
    bad = json.dumps(payload).encode()
    headers = build_headers(secret, "msg_bad", bad, timestamp=now_seconds)
    with pytest.raises(MalformedPayloadError, match="decision") as excinfo:
        WebhookVerifier(secret, clock=clock).verify(bad, headers)
    assert isinstance(excinfo.value.__cause__, DecodeError)


# --- exceptions and secrets -------------------------------------------------------------------


def test_every_error_is_a_crs_error() -> None:
    for cls in (
        InvalidHeaderError,
        MissingHeaderError,
        TimestampError,
        StaleTimestampError,
        FutureTimestampError,
        InvalidSignatureError,
        ReplayedWebhookError,
        MalformedPayloadError,
    ):
        assert issubclass(cls, WebhookVerificationError)
    assert issubclass(WebhookVerificationError, CRSError)
    assert issubclass(MissingHeaderError, InvalidHeaderError)


def test_repr_shows_the_number_of_secrets_only(secret: str, old_secret: str) -> None:
    verifier = WebhookVerifier([secret, old_secret], replay_guard=MemoryReplayGuard())
    text = repr(verifier) + str(verifier)
    assert "secrets=2" in text
    for key in (secret, old_secret):
        assert key not in text
        assert key.removeprefix("whsec_") not in text


def _failures(secret: str, now_seconds: int, body: bytes) -> list[tuple[bytes, dict[str, str]]]:
    good = build_headers(secret, "msg_leak", body, timestamp=now_seconds)
    return [
        (body + b"x", good),  # InvalidSignatureError
        (body, {**good, "webhook-signature": "v1,AAAA v2,BBBB"}),
        (body, build_headers(secret, "msg_leak", body, timestamp=now_seconds - 3600)),
        (body, build_headers(secret, "msg_leak", body, timestamp=now_seconds + 3600)),
        (body, {**good, "webhook-timestamp": "soon"}),
        (body, {k: v for k, v in good.items() if k != "webhook-id"}),
        (body, {**good, "webhook-id": "bad id"}),
        (b"{}", build_headers(secret, "msg_leak", b"{}", timestamp=now_seconds)),
        (body, good),  # accepted
        (body, good),  # ReplayedWebhookError
    ]


def test_errors_never_carry_secret_material(
    clock: Clock, secret: str, old_secret: str, now_seconds: int, body: bytes
) -> None:
    verifier = WebhookVerifier([secret, old_secret], clock=clock, replay_guard=MemoryReplayGuard())
    forbidden = {secret, old_secret, secret[6:], old_secret[6:]}
    raised: list[BaseException] = []
    for candidate_body, headers in _failures(secret, now_seconds, body):
        for key in (secret, old_secret):  # the signatures the verifier expects
            forbidden.add(sign(key, "msg_leak", now_seconds, candidate_body).partition(",")[2])
        error = _error_of(verifier, candidate_body, headers)
        while error is not None:  # the error and everything chained to it
            raised.append(error)
            error = error.__cause__ or error.__context__
    assert (
        len({type(error) for error in raised if isinstance(error, WebhookVerificationError)}) == 8
    )
    for error in raised:
        text = f"{error!s} {error!r} {error.args!r} {vars(error)!r}"
        for secret_text in forbidden:
            assert secret_text not in text, type(error).__name__


def _error_of(
    verifier: WebhookVerifier, body: bytes, headers: dict[str, str]
) -> BaseException | None:
    try:
        verifier.verify(body, headers)
    except WebhookVerificationError as exc:
        return exc
    return None
