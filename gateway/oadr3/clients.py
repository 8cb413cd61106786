"""The 3.x API's OAuth2 clients: provisioned by the operator, each with a role and scopes; the
secret is shown once and kept only as a salted scrypt hash."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.bus.outbox import OutboxPublisher, stage_message
from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.domain.errors import AlreadyExists, FieldError, NotFound, raise_if_any
from gateway.oadr3.models import Oadr3ClientRow
from gateway.oadr3.scopes import ALLOWED_SCOPES, DEFAULT_SCOPES, Role, Scope, parse_scopes

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
# scrypt at 16 MiB: slow enough to make a stolen table costly, ~50 ms per token request.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    role: Role
    scopes: frozenset[Scope]
    created_at: datetime


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    encoded = [base64.b64encode(part).decode() for part in (salt, _hash(secret, salt))]
    return "scrypt$" + "$".join(encoded)


def secret_matches(secret: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt_b64, _, digest_b64 = rest.partition("$")
    if scheme != "scrypt" or not digest_b64:
        return False
    digest = _hash(secret, base64.b64decode(salt_b64))
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


@functools.cache
def _unknown_client_hash() -> str:
    """What an unknown client id's secret is checked against (made once, on first use)."""
    return hash_secret(secrets.token_urlsafe(32))


def _client_of(row: Oadr3ClientRow) -> Client:
    return Client(row.client_id, Role(row.role), parse_scopes(row.scopes)[0], row.created_at)


class ClientStore:
    """``channel`` and ``publisher``: a deletion is announced there (``oadr3_client_deleted``,
    for the other processes' caches); ``on_deleted`` runs once a deletion is committed."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        channel: str | None = None,
        publisher: OutboxPublisher | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._channel = channel
        self._publisher = publisher
        self.on_deleted: list[Callable[[], None]] = []

    async def create(
        self, client_id: str | None, role: Role, scopes: Sequence[str] | None
    ) -> tuple[Client, str]:
        """The client and its secret (the only time the secret is known)."""
        errors: list[FieldError] = []
        client_id = client_id if client_id is not None else secrets.token_hex(8)
        if not CLIENT_ID_PATTERN.fullmatch(client_id):
            errors.append(FieldError("client_id", "must be 1-128 of A-Z a-z 0-9 . _ ~ -"))
        granted = DEFAULT_SCOPES[role]
        if scopes is not None:
            granted, unknown = parse_scopes(scopes)
            named = [FieldError(f"scopes.{i}", "unknown scope")
                     for i, word in enumerate(scopes) if word in unknown]  # fmt: skip
            if unknown and not named:
                named = [FieldError("scopes", f"unknown scope(s): {', '.join(unknown)}")]
            errors.extend(named)
            if refused := sorted(granted - ALLOWED_SCOPES[role]):
                errors.append(
                    FieldError("scopes", f"a {role.value} client may not hold {', '.join(refused)}")
                )
        raise_if_any(errors)
        secret = secrets.token_urlsafe(32)
        row = Oadr3ClientRow(
            client_id=client_id,
            role=role.value,
            secret_hash=await asyncio.to_thread(hash_secret, secret),
            scopes=sorted(granted),
            created_at=self._clock.now(),
        )
        try:
            async with self._db.write() as session:
                if await session.get(Oadr3ClientRow, client_id) is not None:
                    raise AlreadyExists(f"client {client_id} exists")
                session.add(row)
        except IntegrityError as err:
            raise AlreadyExists(f"client {client_id} exists") from err
        return _client_of(row), secret

    async def all(self) -> list[Client]:
        async with self._db.read() as session:
            rows = await session.scalars(select(Oadr3ClientRow).order_by(Oadr3ClientRow.client_id))
            return [_client_of(r) for r in rows]

    async def delete(self, client_id: str) -> Client:
        async with self._db.write() as session:
            row = await session.get(Oadr3ClientRow, client_id)
            if row is None:
                raise NotFound(f"client {client_id} not found")
            await session.delete(row)
            if self._channel is not None:
                stage_message(session, self._channel, "oadr3_client_deleted", self._clock.now(),
                              client_id=client_id)  # fmt: skip
        for callback in self.on_deleted:
            callback()
        if self._publisher is not None:
            await self._publisher.flush()
        return _client_of(row)

    async def authenticate(self, client_id: str, secret: str) -> Client | None:
        """The client whose id and secret these are, or None (unknown id or wrong secret)."""
        async with self._db.read() as session:
            row = await session.get(Oadr3ClientRow, client_id)
            client = _client_of(row) if row is not None else None
            stored = row.secret_hash if row is not None else None

        def check() -> bool:
            # An unknown id costs the same hash as a known one: the time tells nothing.
            return secret_matches(secret, stored or _unknown_client_hash())

        matches = await asyncio.to_thread(check)
        return client if matches and row is not None else None

    async def exists(self, client_id: str) -> bool:
        async with self._db.read() as session:
            return await session.get(Oadr3ClientRow, client_id) is not None
