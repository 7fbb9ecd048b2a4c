"""Fault rules: which requests to break, when, and how.

A `FaultRule` names requests by agency, operation id, method and path pattern (all optional,
combined with AND) and fires by trigger: every Nth match, a seeded probability, at most the next N
times (also combined with AND). `FaultRules` holds the active rules of one platform, oldest first;
for each request the first rule that fires is applied, and the rules after it do not see the
request.

Counters (`matches`, `hits`) are kept in SQLite, so a rule's progress survives a restart. When a
rule fires, its counters are committed before the fault is handed out (waiting for the store if
another request holds it): a ``next_n`` rule never fires again after a restart, even after a kill.
Counts of requests that matched without firing never wait: they are written at once if the store
is free, else by a later call or `FaultRules.flush` (``MockPlatform.close``). A kill can lose only
those, so after one an ``every_nth`` or ``probability`` rule may count a few matches again.
Draws are a pure function of the seed and the match (or hit) number, so a seeded rule makes the same
choices every run, whatever else the server does in between.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from crs_mock._auth import REALM
from crs_mock._clock import format_ms
from crs_mock._operations import PathPattern, faultable_operations
from crs_mock._problems import PROBLEMS, ProblemError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crs_mock._clock import ReviewClock
    from crs_mock._store import Store

__all__ = [
    "ACTIONS",
    "ActiveFault",
    "Fault",
    "FaultRule",
    "FaultRules",
    "InvalidFaultRuleError",
    "RequestInfo",
]

logger = logging.getLogger("crs_mock")

#: Every fault action; the first three strike before the handler runs, the others after it commits.
ACTIONS: Final = (
    "error",
    "latency",
    "connection_reset",
    "drop_response",
    "malformed_body",
    "truncated_body",
)
AFTER_COMMIT: Final = frozenset({"drop_response", "malformed_body", "truncated_body"})
DISTRIBUTIONS: Final = ("fixed", "uniform", "normal")
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"})
_MAX_LATENCY_MS: Final = 600_000
_ERROR_STATUSES: Final = (400, 599)

#: The problem code an `error` fault uses for a status when the rule names none.
DEFAULT_PROBLEM_CODES: Mapping[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    410: "upload_expired",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


_TOKEN_OPERATION: Final = "createToken"  # noqa: S105 - an operation id, not a secret
#: The RFC 6749 section 5.2 ``error`` (and default problem code) of an error fault of the token
#: endpoint, by status.
_TOKEN_CODES: Mapping[int, str] = {400: "invalid_request", 401: "invalid_client"}
#: RFC 6749 section 5.2 error codes: a rule's `problem_code` that is one is also the ``error``.
_OAUTH_ERRORS: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)

#: The rule's fields that are integers in the contract.
_INTEGER_FIELDS = frozenset(
    {
        "status",
        "retry_after",
        "latency_ms",
        "latency_max_ms",
        "latency_stddev_ms",
        "seed",
        "every_nth",
        "next_n",
    }
)


class InvalidFaultRuleError(ValueError):
    """A `FaultRule` that is incomplete or contradictory; `errors` names each failing field.

    Its message joins the problems with ``; ``.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(problem for _, problem in errors))
        #: (field name, what is wrong with it), in the order of the rule's fields.
        self.errors = errors


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    """A fault to inject: the Python twin of the contract's ``FaultRuleCreate``.

    Raises:
        ValueError: The rule is incomplete or contradictory (an ``error`` without ``status``,
            ...), or could never fire (an ``operation_id`` that is not an operation outside
            ``/_mock/``); the message says what is wrong with which field.
    """

    action: str
    agency_id: str | None = None
    operation_id: str | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
    problem_code: str | None = None
    retry_after: int | None = None
    latency_ms: int | None = None
    latency_distribution: str = "fixed"
    latency_max_ms: int | None = None
    latency_stddev_ms: int | None = None
    probability: float = 1.0
    seed: int | None = None
    every_nth: int | None = None
    next_n: int | None = None

    def __post_init__(self) -> None:
        problems = [(name, problem) for name, problem in self._problems() if problem]
        if problems:
            raise InvalidFaultRuleError(problems)

    def _problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong with it) for each check; an empty text where it passes."""
        return [
            (
                "action",
                "" if self.action in ACTIONS else f"action must be one of {', '.join(ACTIONS)}",
            ),
            (
                "operation_id",
                ""
                if self.operation_id is None or self.operation_id in faultable_operations()
                else "operation_id must be the operationId of an operation outside /_mock/",
            ),
            ("method", "" if self.method is None or self.method in _METHODS else "unknown method"),
            (
                "path",
                "" if self.path is None or self.path.startswith("/") else "path must start with /",
            ),
            (
                "status",
                "an error needs a status" if self.action == "error" and self.status is None else "",
            ),
            (
                "status",
                ""
                if self.status is None or _ERROR_STATUSES[0] <= self.status <= _ERROR_STATUSES[1]
                else "status must be 4xx or 5xx",
            ),
            (
                "problem_code",
                "" if self.problem_code in (None, *PROBLEMS) else "unknown problem_code",
            ),
            ("retry_after", "" if (self.retry_after or 0) >= 0 else "retry_after must be >= 0"),
            (
                "probability",
                ""
                if math.isfinite(self.probability) and 0 <= self.probability <= 1
                else "probability must be 0 to 1",
            ),
            # `is None`, not `or 1`: 0 is a count too (every 0th would divide by zero).
            (
                "every_nth",
                "" if self.every_nth is None or self.every_nth >= 1 else "every_nth must be >= 1",
            ),
            ("next_n", "" if self.next_n is None or self.next_n >= 1 else "next_n must be >= 1"),
            self._latency_problem(),
        ]

    def _latency_problem(self) -> tuple[str, str]:
        if self.latency_distribution not in DISTRIBUTIONS:
            return (
                "latency_distribution",
                f"latency_distribution must be one of {', '.join(DISTRIBUTIONS)}",
            )
        values = {
            "latency_ms": self.latency_ms,
            "latency_max_ms": self.latency_max_ms,
            "latency_stddev_ms": self.latency_stddev_ms,
        }
        for name, value in values.items():
            if value is not None and not 0 <= value <= _MAX_LATENCY_MS:
                return name, f"latencies are 0 to {_MAX_LATENCY_MS} ms"
        if self.action == "latency" and self.latency_ms is None:
            return "latency_ms", "a latency needs latency_ms"
        if self.latency_distribution == "uniform" and (
            self.latency_max_ms is None or self.latency_max_ms < (self.latency_ms or 0)
        ):
            return "latency_max_ms", "a uniform latency needs latency_max_ms >= latency_ms"
        if self.latency_distribution == "normal" and self.latency_stddev_ms is None:
            return "latency_stddev_ms", "a normal latency needs latency_stddev_ms"
        return "", ""

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> FaultRule:
        """From a ``FaultRuleCreate`` body (already checked against the contract).

        JSON Schema takes ``503.0`` as an integer; the rule holds ``503`` (a float status or
        ``Retry-After`` would break the answers it makes).
        """
        fields: dict[str, Any] = {
            name: int(value) if name in _INTEGER_FIELDS and isinstance(value, float) else value
            for name, value in payload.items()
        }
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def matches(self, request: RequestInfo) -> bool:
        return (
            (self.agency_id is None or self.agency_id == request.agency_id)
            and (self.operation_id is None or self.operation_id == request.operation_id)
            and (self.method is None or self.method == request.method)
            and (self.path is None or PathPattern(self.path).matches(request.path))
        )


@dataclass(frozen=True)
class RequestInfo:
    """What a rule can match on."""

    method: str
    path: str
    operation_id: str | None
    agency_id: str | None


@dataclass(frozen=True)
class Fault:
    """The decision for one request: which rule fired and what it does to this request."""

    rule_id: str
    action: str
    status: int | None = None
    problem_code: str | None = None
    retry_after: int | None = None
    latency_seconds: float = 0.0

    @property
    def after_commit(self) -> bool:
        """The handler runs (and commits) before this fault strikes."""
        return self.action in AFTER_COMMIT

    def problem(self, *, operation_id: str | None = None, basic: bool = False) -> ProblemError:
        """The problem an ``error`` fault answers with, shaped as the operation's own errors.

        A ``401`` carries the challenge RFC 9110 requires: ``Bearer`` (``error="invalid_token"``),
        or at the token endpoint ``Basic`` when the client authenticated with it (`basic`). A
        ``400`` or ``401`` of the token endpoint (`operation_id` ``createToken``) carries the
        RFC 6749 members ``error`` and ``error_description``, a ``401`` there being
        ``invalid_client`` by default.
        """
        status = self.status or 503
        token_request = operation_id == _TOKEN_OPERATION
        code = self.problem_code or (
            _TOKEN_CODES.get(status) if token_request else DEFAULT_PROBLEM_CODES.get(status)
        )
        if code is None:
            code = "service_unavailable" if status >= 500 else "invalid_request"  # noqa: PLR2004
        detail = f"Injected by the mock server's fault rule {self.rule_id}"
        extensions: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            extensions["retry_after"] = self.retry_after
            headers["Retry-After"] = str(self.retry_after)
        if token_request and status in _TOKEN_CODES:
            extensions["error"] = code if code in _OAUTH_ERRORS else _TOKEN_CODES[status]
            extensions["error_description"] = detail
        if status == 401 and not token_request:  # noqa: PLR2004 - Unauthorized
            headers["WWW-Authenticate"] = f'{REALM}, error="invalid_token"'
        elif status == 401 and basic:  # noqa: PLR2004
            headers["WWW-Authenticate"] = 'Basic realm="crs"'
        return ProblemError(code, detail, status=status, headers=headers, **extensions)


@dataclass
class ActiveFault:
    """A rule in force, with its id and counters (a snapshot when read from `FaultRules`)."""

    id: str
    rule: FaultRule
    created_ms: int
    matches: int = 0
    hits: int = 0

    @property
    def remaining(self) -> int | None:
        """Applications left of a ``next_n`` rule; None without ``next_n``."""
        return None if self.rule.next_n is None else max(0, self.rule.next_n - self.hits)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``FaultRule``."""
        return {
            "id": self.id,
            **self.rule.to_json(),
            "remaining": self.remaining,
            "hits": self.hits,
            "matches": self.matches,
            "created_at": format_ms(self.created_ms),
        }

    def fire(self, request: RequestInfo) -> Fault | None:
        """Count a matching request; the fault when the triggers say this one is hit."""
        rule = self.rule
        if self.remaining == 0 or not rule.matches(request):
            return None
        self.matches += 1
        if rule.every_nth is not None and self.matches % rule.every_nth:
            return None
        if rule.probability < 1 and _draw(rule.seed, "probability", self.matches).random() >= (
            rule.probability
        ):
            return None
        self.hits += 1
        return Fault(
            self.id,
            rule.action,
            status=rule.status,
            problem_code=rule.problem_code,
            retry_after=rule.retry_after,
            latency_seconds=self._latency_ms() / 1000,
        )

    def _latency_ms(self) -> float:
        rule = self.rule
        if rule.action != "latency" or rule.latency_ms is None:
            return 0.0
        rng = _draw(rule.seed, "latency", self.hits)
        if rule.latency_distribution == "uniform":
            return rng.uniform(rule.latency_ms, rule.latency_max_ms or rule.latency_ms)
        if rule.latency_distribution == "normal":
            return max(0.0, rng.gauss(rule.latency_ms, rule.latency_stddev_ms or 0))
        return float(rule.latency_ms)


def _draw(seed: int | None, purpose: str, number: int) -> random.Random:
    """A generator for draw `number` of a rule: repeatable with a seed, fresh without one."""
    if seed is None:
        return random.Random(secrets.randbits(64))  # noqa: S311 - test traffic, not crypto
    return random.Random(f"{seed}:{purpose}:{number}")  # noqa: S311


class FaultRules:
    """The active fault rules of one platform (thread-safe; kept in SQLite, see the module)."""

    def __init__(self, store: Store, clock: ReviewClock) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self._rules: list[ActiveFault] = []
        with store.transaction() as tx:
            for row in tx.all("SELECT * FROM fault_rules ORDER BY seq"):
                try:
                    rule = FaultRule.from_json(json.loads(row["spec"]))
                except ValueError as exc:
                    # Stored before the check that refuses it (an unknown operation_id): it could
                    # never fire, so nothing is lost; starting must not fail for it.
                    logger.warning("Dropping the stored fault rule %s: %s", row["id"], exc)
                    tx.execute("DELETE FROM fault_rules WHERE id = ?", (row["id"],))
                    continue
                fault = ActiveFault(row["id"], rule, row["created_ms"], row["matches"], row["hits"])
                self._rules.append(fault)

    @property
    def active(self) -> bool:
        """Whether any rule exists (a lock-free hint for the fast path)."""
        return bool(self._rules)

    def add(self, rule: FaultRule) -> ActiveFault:
        """Put `rule` in force (after the existing ones); a snapshot of it with its new id."""
        fault = ActiveFault(f"flt_{secrets.token_hex(12)}", rule, self._clock.now_ms())
        with self._store.transaction() as tx, self._lock:
            tx.execute(
                "INSERT INTO fault_rules (id, agency_id, spec, created_ms) VALUES (?, ?, ?, ?)",
                (fault.id, rule.agency_id, json.dumps(rule.to_json()), fault.created_ms),
            )
            self._rules.append(fault)
        return dataclasses.replace(fault)

    def get(self, fault_id: str) -> ActiveFault | None:
        with self._lock:
            found = [rule for rule in self._rules if rule.id == fault_id]
        return dataclasses.replace(found[0]) if found else None

    def list(self, agency_id: str | None = None) -> list[ActiveFault]:
        """Snapshots of the rules (of one agency's), oldest first."""
        with self._lock:
            return [
                dataclasses.replace(rule)
                for rule in self._rules
                if agency_id is None or rule.rule.agency_id == agency_id
            ]

    def remove(self, fault_id: str) -> bool:
        """Remove one rule; False if there is none with this id."""
        with self._store.transaction() as tx, self._lock:
            tx.execute("DELETE FROM fault_rules WHERE id = ?", (fault_id,))
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.id != fault_id]
            return len(self._rules) < before

    def clear(self, agency_id: str | None = None) -> int:
        """Remove every rule (or those scoped to `agency_id`); how many were removed."""
        with self._store.transaction() as tx, self._lock:
            if agency_id is None:
                tx.execute("DELETE FROM fault_rules")
            else:
                tx.execute("DELETE FROM fault_rules WHERE agency_id = ?", (agency_id,))
            before = len(self._rules)
            self._rules = [
                rule
                for rule in self._rules
                if agency_id is not None and rule.rule.agency_id != agency_id
            ]
            return before - len(self._rules)

    def select(self, request: RequestInfo) -> Fault | None:
        """Count `request` against the rules; the fault of the first rule that fires, if any.

        A fault is returned only once the counters that fired it are committed (this waits for
        the store, the rare case). Without a fault it never waits: the counts are written now if
        the store is free, else by a later call or `flush`.
        """
        with self._lock:
            fault = None
            for rule in self._rules:
                before = rule.matches
                fault = rule.fire(request)
                if rule.matches != before:
                    self._dirty.add(rule.id)
                if fault is not None:
                    break
        self._save_counters(blocking=fault is not None)
        return fault

    def flush(self) -> None:
        """Write the counts not yet written (waiting for the store): for a clean stop."""
        self._save_counters(blocking=True)

    def _save_counters(self, *, blocking: bool) -> None:
        """Write the changed counters; unless `blocking`, only if the store is free right now.

        Blocking, it returns once every count changed before the call is committed, whichever
        thread writes it (a writer holds the store's lock until its ``COMMIT``).
        """
        if not (blocking or self._dirty) or not self._store.lock.acquire(blocking=blocking):
            return
        try:
            if not self._dirty:
                return
            with self._store.transaction() as tx, self._lock:
                for rule in self._rules:
                    if rule.id in self._dirty:
                        tx.execute(
                            "UPDATE fault_rules SET matches = ?, hits = ? WHERE id = ?",
                            (rule.matches, rule.hits, rule.id),
                        )
                self._dirty.clear()
        finally:
            self._store.lock.release()
