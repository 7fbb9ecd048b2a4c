"""Property tests: whatever arrives, verify returns an event or raises WebhookVerificationError."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crs_sdk._models import Event
from crs_sdk.webhooks import (
    MalformedPayloadError,
    MemoryReplayGuard,
    WebhookVerificationError,
    WebhookVerifier,
    build_headers,
    sign,
)

SECRET = "whsec_" + base64.b64encode(b"property-test-secret-32-bytes-ok").decode()
NOW = datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)
NOW_SECONDS = int(NOW.timestamp())
EVENT_CLASSES = Event.__args__

NAMES = ["webhook-id", "webhook-timestamp", "webhook-signature"]
header_names = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from([name.upper() for name in NAMES] + ["Webhook-Id", " webhook-id "]),
    st.text(max_size=20),
)
header_text = st.one_of(
    st.text(max_size=80),
    st.integers(-(10**15), 10**15).map(str),
    st.integers(NOW_SECONDS - 600, NOW_SECONDS + 600).map(str),
    st.builds(
        lambda raw, version: f"{version},{base64.b64encode(raw).decode()}",
        st.binary(max_size=40),
        st.sampled_from(["v1", "v2", "v1a", ""]),
    ),
)
header_values = st.one_of(
    header_text, header_text.map(lambda text: text.encode("utf-8", "replace"))
)
header_pairs = st.lists(
    st.tuples(
        st.one_of(header_names, header_names.map(lambda name: name.encode("utf-8", "replace"))),
        header_values,
    ),
    max_size=8,
)
bodies = st.one_of(st.binary(max_size=300), st.text(max_size=300))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=10), json_values),
        "type": st.one_of(
            st.sampled_from(["report.submitted", "report.decided", "evidence.received", "x.y"]),
            json_values,
        ),
        "timestamp": st.one_of(st.just("2026-11-23T10:15:00Z"), json_values),
        "data": st.one_of(
            st.fixed_dictionaries(
                {"report_id": st.just("rpt_1"), "client_reference": st.text(max_size=5)},
                optional={"status": st.sampled_from(["submitted", "new"]), "extra": json_values},
            ),
            json_values,
        ),
    },
)

VALID_EVENT: dict[str, Any] = {
    "id": "evt_000000000001",
    "type": "report.submitted",
    "timestamp": "2026-11-23T10:15:00Z",
    "data": {
        "report_id": "rpt_01",
        "client_reference": "CASE-1",
        "status": "submitted",
        "previous_status": "draft",
    },
}
# A valid event with some top-level members or data members replaced, added or removed.
mutated_events = st.builds(
    lambda top, data, drop: {
        **{k: v for k, v in VALID_EVENT.items() if k != drop},
        **top,
        "data": {**VALID_EVENT["data"], **data},
    },
    st.dictionaries(st.sampled_from(["id", "type", "timestamp", "extra"]), json_values, max_size=2),
    st.dictionaries(
        st.sampled_from(["status", "previous_status", "report_id", "new_member"]),
        st.one_of(st.sampled_from(["in_review", "brand_new_status", None]), json_values),
        max_size=2,
    ),
    st.sampled_from(["", "", "", "id", "timestamp"]),
)


def _verifier() -> WebhookVerifier:
    return WebhookVerifier(SECRET, clock=lambda: NOW, replay_guard=MemoryReplayGuard())


def _outcome(body: bytes | str, headers: Any) -> object:
    try:
        return _verifier().verify(body, headers)
    except WebhookVerificationError as exc:
        return exc


@settings(max_examples=400)
@given(body=bodies, pairs=header_pairs, as_dict=st.booleans())
def test_arbitrary_headers_and_bodies(body: bytes | str, pairs: list[Any], as_dict: bool) -> None:
    headers: Any = dict(pairs) if as_dict else pairs
    result = _outcome(body, headers)
    assert isinstance(result, (WebhookVerificationError, *EVENT_CLASSES))


@settings(max_examples=300)
@given(body=bodies, webhook_id=st.text(max_size=30), offset=st.integers(-400, 400))
def test_arbitrary_signed_bodies(body: bytes | str, webhook_id: str, offset: int) -> None:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(NOW_SECONDS + offset),
        "webhook-signature": sign(SECRET, "msg_fixed", NOW_SECONDS + offset, raw),
    }
    if webhook_id.isascii() and webhook_id.isprintable() and " " not in webhook_id and webhook_id:
        headers["webhook-signature"] = sign(SECRET, webhook_id, NOW_SECONDS + offset, raw)
    result = _outcome(body, headers)
    assert isinstance(result, (WebhookVerificationError, *EVENT_CLASSES))


@settings(max_examples=300)
@given(
    body=st.one_of(
        bodies,
        event_like.map(lambda value: json.dumps(value).encode()),
        mutated_events.map(lambda value: json.dumps(value).encode()),
    )
)
def test_correctly_signed_body_is_an_event_or_malformed(body: bytes | str) -> None:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    headers = build_headers(SECRET, "msg_prop", b"", timestamp=NOW_SECONDS)
    headers["webhook-signature"] = sign(SECRET, "msg_prop", NOW_SECONDS, raw)
    try:
        result = _verifier().verify(body, headers)
    except MalformedPayloadError:
        return
    assert isinstance(result, EVENT_CLASSES)


@given(payload=event_like)
def test_headers_as_dict_list_or_bytes_agree(payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = build_headers(SECRET, "msg_shape", body, timestamp=NOW_SECONDS)
    shapes = [
        headers,
        list(headers.items()),
        [(k.encode(), v.encode()) for k, v in headers.items()],
    ]
    outcomes = {type(_outcome(body, shape)) for shape in shapes}
    assert len(outcomes) == 1
