"""The exception tree and the table that maps error answers onto it."""

import pickle
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

import crs_sdk
import crs_sdk.webhooks
from crs_sdk import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ChecksumMismatchError,
    ConflictError,
    CRSError,
    DecodeError,
    DuplicateEvidenceError,
    DuplicateReportError,
    FieldError,
    IdempotencyConflictError,
    InvalidTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    Problem,
    ProblemCode,
    RateLimitError,
    ReportStatus,
    RetryBudgetExhausted,
    RetryError,
    ServerError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    ValidationError,
    WaitTimeout,
    _exceptions,
)
from crs_sdk._api_errors import (
    CODE_TO_EXCEPTION,
    STATUS_TO_EXCEPTION,
    api_error_from_response,
)
from crs_sdk._retry_call import retry_after_of


def repickle(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))  # noqa: S301  # bytes this test just produced


def problem(code: str | None = None, **fields: Any) -> Problem:
    return Problem(code=ProblemCode(code) if code else None, **fields)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, None, BadRequestError),
        (400, "invalid_request", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (401, "invalid_client", AuthenticationError),
        (403, None, PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (409, None, ConflictError),
        (409, "invalid_transition", InvalidTransitionError),
        (409, "duplicate_client_reference", DuplicateReportError),
        (409, "duplicate_evidence", DuplicateEvidenceError),
        (409, "idempotency_key_in_flight", IdempotencyConflictError),
        (409, "upload_offset_mismatch", ConflictError),
        (409, "some_future_conflict", ConflictError),
        (413, "payload_too_large", PayloadTooLargeError),
        (415, "unsupported_media_type", UnsupportedMediaTypeError),
        (422, "validation_error", ValidationError),
        (422, "idempotency_key_reused", ValidationError),
        (422, "integrity_mismatch", crs_sdk.IntegrityMismatchError),
        (429, "rate_limited", RateLimitError),
        (460, "checksum_mismatch", ChecksumMismatchError),
        (500, "internal_error", ServerError),
        (502, None, ServerError),
        (503, "service_unavailable", ServiceUnavailableError),
        (503, None, ServiceUnavailableError),
        (504, None, ServerError),
        (599, None, ServerError),
        (418, None, APIError),
        (410, "upload_expired", APIError),
        # the code refines the status only when its class is a subclass of the status's class
        (400, "invalid_transition", BadRequestError),
        (500, "duplicate_evidence", ServerError),
        # an unknown status with a known code takes the code's class
        (499, "invalid_transition", InvalidTransitionError),
        (599, "service_unavailable", ServiceUnavailableError),
    ],
)
def test_status_and_code_pick_the_class(status: int, code: str | None, expected: type) -> None:
    error = api_error_from_response(status, problem(code), request_id="req_1")
    assert type(error) is expected
    assert error.status_code == status
    assert error.request_id == "req_1"


@pytest.mark.parametrize("status", [400, 404, 409, 422, 429, 500, 502, 503, 418])
def test_no_problem_body(status: int) -> None:
    error = api_error_from_response(status, None, request_id=None, headers={})
    assert error.problem is None
    assert error.code is None
    assert isinstance(error, STATUS_TO_EXCEPTION.get(status, APIError))


def test_tables_only_hold_api_errors() -> None:
    for table in (STATUS_TO_EXCEPTION, CODE_TO_EXCEPTION):
        assert all(issubclass(cls, APIError) for cls in table.values())
    with pytest.raises(TypeError):
        STATUS_TO_EXCEPTION[400] = APIError  # type: ignore[index]


def test_message_reads_well() -> None:
    error = api_error_from_response(
        409,
        problem(
            "invalid_transition",
            title="Invalid transition",
            detail="report rpt_x is submitted; cannot submit",
            current_status=ReportStatus.SUBMITTED,
            request_id="req_abc",
        ),
        request_id=None,
        headers={"x-request-id": "req_abc"},
    )
    assert str(error) == (
        "409 invalid_transition: report rpt_x is submitted; cannot submit (request req_abc)"
    )
    assert isinstance(error, InvalidTransitionError)
    assert error.current_status is ReportStatus.SUBMITTED
    assert error.request_id == "req_abc"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, None, "502 Bad Gateway"),
        (499, None, "499 error"),
        (404, problem(title="Not Found"), "404 Not Found"),
        (404, problem("not_found", title="Not Found"), "404 not_found: Not Found"),
        (
            401,
            problem("invalid_client", error="invalid_client", error_description="Unknown client."),
            "401 invalid_client: Unknown client.",
        ),
        (401, problem(error="invalid_client"), "401 invalid_client: Unauthorized"),
    ],
)
def test_message_fallbacks(status: int, body: Problem | None, message: str) -> None:
    assert str(api_error_from_response(status, body)) == message


def test_validation_error_lists_pointers() -> None:
    errors = (
        FieldError(pointer="/items/0/url", detail="must be an absolute http(s) URI"),
        FieldError(pointer="/legal_basis", detail="required when illegal content is claimed"),
    )
    error = api_error_from_response(
        422,
        problem("validation_error", detail="The request body is invalid.", errors=errors),
        request_id="req_2",
    )
    assert isinstance(error, ValidationError)
    assert error.errors == errors
    assert str(error) == (
        "422 validation_error: The request body is invalid: "
        "/items/0/url: must be an absolute http(s) URI; "
        "/legal_basis: required when illegal content is claimed (request req_2)"
    )


def test_conflict_details() -> None:
    duplicate = api_error_from_response(
        409, problem("duplicate_client_reference", existing_report_id="rpt_first")
    )
    assert isinstance(duplicate, DuplicateReportError)
    assert duplicate.existing_report_id == "rpt_first"
    evidence = api_error_from_response(
        409, problem("duplicate_evidence", existing_evidence_id="evd_first")
    )
    assert isinstance(evidence, DuplicateEvidenceError)
    assert evidence.existing_evidence_id == "evd_first"


def test_details_without_a_problem_are_none() -> None:
    assert InvalidTransitionError("x", status_code=409).current_status is None
    assert DuplicateReportError("x", status_code=409).existing_report_id is None
    assert DuplicateEvidenceError("x", status_code=409).existing_evidence_id is None
    assert ValidationError("x", status_code=422).errors == ()
    assert RateLimitError("x", status_code=429).retry_after is None


@pytest.mark.parametrize(
    ("body", "headers", "retry_after"),
    [
        # What the retry policy waits by: the header first, then the problem.
        (problem("rate_limited", retry_after=7.5), {"Retry-After": "1"}, 1.0),
        (problem("rate_limited", retry_after=7.5), {}, 7.5),
        (problem("rate_limited"), {"Retry-After": "12"}, 12.0),
        (problem("rate_limited"), {"retry-after": " 3 "}, 3.0),
        (None, {"RETRY-AFTER": "0"}, 0.0),
        (None, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        (None, {"Retry-After": "-1"}, 0.0),
        (None, {"Retry-After": "nan"}, None),
        (None, {"Retry-After": "inf"}, None),
        (None, {"Retry-After": "soon"}, None),
        (None, {}, None),
    ],
)
def test_retry_after(
    body: Problem | None, headers: dict[str, str], retry_after: float | None
) -> None:
    error = api_error_from_response(429, body, headers=headers)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == retry_after


def test_retry_after_reads_an_http_date_as_the_retry_policy_does() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=90)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    error = api_error_from_response(429, None, headers=headers)
    assert isinstance(error, RateLimitError)
    assert error.retry_after is not None
    assert 80.0 <= error.retry_after <= 90.0  # whole seconds, counted from now
    assert error.retry_after == pytest.approx(
        retry_after_of(error, datetime.now(timezone.utc)), abs=1.0
    )


def test_headers_are_kept_but_never_shown() -> None:
    headers = {"Set-Cookie": "session=SECRET", "X-Request-Id": "req_3"}
    error = api_error_from_response(500, None, request_id="req_3", headers=headers)
    assert error.headers == headers
    assert "SECRET" not in str(error)
    assert "SECRET" not in repr(error)


def test_api_errors_pickle() -> None:
    error = api_error_from_response(
        409,
        problem("invalid_transition", detail="no", current_status=ReportStatus.DRAFT),
        request_id="req_4",
        headers={"X-Request-Id": "req_4"},
    )
    copy = repickle(error)
    assert type(copy) is InvalidTransitionError
    assert str(copy) == str(error)
    assert copy.problem == error.problem
    assert copy.current_status is ReportStatus.DRAFT
    assert copy.headers == {"X-Request-Id": "req_4"}


@pytest.mark.parametrize(
    "error",
    [
        DecodeError("bad", path="$.items[0].url", errors=("x @ $.items[0].url",)),
        RetryBudgetExhausted("gave up", attempts=3, last_exception=None),
        WaitTimeout("late", report_id="rpt_1", last_status=ReportStatus.IN_REVIEW),
        crs_sdk.IntegrityError("hash", local_sha256="a" * 64, server_sha256="b" * 64),
        crs_sdk.ConnectError("refused"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_pickle(error: CRSError) -> None:
    copy = repickle(error)
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_retry_error_keeps_the_last_exception() -> None:
    cause = crs_sdk.RequestTimeout("read timeout")
    error = RetryError("gave up after 3 attempts", attempts=3, last_exception=cause)
    assert error.attempts == 3
    assert error.last_exception is cause


def test_request_timeout_does_not_shadow_the_builtin() -> None:
    assert not hasattr(crs_sdk, "TimeoutError")
    assert not issubclass(crs_sdk.RequestTimeout, TimeoutError)


def tree_from_docstring() -> dict[str, str]:
    """Child -> parent, read from the drawing in the module docstring."""
    doc = _exceptions.__doc__ or ""
    drawing = doc.split(".. code-block:: text", 1)[1].split("\n\n", 2)[1]
    parents: dict[int, str] = {}
    tree: dict[str, str] = {}
    for line in drawing.splitlines():
        stripped = line.strip().lstrip("│├└─ ")
        if not stripped or not stripped[0].isupper():
            continue
        name = stripped.split()[0]
        depth = (len(line) - len(line.lstrip(" │├└─"))) // 4
        parents[depth] = name
        if depth > 1:
            tree[name] = parents[depth - 1]
    return tree


def test_docstring_drawing_matches_the_classes() -> None:
    tree = tree_from_docstring()
    assert len(tree) == 30 + 9  # the webhook branch lives in crs_sdk.webhooks

    def public(name: str) -> type:
        return getattr(crs_sdk, name, None) or getattr(crs_sdk.webhooks, name)

    for name, parent in tree.items():
        assert public(name).__bases__[0] is public(parent), name  # mixins (ValueError) may follow
    defined = {
        name
        for name in crs_sdk.__all__
        if isinstance(obj := getattr(crs_sdk, name), type) and issubclass(obj, CRSError)
    }
    webhook_errors = {
        name
        for name in crs_sdk.webhooks.__all__
        if isinstance(obj := getattr(crs_sdk.webhooks, name), type) and issubclass(obj, CRSError)
    }
    assert defined | webhook_errors == set(tree) | {"CRSError"}


def test_integrity_mismatch_is_a_validation_error_and_an_integrity_error() -> None:
    error = api_error_from_response(422, problem("integrity_mismatch", status=422))
    assert isinstance(error, crs_sdk.IntegrityMismatchError)
    assert isinstance(error, crs_sdk.ValidationError)
    assert isinstance(error, crs_sdk.IntegrityError)
    assert (error.status_code, error.local_sha256, error.server_sha256) == (422, None, None)
    received = "ab" * 32
    error = api_error_from_response(
        422, problem("integrity_mismatch", status=422, received_sha256=received)
    )
    assert isinstance(error, crs_sdk.IntegrityMismatchError)
    assert error.server_sha256 == received
