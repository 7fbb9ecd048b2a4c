"""Contract fuzzing: schemathesis against the ``/openapi.json`` a live server serves.

Every operation is called with generated requests, valid ones (``positive``) and invalid ones
(``negative``), with the demo agency's bearer token; operations with path parameters are fuzzed
once more against real resources (a draft report, an upload in progress, a webhook endpoint), so
that the generated bodies reach the handlers rather than a ``404``. Each answer must pass
schemathesis's checks: no 5xx, the status documented, the content type, headers and body as the
contract describes them.

The control API (``/_mock/*``) is fuzzed last, since moving the clock, adding agencies or fault
rules changes what the platform API answers; ``POST /_mock/reset`` is left out (it would wipe the
state mid-run), and fault rules the fuzzer adds are removed after each example. ``HEAD`` answers
have no body (RFC 9110 §9.3.2; the contract says so), so its content type is not checked.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from chaos.chaos_support import ServerProcess, access_token

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from schemathesis.schemas import APIOperation

    Operation = APIOperation[Any, Any, Any, Any]

    from chaos.chaos_support import Figures

pytestmark = pytest.mark.chaos

MODES = tuple(GenerationMode)  # positive, negative
POSITIVE = GenerationMode("positive")
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]
#: Bugs found by this suite in modules it does not own, not fixed yet: (operation, why). A failure
#: of a matching example is counted apart (and printed), not failed; remove the entry once fixed.
#: Server bugs the fuzzer knows about, by operation: examples that hit them are counted apart
#: instead of failing the run. Empty: every bug found so far is fixed (and has a regression test).
KNOWN_BUGS: dict[str, Callable[[Any], bool]] = {}


#: tus chunks are bytes; schemathesis serialises them as it does application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def _metadata(**pairs: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items()
    )


def _real_resources(base_url: str, token: str) -> dict[str, str]:
    """Path parameters that name resources of the demo agency, so examples reach the handlers."""
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=bearer) as http:
        report = {
            "client_reference": "chaos-fuzz-draft",
            "items": [
                {"url": "https://example.com/p/1", "platform": "facebook", "content_type": "post"}
            ],
            "category": "grooming",
            "violation_basis": "policy_violation",
            "explanation": "Contract fuzzing target.",
            "requested_actions": ["remove"],
            "reporting_officer": {"name": "Fuzz", "email": "fuzz@example.gov"},
        }
        report_id = http.post("/v1/reports", json=report).raise_for_status().json()["id"]
        upload = http.post(
            f"/v1/reports/{report_id}/evidence",
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "1000",
                "Upload-Metadata": _metadata(
                    filename="fuzz.png",
                    content_type="image/png",
                    sha256=hashlib.sha256(bytes(1000)).hexdigest(),
                    relevance="primary",
                ),
            },
        ).raise_for_status()
        upload_id = upload.headers["location"].rstrip("/").rsplit("/", 1)[-1]
        endpoint = http.post(
            "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
        ).raise_for_status()
    return {"report_id": report_id, "upload_id": upload_id, "endpoint_id": endpoint.json()["id"]}


class Fuzzer:
    """Runs bounded examples of each operation and keeps every failure, with what caused it."""

    def __init__(self, server: ServerProcess, examples: int) -> None:
        self.server = server
        self.examples = examples
        self.tried: Counter[str] = Counter()
        self.failures: list[str] = []
        self.known: list[str] = []
        self.token = access_token(server.base_url)

    def headers(self, operation: Operation) -> dict[str, str]:
        if operation.label == "POST /oauth/token":
            return {}
        return {"Authorization": f"Bearer {self.token}"}

    def run(
        self,
        operation: Operation,
        mode: GenerationMode,
        *,
        path_parameters: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        checks = [
            check
            for check in CHECKS
            if not (
                operation.method.upper() == "HEAD" and check is st_checks.content_type_conformance
            )
        ]
        strategy = operation.as_strategy(
            generation_mode=mode, path_parameters=path_parameters, query=query
        )
        label = f"{operation.label} [{mode.value}{', real ids' if path_parameters else ''}]"

        @given(case=strategy)
        @settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def example(case: Any) -> None:
            self.tried[operation.label] += 1
            try:
                case.call_and_validate(
                    base_url=self.server.base_url,
                    headers=self.headers(operation),
                    checks=checks,
                    timeout=30,
                )
            except (Exception, FailureGroup) as exc:  # schemathesis groups its failures
                known = KNOWN_BUGS.get(operation.label)
                found = self.known if known is not None and known(case) else self.failures
                found.append(f"{label}: {exc}")
            finally:
                if after is not None:
                    after()

        with contextlib.suppress(Unsatisfiable):  # no negative example without inputs
            example()


@pytest.mark.timeout(3600)
def test_every_operation_conforms_to_the_contract(
    tmp_path: Path, chaos_examples: int, figures: Callable[[str], Figures]
) -> None:
    started = time.monotonic()
    with ServerProcess(tmp_path / "crs-mock.sqlite3") as server:
        fuzzer = Fuzzer(server, chaos_examples)
        schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        real = _real_resources(server.base_url, fuzzer.token)
        operations = [
            result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)
        ]
        control = [op for op in operations if op.path.startswith("/_mock/")]
        platform = [op for op in operations if op not in control]

        def clear_faults() -> None:
            httpx.delete(f"{server.base_url}/_mock/faults").raise_for_status()

        for operation in platform:
            for mode in MODES:
                fuzzer.run(operation, mode)
            wanted = {
                name: value for name, value in real.items() if "{" + name + "}" in operation.path
            }
            if wanted:
                fuzzer.run(operation, POSITIVE, path_parameters=wanted)
        for operation in control:
            if operation.label == "POST /_mock/reset":
                continue
            # A long poll: a generated timeout (up to 60 s) would be time spent waiting.
            query = {"timeout": 0.05} if operation.label == "GET /_mock/requests/wait" else None
            for mode in MODES:
                fuzzer.run(operation, mode, query=query, after=clear_faults)
    elapsed = time.monotonic() - started
    skipped = [op.label for op in operations if fuzzer.tried[op.label] == 0]
    figures("contract").values.update(
        operations=len(operations),
        **{"operations fuzzed": len(operations) - len(skipped)},
        **{"examples tried": sum(fuzzer.tried.values())},
        failures=len(fuzzer.failures),
        **{"known bugs hit": len(fuzzer.known)},
        seconds=round(elapsed),
    )
    # A 5xx's cause is in the server's log (its answer only says "see its log"): shown with it.
    log = "".join(server.output[-200:]) if fuzzer.failures else ""
    assert fuzzer.failures == [], "\n\n".join([*fuzzer.failures[:10], "server log:\n" + log])
    assert skipped == ["POST /_mock/reset"]
