"""Secrets never leak: a full flow at DEBUG, every repr and error captured, searched for secrets.

The mock runs in this process (`ThreadedServer`, a real socket), so its log lines, the uvicorn
ones and the SDK's (``crs_sdk``, ``httpx``, ``httpcore``) all land in one capture at ``DEBUG``.
The flow: tokens (sync and async clients), a report with evidence, a webhook endpoint created and
its secret rotated, and errors (not found, validation, wrong credentials, a 503 after retries, a
token endpoint that fails). To the log text are added the reprs and ``str`` of the clients, their
configuration and token caches, the tokens' model, the endpoints with their secrets, every error
with its full traceback and causes, and the mock's journal of the requests. None of the client
secrets, access tokens or webhook secrets may appear in it.
"""

from __future__ import annotations

import io
import logging
import secrets
import time
import traceback
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from crs_mock import FaultRule, JournalFilter, ThreadedServer, create_app
from crs_sdk import (
    ALL_EVENT_TYPES,
    AsyncCRSClient,
    CRSClient,
    CRSError,
    RetryPolicy,
    TokenResponse,
    ViolationBasis,
    WebhookEndpointCreate,
    structure,
)
from crs_sdk.testing import make_report_create

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from typing_extensions import Self

    from chaos.chaos_support import Figures

pytestmark = [pytest.mark.chaos, pytest.mark.anyio]

LOGGERS = ("", "crs_sdk", "httpx", "httpcore", "crs_mock", "uvicorn", "uvicorn.error")
FAST = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)


class Capture:
    """Everything logged at DEBUG by any logger, plus the texts the test adds."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.extra: list[str] = []
        self._levels: dict[str, int] = {}

    def add(self, *values: object) -> None:
        for value in values:
            self.extra += [repr(value), str(value)]
            if isinstance(value, BaseException):
                self.extra.append("".join(traceback.format_exception(value)))

    def text(self) -> str:
        return self.stream.getvalue() + "\n".join(self.extra)

    def __enter__(self) -> Self:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self.handler)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger().removeHandler(self.handler)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture() as found:
        yield found


def expect_error(capture: Capture, call: Callable[[], Any]) -> CRSError:
    with pytest.raises(CRSError) as caught:
        call()
    capture.add(caught.value, caught.value.__cause__, caught.value.__context__)
    return caught.value


async def test_no_secret_in_logs_reprs_or_errors(
    capture: Capture, figures: Callable[[str], Figures], request: pytest.FixtureRequest
) -> None:
    started = time.monotonic()
    client_id, client_secret = "secret-agency", f"cs-{secrets.token_urlsafe(24)}"
    wrong_secret = f"wrong-{secrets.token_urlsafe(24)}"
    app = create_app(agencies={client_id: client_secret})
    request.addfinalizer(app.state.mock.close)  # its database and evidence folder
    found: list[str] = [client_secret, wrong_secret]
    with ThreadedServer(app) as server:
        platform = app.state.mock
        with CRSClient(
            server.base_url, client_id=client_id, client_secret=client_secret, retry=FAST
        ) as client:
            report = client.reports.create(make_report_create())
            evidence = client.evidence.upload(
                report.id, secrets.token_bytes(5000), filename="shot.png", resume_store=None
            )
            client.reports.submit(report.id)
            endpoint = client.webhook_endpoints.create(
                WebhookEndpointCreate(url="http://127.0.0.1:9/hook", event_types=ALL_EVENT_TYPES)
            )
            rotated = client.webhook_endpoints.rotate_secret(endpoint.id)
            token = client._tokens._token
            assert token is not None
            found += [token.value, endpoint.secret, rotated.secret]
            capture.add(client, client.config, client._tokens, token, report, evidence)
            capture.add(endpoint, rotated, client.webhook_endpoints.get(endpoint.id))

            expect_error(capture, lambda: client.reports.get("rpt_does_not_exist"))
            # Illegal content claimed without a legal basis: the server's 422, not the SDK's.
            bad = make_report_create(violation_basis=ViolationBasis.ILLEGAL_CONTENT, legal_basis=())
            expect_error(capture, lambda: client.reports.create(bad))
            expect_error(capture, lambda: client.reports.submit(report.id))  # 409
            outage = platform.faults.add(FaultRule(action="error", status=503))
            expect_error(capture, lambda: client.reports.get(report.id))
            platform.faults.remove(outage.id)

        with CRSClient(server.base_url, client_id=client_id, client_secret=wrong_secret) as wrong:
            expect_error(capture, lambda: wrong.reports.get(report.id))
            capture.add(wrong, wrong.config)

        platform.faults.add(FaultRule(action="error", status=503, operation_id="createToken"))
        async with AsyncCRSClient(
            server.base_url, client_id=client_id, client_secret=client_secret, retry=FAST
        ) as failing:
            with pytest.raises(CRSError) as caught:
                await failing.reports.get(report.id)
            capture.add(caught.value, caught.value.__cause__, failing, failing.config)
        platform.faults.clear()

        async with AsyncCRSClient(
            server.base_url, client_id=client_id, client_secret=client_secret, retry=FAST
        ) as async_client:
            capture.add(await async_client.reports.get(report.id), async_client._tokens)
            async_token = async_client._tokens._token
            assert async_token is not None
            found.append(async_token.value)

        async with httpx.AsyncClient(base_url=server.base_url) as http:
            raw = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, client_secret),
            )
        raw.raise_for_status()
        issued = raw.json()
        found.append(issued["access_token"])
        capture.add(structure(issued, TokenResponse))
        capture.add(*platform.journal.query(JournalFilter()))

    text = capture.text()
    leaks = [f"secret #{number}" for number, value in enumerate(found) if value in text]
    bare = [s.removeprefix("whsec_") for s in (endpoint.secret, rotated.secret)]
    leaks += [f"webhook secret body #{n}" for n, value in enumerate(bare) if value in text]
    figures("secrets").values.update(
        **{"secrets searched": len(found) + len(bare)},
        **{"captured characters": len(text)},
        **{"log records": text.count("\n")},
        leaks=len(leaks),
        seconds=round(time.monotonic() - started, 1),
    )
    assert endpoint.secret != rotated.secret
    assert "crs_sdk" in text
    assert report.id in text  # the capture does hold what the flow did
    assert "httpcore" in text
    assert leaks == []
