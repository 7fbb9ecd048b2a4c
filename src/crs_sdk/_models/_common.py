"""Models shared by every resource: pages, problems, tokens, health."""

from typing import Generic, TypeVar

import attrs

from crs_sdk._enums import ProblemCode, ReportStatus

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list.

    Attributes:
        data: The items on this page, in list order.
        next_cursor: The cursor for the next page, or ``None`` at the end. For the event log it is
            the event id to pass as ``after``.
    """

    data: list[T]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class FieldError:
    """One invalid field in a ``422`` problem.

    Attributes:
        pointer: A JSON pointer (RFC 6901) into the request body, e.g. ``/items/0/url``.
        detail: What is wrong with it.
    """

    pointer: str
    detail: str


@attrs.frozen(kw_only=True)
class Problem:
    """An error answer in Problem Details form (RFC 9457, ``application/problem+json``).

    Problems may come from something other than a CRS server (a proxy, a gateway), so every member
    is optional here; the members that only some kinds of problem carry are ``None`` otherwise.

    Attributes:
        type: A URI naming the problem type, ``urn:crs:problem:<code>``.
        title: A short summary of the problem type.
        status: The HTTP status code.
        detail: An explanation specific to this occurrence.
        instance: A URI naming this occurrence.
        code: The machine-readable problem code.
        request_id: The ``X-Request-Id`` of the failed request.
        errors: The invalid fields (for ``validation_error``).
        current_status: The report's status (for ``invalid_transition``).
        existing_report_id: The report that already has this client reference
            (for ``duplicate_client_reference``).
        existing_evidence_id: The evidence already holding these bytes (for ``duplicate_evidence``).
        received_sha256: The SHA-256 of the bytes the server received (for
            ``integrity_mismatch``).
        header: The request header field the problem is about (for ``invalid_request`` with
            status ``431``, the largest of the header fields that were too large).
        parameter: The query parameter the problem is about (for ``invalid_request`` with
            status ``400``: a parameter the operation does not define, one sent twice, or a value
            it cannot take).
        retry_after: Seconds to wait before retrying (``rate_limited``, ``service_unavailable``).
        error: The RFC 6749 §5.2 error code (OAuth token endpoint only).
        error_description: The RFC 6749 §5.2 error description (OAuth token endpoint only).
    """

    type: str = "about:blank"
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    code: ProblemCode | None = None
    request_id: str | None = None
    errors: tuple[FieldError, ...] = ()
    current_status: ReportStatus | None = None
    existing_report_id: str | None = None
    existing_evidence_id: str | None = None
    received_sha256: str | None = None
    header: str | None = None
    parameter: str | None = None
    retry_after: float | None = None
    error: str | None = None
    error_description: str | None = None


@attrs.frozen(kw_only=True)
class TokenResponse:
    """An OAuth 2.0 access token (RFC 6749 §5.1). The token never appears in ``repr()``.

    Attributes:
        access_token: The bearer token (RFC 6750). Secret.
        token_type: Always ``Bearer``.
        expires_in: Lifetime in seconds from issue; ``None`` when the server left it out
            (RFC 6749 §5.1 only recommends it).
        scope: The granted scope, if any.
    """

    access_token: str = attrs.field(repr=False)
    token_type: str
    expires_in: int | None = None
    scope: str | None = None


@attrs.frozen(kw_only=True)
class Health:
    """The answer of ``GET /healthz``.

    Attributes:
        status: ``ok`` when the service is up.
    """

    status: str
