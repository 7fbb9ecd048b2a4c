"""`MockControl`: a test's handle on a mock platform, scoped to the agency the test uses.

It drives the platform through its Python API (the app runs in the test's process, in-process or
under `ThreadedServer`): the virtual clock, forced review outcomes, fault rules and the request
journal. Faults and journal queries are scoped to the control's agency, so tests that share one
server, each with its own agency, never see each other's faults or requests. The clock is the
platform's: shared by every agency of that server.

`MockControl.fault` takes the fields of the control API's ``FaultRuleCreate`` as keyword
arguments, and the journal methods (`MockControl.requests`, `MockControl.wait_for_request`,
`MockControl.await_request`) the query parameters of ``GET /_mock/requests`` (``since`` as a
`datetime`), each typed: a misspelt field is a `TypeError` at the call (and an error for a type
checker), not a rule or a query that silently matches something else.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable  # noqa: TC003 - autodoc resolves the hints
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio.to_thread

from crs_mock._control import ask_now, decide_now
from crs_mock._faults import ActiveFault, FaultRule
from crs_mock._journal import JournalEntry, JournalFilter
from crs_mock._problems import ProblemError
from crs_mock._review import ITEM_OUTCOMES
from crs_mock._validation import check_body

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

    from starlette.applications import Starlette
    from typing_extensions import Self

    from crs_mock._platform import MockPlatform
    from crs_mock._store import Transaction

__all__ = [
    "OWN_AGENCY",
    "FaultAction",
    "FaultHandle",
    "FaultMethod",
    "LatencyDistribution",
    "MockControl",
    "RequestMethod",
]

_DEFAULT_WAIT = 5.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)

#: What a fault rule does (the contract's ``FaultRuleCreate.action``).
FaultAction = Literal[
    "error", "latency", "connection_reset", "drop_response", "malformed_body", "truncated_body"
]
#: The methods a fault rule can match.
FaultMethod = Literal["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"]
#: How a ``latency`` fault's delay is drawn.
LatencyDistribution = Literal["fixed", "uniform", "normal"]
#: The methods of the contract's operations (``PUT`` only for the benchmark sink); a journal
#: query takes any other HTTP method too (a request with one is journaled with its ``405``).
RequestMethod = Literal["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"]


class _OwnAgency(enum.Enum):
    OWN_AGENCY = enum.auto()

    def __repr__(self) -> str:
        return "OWN_AGENCY"


#: The default ``agency_id`` of `MockControl.fault`: the control's agency (`None` is every agency).
OWN_AGENCY: Final = _OwnAgency.OWN_AGENCY


class FaultHandle:
    """A fault rule in force; a context manager that removes it at the end of the block.

    Its counters stay readable after removal (as they were when it was removed). A rule removed
    by other means (a reset, `MockControl.clear_faults`, ``DELETE /_mock/faults``) has no
    counters left to read, and leaving the block then removes nothing.

    .. versionadded:: 0.1.0
    """

    def __init__(self, fault_id: str, platform: MockPlatform) -> None:
        self.id = fault_id
        self.platform = platform
        self._removed: ActiveFault | None = None

    def __repr__(self) -> str:
        found = self._removed or self.platform.faults.get(self.id)
        if found is None:
            return f"<FaultHandle {self.id} removed elsewhere>"
        return f"<FaultHandle {self.id} {found.rule.action} hits={found.hits}>"

    @property
    def rule(self) -> ActiveFault:
        """The rule with its counters (`hits`, `matches`, `remaining`).

        Raises:
            LookupError: The rule was removed by other means before this handle removed it.
        """
        found = self._removed or self.platform.faults.get(self.id)
        if found is None:
            raise LookupError(f"fault rule {self.id} was removed")
        return found

    @property
    def hits(self) -> int:
        """How many requests the rule was applied to (`LookupError` as for `rule`)."""
        return self.rule.hits

    def remove(self) -> None:
        """Take the rule out of force (the counters are kept on this handle); nothing to do if
        it was removed already, here or by other means."""
        if self._removed is None:
            found = self.platform.faults.get(self.id)
            if found is not None:
                self._removed = found
                self.platform.faults.remove(self.id)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()


class MockControl:
    """The test's controls of a mock platform, for one agency.

    Attributes:
        app: The ASGI app.
        platform: The `MockPlatform` behind it (``app.state.mock``).
        agency_id: The agency (OAuth client id) the test's clients use.
        client_secret: Its secret.
        base_url: Where clients reach the app.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, app: Starlette, *, agency_id: str, client_secret: str, base_url: str
    ) -> None:
        self.app = app
        self.platform: MockPlatform = app.state.mock
        self.agency_id = agency_id
        self.client_secret = client_secret
        self.base_url = base_url

    def __repr__(self) -> str:
        return f"<MockControl {self.agency_id} at {self.base_url}>"

    @property
    def client_id(self) -> str:
        return self.agency_id

    # -- time and review --------------------------------------------------------------------------

    def now(self) -> datetime:
        """The platform's virtual time."""
        return datetime.fromtimestamp(self.platform.clock.now(), tz=timezone.utc)

    def advance(self, seconds: float) -> datetime:
        """Move virtual time forward and apply every review step now due; the new time.

        Webhook attempts now due are not waited for: under a server (`crs_mock_server`) its
        background delivery makes them right after; in-process (`crs_mock_app`), await
        ``control.platform.deliver_due()`` to make them.
        """
        self.platform.clock.advance(seconds)
        self.platform.run_due()
        return self.now()

    def freeze(self) -> datetime:
        """Stop virtual time (only `advance` moves it then)."""
        self.platform.clock.freeze()
        return self.now()

    def unfreeze(self) -> datetime:
        """Let virtual time run with real time again."""
        self.platform.clock.unfreeze()
        return self.now()

    def decide(
        self,
        report_id: str,
        outcome: str | None = None,
        *,
        items: Mapping[str, str] | None = None,
        summary: str | None = None,
    ) -> None:
        """Decide a submitted report now: every item `outcome`, or per item id `items`, else by
        the scenario markers of its URLs (as ``POST /_mock/reports/{id}/decide``, with the same
        checks).

        Raises:
            LookupError: The agency has no report `report_id`.
            ValueError: The report is not in ``submitted``, ``acknowledged`` or ``in_review``; an
                outcome is not an item outcome (``actioned``, ``no_action``, ``rejected``,
                ``content_unavailable``); an item id in `items` is not one of the report's; or
                `summary` is empty, too long or holds control characters. Nothing was changed.
        """
        _check_outcomes([outcome, *(items or {}).values()])
        payload: dict[str, Any] = {}
        if outcome is not None:
            payload["outcome"] = outcome
        if items:
            payload["items"] = [{"item_id": key, "outcome": value} for key, value in items.items()]
        if summary is not None:
            payload["summary"] = summary
        self._force(decide_now, "DecisionForce", report_id, payload)

    def request_info(self, report_id: str, question: str) -> None:
        """Ask the agency for more information on a submitted report, now (as ``POST
        /_mock/reports/{id}/request-info``, with the same checks).

        Raises:
            LookupError: The agency has no report `report_id`.
            ValueError: The report is not in ``submitted``, ``acknowledged`` or ``in_review``, or
                `question` is empty, too long or holds control characters. Nothing was changed.
        """
        self._force(ask_now, "InfoRequestForce", report_id, {"question": question})

    def _force(
        self,
        force: Callable[[MockPlatform, Transaction, str, Mapping[str, Any], str], object],
        schema: str,
        report_id: str,
        payload: Mapping[str, Any],
    ) -> None:
        """Run a control-API force in one transaction; its problems as Python exceptions."""
        try:
            check_body(schema, payload)
            with self.platform.store.transaction() as tx:
                force(self.platform, tx, report_id, payload, self.agency_id)
        except ProblemError as problem:
            if problem.code == "not_found":
                raise LookupError(f"no report {report_id} of agency {self.agency_id}") from None
            reasons = [
                f"{error.pointer.split('/')[1]}: {error.detail}" for error in problem.errors
            ] or [str(problem)]
            raise ValueError(f"{'; '.join(reasons)}; nothing was changed") from None

    # -- faults -----------------------------------------------------------------------------------

    def fault(
        self,
        action: FaultAction,
        *,
        agency_id: str | _OwnAgency | None = OWN_AGENCY,
        operation_id: str | None = None,
        method: FaultMethod | None = None,
        path: str | None = None,
        status: int | None = None,
        problem_code: str | None = None,
        retry_after: int | None = None,
        latency_ms: int | None = None,
        latency_distribution: LatencyDistribution = "fixed",
        latency_max_ms: int | None = None,
        latency_stddev_ms: int | None = None,
        probability: float = 1.0,
        seed: int | None = None,
        every_nth: int | None = None,
        next_n: int | None = None,
    ) -> FaultHandle:
        """Put a fault rule in force; the fields are those of the control API's
        ``FaultRuleCreate`` (see `FaultRule` and :doc:`/reference/mock-control-api`).

        ``control.fault("error", operation_id="submitReport", status=503, next_n=1)``

        Args:
            action: What the rule does: ``error``, ``latency``, ``connection_reset``,
                ``drop_response``, ``malformed_body``, ``truncated_body``.
            agency_id: Whose requests it applies to: this control's agency by default, another
                agency's client id, or `None` for every agency's.
            operation_id: Match requests of this operationId.
            method: Match requests with this HTTP method.
            path: Match this path (``*`` matches one segment).
            status: The status an ``error`` answers (4xx or 5xx; required for ``error``).
            problem_code: The problem ``code`` of an ``error`` (default: the one for `status`).
            retry_after: ``Retry-After`` seconds of an ``error``.
            latency_ms: Added latency (required for ``latency``): the fixed delay, the mean of a
                ``normal`` one, the lower bound of a ``uniform`` one.
            latency_distribution: ``fixed``, ``uniform`` or ``normal``.
            latency_max_ms: The upper bound of a ``uniform`` latency.
            latency_stddev_ms: The standard deviation of a ``normal`` latency.
            probability: Chance (0 to 1) that a matching request is struck.
            seed: Seed of the probability and latency draws.
            every_nth: Strike every Nth matching request.
            next_n: Strike the next N matching requests, then stop.

        Raises:
            ValueError: The rule is incomplete or contradictory (an ``error`` without
                ``status``, ...); nothing was put in force.
        """
        rule = FaultRule(
            action=action,
            agency_id=self.agency_id if agency_id is OWN_AGENCY else agency_id,
            operation_id=operation_id,
            method=method,
            path=path,
            status=status,
            problem_code=problem_code,
            retry_after=retry_after,
            latency_ms=latency_ms,
            latency_distribution=latency_distribution,
            latency_max_ms=latency_max_ms,
            latency_stddev_ms=latency_stddev_ms,
            probability=probability,
            seed=seed,
            every_nth=every_nth,
            next_n=next_n,
        )
        return FaultHandle(self.platform.faults.add(rule).id, self.platform)

    def faults(self) -> list[ActiveFault]:
        """This agency's fault rules, oldest first, with their counters."""
        return self.platform.faults.list(self.agency_id)

    def clear_faults(self) -> None:
        self.platform.faults.clear(self.agency_id)

    # -- the journal ------------------------------------------------------------------------------

    def cursor(self) -> int:
        """The journal's position now: pass as ``after=`` to see only later requests."""
        return self.platform.journal.latest_sequence()

    def requests(
        self,
        *,
        method: RequestMethod | str | None = None,
        path: str | None = None,
        operation_id: str | None = None,
        status: int | Iterable[int] = (),
        since: datetime | None = None,
        after: int = 0,
    ) -> list[JournalEntry]:
        """This agency's journaled requests, oldest first; the filters combine with AND and are
        those of ``GET /_mock/requests``.

        Args:
            method: Only requests with this HTTP method (any case; any method, one no operation
                has too).
            path: Only requests to this path (``*`` matches one segment).
            operation_id: Only requests of this operationId.
            status: Only requests answered with this status, or with one of these.
            since: Only requests received at or after this virtual time (a naive `datetime` is
                taken as UTC; `now` gives the current virtual time).
            after: Only requests after this journal position (from `cursor`).

        Raises:
            ValueError: `operation_id` is not an operation outside ``/_mock/`` (only those are
                journaled; the same check applies to `wait_for_request` and `await_request`).
        """
        where = self._filter(method, path, operation_id, status, since, after)
        return self.platform.journal.query(where)

    def wait_for_request(
        self,
        *,
        method: RequestMethod | str | None = None,
        path: str | None = None,
        operation_id: str | None = None,
        status: int | Iterable[int] = (),
        since: datetime | None = None,
        after: int | None = None,
        timeout: float = _DEFAULT_WAIT,
    ) -> JournalEntry:
        """Block until a matching request arrives; the first one. The filters are those of
        `requests`; `after` defaults to the journal's position now (requests after this call).

        Raises:
            AssertionError: None arrived within `timeout` seconds (real time).
        """
        latest = self.platform.journal.latest_sequence() if after is None else after
        where = self._filter(method, path, operation_id, status, since, latest)
        found = self.platform.journal.wait_blocking(where, seconds=timeout)
        return self._first(found, where, timeout)

    async def await_request(
        self,
        *,
        method: RequestMethod | str | None = None,
        path: str | None = None,
        operation_id: str | None = None,
        status: int | Iterable[int] = (),
        since: datetime | None = None,
        after: int | None = None,
        timeout: float = _DEFAULT_WAIT,  # noqa: ASYNC109 - the same call as wait_for_request
    ) -> JournalEntry:
        """`wait_for_request` for async tests (the in-process app needs the event loop free)."""
        if after is None:
            after = await anyio.to_thread.run_sync(self.platform.journal.latest_sequence)
        where = self._filter(method, path, operation_id, status, since, after)
        found = await self.platform.journal.wait(where, seconds=timeout)
        return self._first(found, where, timeout)

    def reset(self) -> None:
        """Delete this agency's data (reports, events, evidence, webhook endpoints, idempotency
        keys), fault rules and journal (`MockPlatform.reset` with its id).

        Raises:
            LookupError: The agency is gone (a full reset drops those added at run time).
        """
        self.platform.reset(self.agency_id)

    def _filter(  # noqa: PLR0917 - one per filter, passed along by the three queries
        self,
        method: str | None,
        path: str | None,
        operation_id: str | None,
        status: int | Iterable[int],
        since: datetime | None,
        after: int,
    ) -> JournalFilter:
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        return JournalFilter(
            agency_id=self.agency_id,
            method=method,
            path=path,
            operation_id=operation_id,
            status=(status,) if isinstance(status, int) else tuple(status),
            since_ms=None if since is None else (since - _EPOCH) // _MILLISECOND,
            after=after,
        )

    @staticmethod
    def _first(found: list[JournalEntry], where: JournalFilter, timeout: float) -> JournalEntry:
        if not found:
            wanted = {
                name: value
                for name in ("method", "path", "operation_id", "status")
                if (value := getattr(where, name))
            }
            msg = f"no request matching {wanted} arrived within {timeout:g} s"
            raise AssertionError(msg)
        return found[0]


def _check_outcomes(outcomes: list[str | None]) -> None:
    wrong = [outcome for outcome in outcomes if outcome not in (None, *ITEM_OUTCOMES)]
    if wrong:
        msg = f"unknown outcome {wrong[0]!r}: an item outcome is one of {', '.join(ITEM_OUTCOMES)}"
        raise ValueError(msg)
