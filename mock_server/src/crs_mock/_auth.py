"""OAuth 2.0 client credentials (RFC 6749 §4.4) and bearer tokens (RFC 6750).

Agency secrets are stored salted and hashed (PBKDF2); access tokens are opaque random strings stored
as their SHA-256, never in clear, and never logged. Token lifetimes run on the virtual clock, so a
test can expire a token by advancing it. Valid tokens are also kept in memory (written through to
the database), so checking a token never waits for the database lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from crs_mock._clock import ReviewClock, format_ms
from crs_mock._headers import single_header
from crs_mock._problems import ProblemError, Reply, json_reply
from crs_mock._validation import schema_errors

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    from starlette.requests import Request

    from crs_mock._store import Store, Transaction

__all__ = [
    "DEFAULT_AGENCIES",
    "MAX_TOKEN_TTL",
    "Agencies",
    "TokenGrant",
    "check_credentials",
    "check_token_ttl",
]

DEFAULT_AGENCIES: Mapping[str, str] = {"demo-agency": "demo-secret"}
logger = logging.getLogger("crs_mock")

#: The longest access-token lifetime, in seconds: ten years.
MAX_TOKEN_TTL = 10 * 365 * 24 * 3600

REALM = 'Bearer realm="crs"'
_PBKDF2_ROUNDS = 10_000  # a mock: cheap enough for tests, still not clear text
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class TokenGrant:
    agency_id: str
    expires_ms: int
    scope: str | None


def check_token_ttl(token_ttl: float) -> None:
    """`ValueError` unless `token_ttl` is more than 0 and at most `MAX_TOKEN_TTL` seconds."""
    if not 0 < token_ttl <= MAX_TOKEN_TTL:  # also refuses nan
        raise ValueError(
            f"token_ttl must be more than 0 and at most {MAX_TOKEN_TTL:g} seconds, "
            f"not {token_ttl!r}"
        )


def check_credentials(client_id: str, secret: str) -> None:
    """`ValueError` unless the control API would seed this agency (``AgencyCreate``: 1 to 200
    characters of id, 1 to 500 of secret, no control characters); the message names the field,
    never the secret."""
    errors = schema_errors("AgencyCreate", {"client_id": client_id, "client_secret": secret})
    if errors:
        reasons = "; ".join(f"{error.pointer.lstrip('/')}: {error.detail}" for error in errors)
        raise ValueError(f"agency {client_id!r}: {reasons}")


def _hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, _PBKDF2_ROUNDS)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _oauth_problem(
    code: str,
    description: str,
    *,
    error: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemError:
    """A token-endpoint problem carrying the RFC 6749 §5.2 members `error`/`error_description`."""
    return ProblemError(
        code,
        description,
        headers=headers,
        title="Invalid token request" if code == "invalid_request" else None,
        error=error or code,
        error_description=description,
        **extensions,
    )


def _agency_json(row: sqlite3.Row) -> dict[str, object]:
    return {
        "client_id": row["id"],
        "configured": bool(row["configured"]),
        "created_at": format_ms(row["created_ms"]),
    }


class Agencies:
    """Agency credentials and the access tokens issued to them."""

    def __init__(self, store: Store, clock: ReviewClock, *, token_ttl: float) -> None:
        check_token_ttl(token_ttl)
        self._store = store
        self._clock = clock
        self.token_ttl = token_ttl
        self._tokens: dict[str, TokenGrant] = {}
        self._tokens_lock = threading.Lock()

    # -- agencies ---------------------------------------------------------------------------------

    def configure(self, agencies: Mapping[str, str]) -> None:
        """Make `agencies` (client id -> secret) the configured ones, keeping their tokens.

        An agency configured before and not now (the demo agency once ``--client`` is given) is
        retired: its credentials stop working and its tokens are revoked, while its data stays
        (configuring it again brings it back). Agencies added at run time are left as they are.
        """
        with self._store.transaction() as tx:
            rows = tx.all("SELECT id FROM agencies WHERE configured = 1 ORDER BY id")
            retired = [row["id"] for row in rows if row["id"] not in agencies]
            tx.execute("UPDATE agencies SET configured = 0")
            for client_id in retired:
                # An empty hash matches no secret: _check_secret compares 32-byte digests.
                tx.execute("UPDATE agencies SET secret_hash = X'' WHERE id = ?", (client_id,))
                tx.execute("DELETE FROM tokens WHERE agency_id = ?", (client_id,))
            for client_id, secret in agencies.items():
                self.put(tx, client_id, secret, configured=True)
        self._load_tokens()
        for client_id in retired:
            logger.warning(
                "Agency %r is no longer configured: its credentials no longer work and its tokens "
                "are revoked (its data is kept until a full reset)",
                client_id,
            )

    def put(
        self,
        tx: Transaction,
        client_id: str,
        secret: str,
        *,
        configured: bool = False,
    ) -> bool:
        """Create the agency or replace its secret; True if it is new."""
        salt = secrets.token_bytes(16)
        exists = tx.one("SELECT 1 FROM agencies WHERE id = ?", (client_id,)) is not None
        tx.execute(
            "INSERT INTO agencies (id, secret_salt, secret_hash, configured, created_ms) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "secret_salt = excluded.secret_salt, secret_hash = excluded.secret_hash, "
            "configured = max(configured, excluded.configured)",
            (
                client_id,
                salt,
                _hash_secret(secret, salt),
                int(configured),
                self._clock.now_ms(),
            ),
        )
        return not exists

    def get(self, tx: Transaction, client_id: str) -> dict[str, object] | None:
        """The Agency resource (never its secret)."""
        row = tx.one("SELECT id, configured, created_ms FROM agencies WHERE id = ?", (client_id,))
        return None if row is None else _agency_json(row)

    def list(self, tx: Transaction) -> list[dict[str, object]]:
        rows = tx.all("SELECT id, configured, created_ms FROM agencies ORDER BY created_ms, id")
        return [_agency_json(row) for row in rows]

    def exists(self, tx: Transaction, client_id: str) -> bool:
        return tx.one("SELECT 1 FROM agencies WHERE id = ?", (client_id,)) is not None

    def known(self, client_id: str) -> bool:
        """Whether the agency exists (`exists` in a transaction of its own)."""
        with self._store.transaction() as tx:
            return self.exists(tx, client_id)

    def drop_unconfigured(self, tx: Transaction) -> None:
        """Forget agencies added at run time (and their tokens); part of a full reset."""
        tx.execute("DELETE FROM agencies WHERE configured = 0")
        tx.after_commit(self._load_tokens)

    def _check_secret(self, client_id: str, secret: str) -> bool:
        with self._store.transaction() as tx:
            row = tx.one("SELECT secret_salt, secret_hash FROM agencies WHERE id = ?", (client_id,))
        if row is None:
            _hash_secret(secret, b"\0" * 16)  # same work either way: no timing hint
            return False
        return hmac.compare_digest(_hash_secret(secret, row["secret_salt"]), row["secret_hash"])

    # -- tokens -----------------------------------------------------------------------------------

    def issue(self, client_id: str, scope: str | None) -> tuple[str, TokenGrant]:
        token = secrets.token_urlsafe(32)
        grant = TokenGrant(
            client_id, self._clock.now_ms() + math.ceil(self.token_ttl * 1000), scope
        )
        token_hash = _hash_token(token)
        with self._store.transaction() as tx:
            now = self._clock.now_ms()
            tx.execute("DELETE FROM tokens WHERE expires_ms <= ?", (now,))
            tx.execute(
                "INSERT INTO tokens (token_hash, agency_id, scope, expires_ms) VALUES (?, ?, ?, ?)",
                (token_hash, grant.agency_id, scope, grant.expires_ms),
            )
        with self._tokens_lock:
            self._tokens = {
                key: kept for key, kept in self._tokens.items() if kept.expires_ms > now
            }
            self._tokens[token_hash] = grant
        return token, grant

    def holder(self, request: Request) -> str | None:
        """The agency whose bearer token the request carries, even an expired one (until the
        next token is issued): how the journal and fault rules attribute a request. None for no
        token, or one this server does not know."""
        try:
            header = single_header(request, "Authorization") or ""
        except ProblemError:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        with self._tokens_lock:
            grant = self._tokens.get(_hash_token(token.strip()))
        return None if grant is None else grant.agency_id

    def authenticate(self, request: Request) -> str:
        """The agency id behind the request's bearer token, or a `401` problem (a `400` naming
        the header if it is sent twice: RFC 6750's ``invalid_request``)."""
        try:
            header = single_header(request, "Authorization") or ""
        except ProblemError as problem:
            challenge = f'{REALM}, error="invalid_request"'
            raise ProblemError(
                "invalid_request",
                problem.detail,
                header="Authorization",
                headers={"WWW-Authenticate": challenge},
            ) from None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ProblemError(
                "unauthorized",
                "A bearer access token is required",
                headers={"WWW-Authenticate": REALM},
            )
        token_hash = _hash_token(token.strip())
        with self._tokens_lock:
            grant = self._tokens.get(token_hash)
        if grant is not None and grant.expires_ms <= self._clock.now_ms():
            grant = None  # kept until the next token is issued: `holder` still names its agency
        if grant is None:
            description = "The access token is invalid or has expired"
            challenge = f'{REALM}, error="invalid_token", error_description="{description}"'
            raise ProblemError("unauthorized", description, headers={"WWW-Authenticate": challenge})
        return grant.agency_id

    def shift_expiries(self, delta_ms: int) -> None:
        """Move every token's expiry by `delta_ms` (the clock jumped; lifetimes stay the same)."""
        with self._store.transaction() as tx:
            tx.execute("UPDATE tokens SET expires_ms = expires_ms + ?", (delta_ms,))
        self._load_tokens()

    def _load_tokens(self) -> None:
        with self._store.transaction() as tx:
            rows = tx.all(
                "SELECT token_hash, agency_id, scope, expires_ms FROM tokens WHERE expires_ms > ?",
                (self._clock.now_ms(),),
            )
        tokens = {
            row["token_hash"]: TokenGrant(row["agency_id"], row["expires_ms"], row["scope"])
            for row in rows
        }
        with self._tokens_lock:
            self._tokens = tokens

    # -- the token endpoint -----------------------------------------------------------------------

    def token_endpoint(self, request: Request, body: bytes) -> Reply:
        """``POST /oauth/token``: client authentication by HTTP Basic or by form fields."""
        try:
            declared = single_header(request, "Content-Type") or ""
        except ProblemError as problem:
            raise _oauth_problem("invalid_request", str(problem), header="Content-Type") from None
        content_type = declared.split(";")[0].strip().lower()
        if content_type != _FORM and (content_type or body):
            raise _oauth_problem(
                "unsupported_media_type", f"Content-Type must be {_FORM}.", error="invalid_request"
            )
        try:
            form = dict(
                parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
            )
        except UnicodeDecodeError:
            raise _oauth_problem("invalid_request", "The body is not URL-encoded") from None
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _oauth_problem("invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise _oauth_problem(
                "unsupported_grant_type", "Only grant_type=client_credentials is supported"
            )
        client_id, secret, used_basic = self._client_credentials(request, form)
        if not self._check_secret(client_id, secret):
            headers = {"WWW-Authenticate": 'Basic realm="crs"'} if used_basic else {}
            raise _oauth_problem(
                "invalid_client", "Unknown client or wrong secret", headers=headers
            )
        # v1 defines no scopes: a requested scope is ignored (RFC 6749 §3.3 lets the server
        # grant less than asked) and the token grants everything the agency may do.
        token, grant = self.issue(client_id, None)
        payload = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": math.ceil(self.token_ttl),
            "scope": grant.scope,
        }
        return json_reply(200, payload, {"cache-control": "no-store", "pragma": "no-cache"})

    @staticmethod
    def _client_credentials(request: Request, form: Mapping[str, str]) -> tuple[str, str, bool]:
        try:
            header = single_header(request, "Authorization")
        except ProblemError as problem:
            raise _oauth_problem("invalid_request", str(problem), header="Authorization") from None
        in_form = "client_id" in form or "client_secret" in form
        if header is not None:
            if in_form:
                raise _oauth_problem(
                    "invalid_request", "Use one client authentication method, not two"
                )
            scheme, _, encoded = header.partition(" ")
            if scheme.lower() != "basic":
                raise _oauth_problem(
                    "invalid_client",
                    "Client authentication must be HTTP Basic",
                    headers={"WWW-Authenticate": 'Basic realm="crs"'},
                )
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise _oauth_problem(
                    "invalid_request", "Malformed HTTP Basic credentials"
                ) from None
            client_id, colon, secret = decoded.partition(":")
            if not colon:
                raise _oauth_problem("invalid_request", "Malformed HTTP Basic credentials")
            # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            return unquote_plus(client_id), unquote_plus(secret), True
        client_id = form.get("client_id", "")
        secret = form.get("client_secret", "")
        if not client_id or not secret:
            raise _oauth_problem(
                "invalid_client", "Client credentials are missing (HTTP Basic or form fields)"
            )
        return client_id, secret, False
