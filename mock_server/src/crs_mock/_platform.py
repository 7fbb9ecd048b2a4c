"""`MockPlatform`: the state behind one app, and the request pipelines every handler uses.

It is what ``app.state.mock`` holds, and the Python API for tests: `clock`, `store`, `reset()`,
`run_due()`, `add_agency()`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.responses import Response

from crs_mock._auth import Agencies, check_credentials, check_token_ttl
from crs_mock._clock import ClockState, ReviewClock
from crs_mock._delivery import WebhookDispatcher
from crs_mock._evidence_uploads import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_UPLOAD_SIZE,
    EvidenceUploads,
)
from crs_mock._faults import FaultRules
from crs_mock._headers import single_header
from crs_mock._idempotency import IdempotencyKeys, fingerprint, read_key
from crs_mock._journal import Journal
from crs_mock._json_bodies import check_json_media_type, read_json_body
from crs_mock._problems import ProblemError, Reply
from crs_mock._review import Review, ReviewTimings
from crs_mock._store import STATE_TABLES, Store, Transaction

if TYPE_CHECKING:
    from pathlib import Path

    import httpx
    from starlette.requests import Request

__all__ = ["MockPlatform", "WriteOperation", "to_response"]

#: A write: (transaction, agency id, raw body) -> reply. Raise `ProblemError` to refuse.
WriteOperation = Callable[[Transaction, str, bytes], Reply]
ReadOperation = Callable[[Transaction, str], Reply]


def to_response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))


def request_id(request: Request) -> str:
    value: str = request.scope.get("state", {}).get("request_id", "req_unknown")
    return value


def render_problem(request: Request, problem: ProblemError) -> Reply:
    # The decoded path itself: `request.url` re-parses it, so a decoded "?" or "#" would end it.
    return problem.render(request_id=request_id(request), instance=request.scope["path"])


class MockPlatform:
    """The mock platform's state: database, clock, agencies, review simulation, idempotency keys,
    evidence uploads (`uploads`, with the evidence bytes in `uploads.blobs`)."""

    def __init__(
        self,
        *,
        db: str | Path,
        agencies: Mapping[str, str],
        token_ttl: float,
        review: ReviewTimings,
        clock: ReviewClock | None,
        max_upload_size: int = DEFAULT_MAX_UPLOAD_SIZE,
        upload_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        blob_dir: str | Path | None = None,
        allow_insecure_webhooks: bool = False,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Checked before anything is opened: a refused argument must leave an existing database
        # as it was (configuring agencies retires others and revokes their tokens).
        check_token_ttl(token_ttl)
        for client_id, secret in agencies.items():
            check_credentials(client_id, secret)
        self.store = Store(db)
        self._closed = False
        try:
            self.clock = self._load_clock(clock)
            if blob_dir is None and str(db) != ":memory:":
                blob_dir = f"{db}.blobs"
            # First: it checks its limits before it touches anything, so that a refused limit
            # leaves an existing database as it was too.
            self.uploads = EvidenceUploads(
                self.store,
                self.clock,
                blob_dir=blob_dir,
                max_size=max_upload_size,
                idle_timeout=upload_idle_timeout,
            )
            self._save_clock()
            self.agencies = Agencies(self.store, self.clock, token_ttl=token_ttl)
            self._configured_agencies = dict(agencies)
            self.agencies.configure(self._configured_agencies)
            self.review = Review(self.store, self.clock, review)
            self.idempotency = IdempotencyKeys(self.store, self.clock)
            self.idempotency.purge()
            self.faults = FaultRules(self.store, self.clock)
            self.journal = Journal(self.store)
            self.clock.add_listener(self._save_clock)
            self.allow_insecure_webhooks = allow_insecure_webhooks
            self.webhooks = WebhookDispatcher(self.store, self.clock, transport=webhook_transport)
        except BaseException:  # nothing left open (threads, files, the database)
            if "uploads" in vars(self):
                self.uploads.close()
            self.store.close()
            raise

    # -- Python API -------------------------------------------------------------------------------

    def reset(self, agency_id: str | None = None) -> None:
        """Empty all state (or one agency's reports, events and keys).

        A full reset also forgets agencies added at run time, restores the configured agencies'
        secrets, and resets the clock to real time, running; access tokens of configured agencies
        keep their remaining lifetime (their expiry moves with the clock), so connected clients
        need not authenticate again. Event ids keep growing: a reset never reissues an id a
        client has seen.

        Evidence files: a full reset deletes every file that no open upload or evidence refers
        to (`EvidenceUploads.collect_garbage`); an agency's reset deletes only the files of the
        rows it deleted (`EvidenceUploads.forget`), so other agencies' uploads and evidence,
        even those started or finished while it runs, keep their bytes.

        Raises:
            LookupError: There is no agency `agency_id` (a full reset drops those added at run
                time); nothing was reset.
        """
        with self.store.transaction() as tx:
            if agency_id is None:
                for table in STATE_TABLES:
                    tx.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name
                self.agencies.drop_unconfigured(tx)
            else:
                if not self.agencies.exists(tx, agency_id):
                    raise LookupError(f"no agency {agency_id}; nothing was reset")
                # Only its own files: other agencies' uploads go on meanwhile.
                files = self.uploads.agency_files(tx, agency_id)
                tx.after_commit(functools.partial(self.uploads.forget, files))
                tx.execute(
                    "DELETE FROM review_jobs WHERE report_id IN "
                    "(SELECT id FROM reports WHERE agency_id = ?)",
                    (agency_id,),
                )
                for table in (
                    "reports",
                    "events",
                    "idempotency_records",
                    "uploads",
                    "evidence",
                    "webhook_endpoints",
                ):
                    sql = f"DELETE FROM {table} WHERE agency_id = ?"  # noqa: S608 - fixed names
                    tx.execute(sql, (agency_id,))
        if agency_id is None:
            before = self.clock.now_ms()
            self.clock.reset()
            self.agencies.configure(self._configured_agencies)
            self.agencies.shift_expiries(self.clock.now_ms() - before)
        self.review.refresh()
        if agency_id is None:
            self.uploads.collect_garbage()
        self.faults.clear(agency_id)
        self.journal.reset(agency_id)

    def run_due(self) -> int:
        """Apply every review step due by the clock's now; the number applied."""
        return self.review.run_due()

    async def deliver_due(self) -> int:
        """Apply due review steps, then make every webhook attempt due by now; attempts made.

        In-process apps run no lifespan, so no background delivery worker: tests await this.
        """
        await anyio.to_thread.run_sync(self.run_due)
        return await self.webhooks.deliver_due()

    def add_agency(self, client_id: str, client_secret: str) -> bool:
        """Create an agency (or replace its secret); True if it is new.

        Raises:
            ValueError: The control API would refuse them: an empty, too long or control
                character-holding client id or secret (the message never shows the secret).
        """
        check_credentials(client_id, client_secret)
        with self.store.transaction() as tx:
            return self.agencies.put(tx, client_id, client_secret)

    def close(self) -> None:
        """Write what waited for a busy store (fault-rule counts, journal entries), then close.

        Closing again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        self.faults.flush()
        self.journal.close()
        self.store.close()
        self.uploads.close()

    # -- request pipelines ------------------------------------------------------------------------

    async def write(self, request: Request, operation: WriteOperation) -> Response:
        """Authenticate, read the body (`read_json_body`: a ``413`` as soon as it is over the
        limit), honour ``Idempotency-Key``, run `operation` in one transaction, reply."""
        agency_id = self.agencies.authenticate(request)
        body = await read_json_body(request)
        content_type = single_header(request, "Content-Type")  # twice is a 400 even with no body
        if body.strip():
            # Before the key is looked at: the fingerprint is of the body, not of its headers, so
            # a stored 415 would be replayed to the same body sent again with the right type. A
            # write without a body (``DELETE``, ``curl -d ''``) has no media type to refuse.
            check_json_media_type(content_type)
        key = read_key(request)
        request_fingerprint = fingerprint(request.method, request.url.path, body)
        run = functools.partial(
            self.idempotency.execute,
            agency_id,
            key,
            request_fingerprint,
            lambda tx: operation(tx, agency_id, body),
            functools.partial(render_problem, request),
        )
        if key is None:
            reply = await anyio.to_thread.run_sync(run)
        else:
            with self.idempotency.claim(agency_id, key, request_fingerprint):
                reply = await anyio.to_thread.run_sync(run)
        return to_response(reply)

    async def read(self, request: Request, query: ReadOperation) -> Response:
        agency_id = self.agencies.authenticate(request)

        def run() -> Reply:
            with self.store.transaction() as tx:
                return query(tx, agency_id)

        return to_response(await anyio.to_thread.run_sync(run))

    async def control(self, operation: Callable[[Transaction], Reply]) -> Response:
        """Run a control-API operation (no token, no idempotency) in one transaction."""

        def run() -> Reply:
            with self.store.transaction() as tx:
                return operation(tx)

        return to_response(await anyio.to_thread.run_sync(run))

    # -- clock persistence ------------------------------------------------------------------------

    def _load_clock(self, clock: ReviewClock | None) -> ReviewClock:
        """`clock`, else a clock carrying on from the one saved in the database (not saved)."""
        if clock is None:
            clock = ReviewClock()
            with self.store.transaction() as tx:
                saved = tx.get_meta("clock")
            if saved is not None:
                clock.restore(ClockState(**saved))
        return clock

    def _save_clock(self) -> None:
        with self.store.transaction() as tx:
            tx.set_meta("clock", dataclasses.asdict(self.clock.state()))
