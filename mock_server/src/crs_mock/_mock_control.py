"""`MockControl`: a test's handle on a mock platform, scoped to the agency the test uses.

It drives the platform through its Python API (the app runs in the test's process, in-process or
under `ThreadedServer`): the virtual clock, forced review outcomes, fault rules and the request
journal. Faults and journal queries are scoped to the control's agency, so tests that share one
server, each with its own agency, never see each other's faults or requests. The clock is the
platform's: shared by every agency of that server.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from crs_mock._faults import ActiveFault, FaultRule
from crs_mock._journal import JournalEntry, JournalFilter
from crs_mock._lifecycle import load_report
from crs_mock._review import ITEM_OUTCOMES

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from starlette.applications import Starlette
    from typing_extensions import Self

    from crs_mock._platform import MockPlatform

__all__ = ["FaultHandle", "MockControl"]

_DEFAULT_WAIT = 5.0


class FaultHandle:
    """A fault rule in force; a context manager that removes it at the end of the block.

    Its counters stay readable after removal (as they were when it was removed).

    .. versionadded:: 0.1.0
    """

    def __init__(self, fault_id: str, platform: MockPlatform) -> None:
        self.id = fault_id
        self.platform = platform
        self._removed: ActiveFault | None = None

    def __repr__(self) -> str:
        return f"<FaultHandle {self.id} {self.rule.rule.action} hits={self.hits}>"

    @property
    def rule(self) -> ActiveFault:
        """The rule with its counters (`hits`, `matches`, `remaining`)."""
        found = self._removed or self.platform.faults.get(self.id)
        if found is None:
            raise LookupError(f"fault rule {self.id} was removed")
        return found

    @property
    def hits(self) -> int:
        """How many requests the rule was applied to."""
        return self.rule.hits

    def remove(self) -> None:
        """Take the rule out of force (the counters are kept on this handle)."""
        if self._removed is None:
            self._removed = self.rule
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
        """Move virtual time forward and apply every review step now due; the new time."""
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
        the scenario markers of its URLs (as ``POST /_mock/reports/{id}/decide``).

        Raises:
            ValueError: an outcome is not an item outcome (``actioned``, ``no_action``,
                ``rejected``, ``content_unavailable``); nothing was changed.
        """
        _check_outcomes([outcome, *(items or {}).values()])
        outcomes: dict[str, str] = {}
        with self.platform.store.transaction() as tx:
            report = load_report(tx, report_id, self.agency_id)
            if outcome is not None:
                outcomes = {item["id"]: outcome for item in report.document["items"]}
            outcomes.update(items or {})
            now = self.platform.clock.now_ms()
            self.platform.review.bring_to_review(tx, report, at_ms=now)
            self.platform.review.decide(tx, report, at_ms=now, outcomes=outcomes, summary=summary)

    def request_info(self, report_id: str, question: str) -> None:
        """Ask the agency for more information on a submitted report, now."""
        with self.platform.store.transaction() as tx:
            report = load_report(tx, report_id, self.agency_id)
            now = self.platform.clock.now_ms()
            self.platform.review.bring_to_review(tx, report, at_ms=now)
            self.platform.review.request_info(tx, report, at_ms=now, question=question)

    # -- faults -----------------------------------------------------------------------------------

    def fault(self, action: str, **fields: Any) -> FaultHandle:
        """Put a fault rule in force for this agency's requests (see `FaultRule` for `fields`).

        ``control.fault("error", operation_id="submitReport", status=503, next_n=1)``
        """
        rule = FaultRule(action=action, **{"agency_id": self.agency_id, **fields})
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

    def requests(self, **filters: Any) -> list[JournalEntry]:
        """This agency's journaled requests, oldest first, filtered by `JournalFilter` fields
        (``method``, ``path`` with ``*`` segments, ``operation_id``, ``status``, ...)."""
        return self.platform.journal.query(self._filter(filters))

    def wait_for_request(self, *, timeout: float = _DEFAULT_WAIT, **filters: Any) -> JournalEntry:
        """Block until a matching request arrives (after this call, unless ``after=`` is given).

        Raises:
            AssertionError: None arrived within `timeout` seconds (real time).
        """
        where = self._filter(filters, after=self.platform.journal.latest_sequence())
        found = self.platform.journal.wait_blocking(where, seconds=timeout)
        return self._first(found, where, timeout)

    async def await_request(
        self,
        *,
        timeout: float = _DEFAULT_WAIT,  # noqa: ASYNC109 - the same call as wait_for_request
        **filters: Any,
    ) -> JournalEntry:
        """`wait_for_request` for async tests (the in-process app needs the event loop free)."""
        latest = await anyio.to_thread.run_sync(self.platform.journal.latest_sequence)
        where = self._filter(filters, after=latest)
        found = await self.platform.journal.wait(where, seconds=timeout)
        return self._first(found, where, timeout)

    def reset(self) -> None:
        """Delete this agency's reports, events, faults and journal."""
        self.platform.reset(self.agency_id)

    def _filter(self, filters: Mapping[str, Any], *, after: int = 0) -> JournalFilter:
        status = filters.get("status", ())
        fields = {
            "after": after,
            **filters,
            "agency_id": self.agency_id,
            "status": (status,) if isinstance(status, int) else tuple(status),
        }
        return JournalFilter(**fields)

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
