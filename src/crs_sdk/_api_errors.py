"""Which `APIError` an error answer becomes, and the message it carries.

The HTTP status picks a class in `STATUS_TO_EXCEPTION`, and the problem ``code`` refines it
through `CODE_TO_EXCEPTION` when the code's class is a subclass of the status's class (the status
wins when the two disagree). `api_error_from_response` is the one place an `APIError` is built.
Messages never contain request headers or secrets.
"""

from __future__ import annotations

import http
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from crs_sdk._enums import ProblemCode
from crs_sdk._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ChecksumMismatchError,
    ConflictError,
    DuplicateEvidenceError,
    DuplicateReportError,
    IdempotencyConflictError,
    IntegrityMismatchError,
    InvalidTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    ValidationError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crs_sdk._models import Problem

__all__ = [
    "CODE_TO_EXCEPTION",
    "STATUS_TO_EXCEPTION",
    "api_error_from_response",
    "exception_class_for",
]


#: The exception class for each HTTP status. Other 5xx give :class:`ServerError`, other statuses
#: :class:`APIError`.
STATUS_TO_EXCEPTION: Final[Mapping[int, type[APIError]]] = MappingProxyType(
    {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        413: PayloadTooLargeError,
        415: UnsupportedMediaTypeError,
        422: ValidationError,
        429: RateLimitError,
        460: ChecksumMismatchError,
        500: ServerError,
        503: ServiceUnavailableError,
    }
)

#: The exception class for each problem code; used when it refines the status's class.
CODE_TO_EXCEPTION: Final[Mapping[ProblemCode, type[APIError]]] = MappingProxyType(
    {
        ProblemCode.VALIDATION_ERROR: ValidationError,
        ProblemCode.INVALID_TRANSITION: InvalidTransitionError,
        ProblemCode.NOT_FOUND: NotFoundError,
        ProblemCode.DUPLICATE_CLIENT_REFERENCE: DuplicateReportError,
        ProblemCode.DUPLICATE_EVIDENCE: DuplicateEvidenceError,
        ProblemCode.IDEMPOTENCY_KEY_IN_FLIGHT: IdempotencyConflictError,
        ProblemCode.UNAUTHORIZED: AuthenticationError,
        ProblemCode.INVALID_CLIENT: AuthenticationError,
        ProblemCode.RATE_LIMITED: RateLimitError,
        ProblemCode.PAYLOAD_TOO_LARGE: PayloadTooLargeError,
        ProblemCode.UNSUPPORTED_MEDIA_TYPE: UnsupportedMediaTypeError,
        ProblemCode.CHECKSUM_MISMATCH: ChecksumMismatchError,
        ProblemCode.INTEGRITY_MISMATCH: IntegrityMismatchError,
        ProblemCode.INTERNAL_ERROR: ServerError,
        ProblemCode.SERVICE_UNAVAILABLE: ServiceUnavailableError,
    }
)


def exception_class_for(status_code: int, code: ProblemCode | None) -> type[APIError]:
    """The class :func:`api_error_from_response` raises for a status and problem code."""
    by_status = STATUS_TO_EXCEPTION.get(status_code)
    if by_status is None:
        by_status = ServerError if 500 <= status_code <= 599 else APIError  # noqa: PLR2004
    by_code = CODE_TO_EXCEPTION.get(code) if code is not None else None
    if by_code is not None and issubclass(by_code, by_status):
        return by_code
    return by_status


def api_error_from_response(
    status_code: int,
    problem: Problem | None,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    request: str | None = None,
) -> APIError:
    """Build the exception for an error answer.

    Args:
        status_code: The HTTP status code.
        problem: The decoded problem body, or ``None`` if the body was not a problem.
        request_id: The ``X-Request-Id`` header; defaults to the problem's ``request_id``.
        headers: The response headers, kept on the exception but never shown in its message.
        request: The request answered, as ``<method> <path>`` (no query: it may hold a cursor),
            named in the message when given.

    Returns:
        An instance of the most specific class for the status and problem code, e.g.
        ``409 invalid_transition: report rpt_1 is submitted; cannot submit
        (POST /v1/reports/rpt_1/submit, request req_1)``.
    """
    if request_id is None and problem is not None:
        request_id = problem.request_id
    cls = exception_class_for(status_code, problem.code if problem is not None else None)
    message = _message(status_code, problem, request_id, request)
    return cls(
        message, status_code=status_code, problem=problem, request_id=request_id, headers=headers
    )


def _message(
    status_code: int, problem: Problem | None, request_id: str | None, request: str | None
) -> str:
    parts = [str(status_code)]
    if problem is not None and problem.code is not None:
        parts.append(f"{problem.code}:")
    elif problem is not None and problem.error is not None:
        parts.append(f"{problem.error}:")
    parts.append(_summary(status_code, problem))
    if problem is not None and problem.errors:
        fields = "; ".join(f"{e.pointer or '/'}: {e.detail}" for e in problem.errors)
        parts[-1] = f"{parts[-1].rstrip('.')}: {fields}"
    where = [part for part in (request, request_id and f"request {request_id}") if part]
    if where:
        parts.append(f"({', '.join(where)})")
    return " ".join(parts)


def _summary(status_code: int, problem: Problem | None) -> str:
    if problem is not None:
        for text in (problem.detail, problem.error_description, problem.title):
            if text:
                return text
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return "error"
