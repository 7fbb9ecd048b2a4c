"""Every error the SDK raises, rooted at :class:`CRSError`.

.. code-block:: text

    CRSError
    ├── ConfigurationError              bad or missing client configuration
    ├── InvalidFieldError               a model was built with a value its field refuses
    ├── TransportError                  the request got no HTTP answer (wraps httpx, chained)
    │   ├── ConnectError
    │   └── RequestTimeout
    ├── DecodeError                     the answer does not fit the models (.path, .errors,
    │                                   .request_id)
    ├── RetryError                      retries gave up (.attempts, .last_exception)
    │   ├── DeadlineExceeded
    │   └── RetryBudgetExhausted
    ├── IntegrityError                  evidence hash mismatch (local vs server)
    ├── WaitTimeout                     reports.wait() passed its deadline, or the report
    │                                   settled in a status not waited for (.last_status)
    ├── IncompleteReportError           create_and_submit stopped after creating (.report_id)
    ├── WebhookVerificationError        (in crs_sdk.webhooks) a delivery failed verification
    │   ├── InvalidHeaderError          a header is malformed or repeated (.header)
    │   │   └── MissingHeaderError      a webhook-* header is absent
    │   ├── TimestampError              webhook-timestamp unusable
    │   │   ├── StaleTimestampError     older than the tolerance
    │   │   └── FutureTimestampError    newer than the tolerance
    │   ├── InvalidSignatureError       no signature matches any secret
    │   ├── ReplayedWebhookError        this webhook-id was already accepted
    │   └── MalformedPayloadError       signed, but not a CRS event
    └── APIError                        the server answered with an error
        │                               (.status_code, .problem, .request_id, .headers)
        ├── BadRequestError             400
        ├── AuthenticationError         401
        ├── PermissionDeniedError       403
        ├── NotFoundError               404
        ├── ConflictError               409
        │   ├── InvalidTransitionError  invalid_transition (.current_status)
        │   ├── DuplicateReportError    duplicate_client_reference (.existing_report_id)
        │   ├── DuplicateEvidenceError  duplicate_evidence (.existing_evidence_id,
        │   │                           .local_sha256)
        │   └── IdempotencyConflictError idempotency_key_in_flight
        ├── PayloadTooLargeError        413
        ├── UnsupportedMediaTypeError   415
        ├── ValidationError             422 (.errors)
        │   └── IntegrityMismatchError  integrity_mismatch (also an IntegrityError)
        ├── RateLimitError              429 (.retry_after)
        ├── ChecksumMismatchError       460
        └── ServerError                 5xx
            └── ServiceUnavailableError 503

An :class:`APIError` is built in one place, ``crs_sdk._api_errors.api_error_from_response``,
which picks the class for the status and problem code and writes the message; the message ends
with the request answered (method and path, without the query) and its request id. Messages never
contain request headers or secrets.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from crs_sdk._models._fields import FieldValueError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crs_sdk._enums import ProblemCode, ReportStatus
    from crs_sdk._models import Evidence, FieldError, Problem


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class CRSError(Exception):
    """The base of every error the SDK raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat Exception's default pickling, which replays ``args``.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(CRSError):
    """The client is missing configuration (base URL, credentials) or has an invalid value."""


class TransportError(CRSError):
    """The request got no HTTP answer. The httpx error is chained as ``__cause__``."""


class ConnectError(TransportError):
    """No connection could be made to the server."""


class RequestTimeout(TransportError):  # noqa: N818  # the name reads as the event, like TimeoutError
    """The request timed out (named so as not to shadow the builtin :exc:`TimeoutError`)."""


class DecodeError(CRSError):
    """An answer (or event, or webhook payload) does not fit the models.

    The message of an error about an answer ends with the request it answers, as
    ``(GET /v1/reports/rpt_1, request req_...)``: the platform's support needs the request id.

    Attributes:
        path: Where the first error is, as a JSONPath such as ``$.items[0].url``.
        errors: Every error, each as ``"<what> @ <path>"``.
        request_id: The ``X-Request-Id`` of the answer, if the error is about one that had it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "$",
        errors: tuple[str, ...] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.errors = errors
        self.request_id = request_id


class RetryError(CRSError):
    """Retries gave up before the request succeeded.

    Attributes:
        attempts: How many attempts were made.
        last_exception: The error of the last attempt, if there was one (also ``__cause__``).
    """

    def __init__(
        self, message: str, *, attempts: int, last_exception: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_exception = last_exception


class DeadlineExceeded(RetryError):  # noqa: N818  # the name reads as the event, like TimeoutError
    """The overall deadline across attempts passed."""


class RetryBudgetExhausted(RetryError):  # noqa: N818  # the name reads as the event, like TimeoutError
    """The retry budget is spent: the platform is failing, and the SDK stops adding load."""


class InvalidFieldError(CRSError, FieldValueError):
    """A model was built with a value that its field can never accept; nothing was sent.

    Raised while constructing a request model (``ReportCreate(items=[])``): the message names the
    model and the field, never the value (it may be sensitive). A control character where the
    contract refuses one is named with its index (``... found U+0000 at index 13``).

    Attributes:
        model: The model's class name, e.g. ``"ReportCreate"``.
        field: The field's name, e.g. ``"items"``.
    """

    def __init__(self, model: str, field: str, problem: str) -> None:
        super().__init__(f"{model}.{field} {problem}")
        self.model = model
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.model, self.field, str(self).partition(" ")[2]))


class IntegrityError(CRSError):
    """The evidence the server holds is not the file that was read: the SHA-256 differ.

    Raised by ``evidence.upload`` when the server's SHA-256 of the finished evidence differs from
    the local one, and (as :class:`IntegrityMismatchError`) when the server refused the finished
    upload because its SHA-256 differs from the one declared at creation.

    Attributes:
        local_sha256: The hash computed while reading the file (``None`` if not known where the
            error was raised).
        server_sha256: The hash the server reports (``None`` when it reported none).
    """

    def __init__(
        self, message: str, *, local_sha256: str | None = None, server_sha256: str | None = None
    ) -> None:
        super().__init__(message)
        self.local_sha256 = local_sha256
        self.server_sha256 = server_sha256


class WaitTimeout(CRSError):  # noqa: N818  # the name reads as the event, like TimeoutError
    """``reports.wait()`` passed its deadline before the report reached a wanted status (or the
    platform's ``Retry-After`` asked for no poll before that deadline, or the report reached a
    terminal status that is not one of the ``until`` statuses: it would not move again by itself).

    Attributes:
        report_id: The report waited for.
        last_status: The last status seen, if any was.
    """

    def __init__(
        self, message: str, *, report_id: str | None = None, last_status: ReportStatus | None = None
    ) -> None:
        super().__init__(message)
        self.report_id = report_id
        self.last_status = last_status


class IncompleteReportError(CRSError):
    """``reports.create_and_submit`` stopped after creating the report, which is still a draft.

    Call ``create_and_submit`` again with the same ``idempotency_key`` (``error.idempotency_key``:
    also the one the SDK made when none was given) to resume, or withdraw the draft with
    ``reports.withdraw(error.report_id)``. The error that stopped it is ``__cause__``.

    Attributes:
        report_id: The report that was created.
        evidence: The evidence this call attached before it stopped.
        step: ``"evidence"`` or ``"submit"``: what failed.
        idempotency_key: The call's key, to call again with.
        file_index: The position of the file that failed in the call's list of files
            (``step == "evidence"``), else ``None``.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       ``idempotency_key`` and ``file_index``.
    """

    def __init__(
        self,
        message: str,
        *,
        report_id: str,
        evidence: tuple[Evidence, ...] = (),
        step: str,
        idempotency_key: str | None = None,
        file_index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.report_id = report_id
        self.evidence = evidence
        self.step = step
        self.idempotency_key = idempotency_key
        self.file_index = file_index


class APIError(CRSError):
    """The server answered with an error status.

    Attributes:
        status_code: The HTTP status code.
        problem: The decoded problem body, or ``None`` when the body was not a problem.
        request_id: The ``X-Request-Id`` of the failed request, if known.
        headers: The response headers (never shown in ``str()``).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        problem: Problem | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.problem = problem
        self.request_id = request_id
        self.headers: Mapping[str, str] = headers if headers is not None else {}

    @property
    def code(self) -> ProblemCode | None:
        """The problem code, if the body was a problem that had one."""
        return self.problem.code if self.problem is not None else None


class BadRequestError(APIError):
    """``400``: the request is malformed."""


class AuthenticationError(APIError):
    """``401``: the credentials or the token were refused."""


class PermissionDeniedError(APIError):
    """``403``: the caller may not do this."""


class NotFoundError(APIError):
    """``404``: no such resource for this agency (another agency's is a 404 too)."""


class ConflictError(APIError):
    """``409``: the request conflicts with the resource's state."""


class InvalidTransitionError(ConflictError):
    """``409 invalid_transition``: the report's status does not allow this action."""

    @property
    def current_status(self) -> ReportStatus | None:
        """The report's status when the action was refused."""
        return self.problem.current_status if self.problem is not None else None


class DuplicateReportError(ConflictError):
    """``409 duplicate_client_reference``: the agency already has a report with this reference."""

    @property
    def existing_report_id(self) -> str | None:
        """The report that already has the client reference."""
        return self.problem.existing_report_id if self.problem is not None else None


class DuplicateEvidenceError(ConflictError):
    """``409 duplicate_evidence``: the report already has evidence with these bytes.

    Attributes:
        local_sha256: The SHA-256 of the file ``evidence.upload`` was sending (``None`` where
            the error was not raised by an upload). The evidence with this SHA-256 in
            ``evidence.list()`` is the one the file duplicates, also when the server named
            none (``existing_evidence_id`` is ``None`` after a ``HEAD`` answered ``410`` with
            ``Upload-Error: duplicate_evidence``, e.g. when the answer to the last chunk was
            lost).
    """

    local_sha256: str | None = None

    @property
    def existing_evidence_id(self) -> str | None:
        """The evidence that already holds the bytes."""
        return self.problem.existing_evidence_id if self.problem is not None else None


class IdempotencyConflictError(ConflictError):
    """``409 idempotency_key_in_flight``: a request with the same key is still being processed."""


class PayloadTooLargeError(APIError):
    """``413``: the body (or upload) is too large."""


class UnsupportedMediaTypeError(APIError):
    """``415``: the body's media type is not accepted."""


class ValidationError(APIError):
    """``422``: the request body is invalid."""

    @property
    def errors(self) -> tuple[FieldError, ...]:
        """The invalid fields, each with a JSON pointer into the request body."""
        return self.problem.errors if self.problem is not None else ()


class IntegrityMismatchError(ValidationError, IntegrityError):
    """``422 integrity_mismatch``: the finished upload's SHA-256 is not the one declared at its
    creation; the server discarded it and attached nothing.

    Both a :class:`ValidationError` (the server's answer) and an :class:`IntegrityError` (what it
    means for the evidence): ``server_sha256`` is the problem's ``received_sha256`` (the hash of
    the bytes the server received), and ``evidence.upload`` sets ``local_sha256``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        problem: Problem | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            problem=problem,
            request_id=request_id,
            headers=headers,
        )
        self.server_sha256 = problem.received_sha256 if problem is not None else None


class RateLimitError(APIError):
    """``429``: too many requests."""

    @property
    def retry_after(self) -> float | None:
        """The seconds to wait, read as the retry policy reads them.

        The ``Retry-After`` header (seconds, or an HTTP date counted from now; a negative value or
        a past date gives ``0.0``), else the problem's ``retry_after``; ``None`` when neither
        gives a usable value.
        """
        from crs_sdk._retry_call import retry_after_of  # no import cycle at load time

        return retry_after_of(self, datetime.now(timezone.utc))


class ChecksumMismatchError(APIError):
    """``460``: an upload chunk does not match its ``Upload-Checksum`` (tus checksum extension)."""


class ServerError(APIError):
    """``5xx``: the server failed."""


class ServiceUnavailableError(ServerError):
    """``503``: the server is temporarily unavailable."""
