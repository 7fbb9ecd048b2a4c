"""Signing: the spec's test vector, secrets, headers, and the reference library both ways."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timezone

import pytest
import standardwebhooks

from crs_sdk.webhooks import WebhookVerifier, build_headers, generate_secret, sign
from crs_sdk.webhooks._sign import decode_secret, keyed_hmac, signature_digest, signed_content

# The example in the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_the_specification_example() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_sign_accepts_str_body_datetime_and_unprefixed_secret() -> None:
    moment = datetime.fromtimestamp(SPEC_TIMESTAMP + 0.9, tz=timezone.utc)  # rounded down
    unprefixed = SPEC_SECRET.removeprefix("whsec_")
    assert sign(unprefixed, SPEC_ID, moment, SPEC_BODY.decode()) == SPEC_SIGNATURE
    naive = datetime(2021, 2, 25, 15, 2, 10)  # noqa: DTZ001 - naive is documented as UTC
    assert sign(SPEC_SECRET, SPEC_ID, naive, SPEC_BODY) == SPEC_SIGNATURE


def test_a_keyed_hmac_gives_the_same_digest_and_is_left_unchanged() -> None:
    key = decode_secret(SPEC_SECRET)
    mac = keyed_hmac(key)
    expected = signature_digest(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert base64.b64encode(expected).decode() == SPEC_SIGNATURE.removeprefix("v1,")
    # Used twice, and for another message in between: each digest starts from the bare key.
    assert signature_digest(mac, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == expected
    other = signature_digest(mac, "msg_other", SPEC_TIMESTAMP, SPEC_BODY)
    assert other != expected
    assert signature_digest(mac, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == expected
    assert signed_content(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).endswith(b"." + SPEC_BODY)


def test_generate_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert first != second
    assert decode_secret(first)


@pytest.mark.parametrize("bad", ["whsec_", "whsec_!!!!", "not base64 at all", ""])
def test_invalid_secrets_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(ValueError, match="webhook secret") as excinfo:
        decode_secret(bad)
    if bad.removeprefix("whsec_"):
        assert bad not in str(excinfo.value)
    with pytest.raises(ValueError, match="webhook secret"):
        WebhookVerifier(bad)


@pytest.mark.parametrize(
    ("secrets", "named", "kind"),
    [
        (SPEC_SECRET.encode(), "secrets", "bytes"),
        (bytearray(SPEC_SECRET.encode()), "secrets", "bytearray"),
        ([SPEC_SECRET.encode()], "secrets[0]", "bytes"),
        ([SPEC_SECRET, SPEC_SECRET.encode()], "secrets[1]", "bytes"),
        (None, "secrets", "NoneType"),
    ],
)
def test_a_secret_that_is_not_a_str_is_a_type_error_naming_the_argument(
    secrets: object, named: str, kind: str
) -> None:
    for make in (
        lambda: WebhookVerifier(secrets),  # type: ignore[arg-type]
        lambda: build_headers(secrets, "msg_1", b"{}"),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=rf"^{re.escape(named)} must be a str") as excinfo:
            make()
        assert kind in str(excinfo.value)
        assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in str(excinfo.value)


def test_sign_and_decode_secret_refuse_bytes_naming_the_argument() -> None:
    raw = SPEC_SECRET.encode()
    for make in (
        lambda: sign(raw, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),  # type: ignore[arg-type]
        lambda: decode_secret(raw),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=r"^secret must be a str") as excinfo:
            make()
        assert "not bytes" in str(excinfo.value)
        assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in str(excinfo.value)


def test_unpadded_base64_secret_is_accepted() -> None:
    padded = "whsec_" + base64.b64encode(b"0123456789abcdefghijklmnopqrstu").decode()
    assert padded.endswith("=")
    assert decode_secret(padded.rstrip("=")) == decode_secret(padded)


def test_build_headers_with_two_secrets_signs_twice(secret: str, old_secret: str) -> None:
    headers = build_headers([secret, old_secret], "msg_1", b"{}", timestamp=1_700_000_000)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].split(" ") == [
        sign(secret, "msg_1", 1_700_000_000, b"{}"),
        sign(old_secret, "msg_1", 1_700_000_000, b"{}"),
    ]


def test_build_headers_defaults_to_now_and_needs_a_secret(secret: str) -> None:
    before = int(time.time())
    stamp = int(build_headers(secret, "msg_1", b"{}")["webhook-timestamp"])
    assert before <= stamp <= int(time.time())
    with pytest.raises(ValueError, match="at least one"):
        build_headers([], "msg_1", b"{}")


# --- the reference implementation, both ways --------------------------------------------------


def test_reference_library_verifies_our_signature(
    secret: str, events: dict[str, dict[str, object]]
) -> None:
    body = json.dumps(events["report.decided"]).encode()
    headers = build_headers(secret, "msg_ours", body)  # the reference uses the real clock
    assert standardwebhooks.Webhook(secret).verify(body, headers) == events["report.decided"]


def test_reference_library_verifies_our_rotation_headers(secret: str, old_secret: str) -> None:
    body = b'{"rotated": true}'
    headers = build_headers([old_secret, secret], "msg_rot", body)
    for key in (secret, old_secret):
        assert standardwebhooks.Webhook(key).verify(body, headers) == {"rotated": True}


def test_we_verify_the_reference_library_signature(
    secret: str, events: dict[str, dict[str, object]]
) -> None:
    body = json.dumps(events["report.submitted"])
    moment = datetime.now(timezone.utc)
    signature = standardwebhooks.Webhook(secret).sign("msg_theirs", moment, body)
    headers = {
        "webhook-id": "msg_theirs",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }
    event = WebhookVerifier(secret).verify(body.encode(), headers)
    assert event.id == "evt_000000000001"


def test_reference_and_ours_agree_on_the_signature_value(secret: str) -> None:
    moment = datetime.fromtimestamp(1_750_000_000, tz=timezone.utc)
    theirs = standardwebhooks.Webhook(secret).sign("msg_x", moment, '{"a":1}')
    assert sign(secret, "msg_x", moment, b'{"a":1}') == theirs
