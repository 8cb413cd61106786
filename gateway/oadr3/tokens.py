"""Access tokens of the 3.x API: signed JWTs (PyJWT), issued here with a key from the settings
or generated once and kept in ``{data_dir}/oadr3_token_key``, or issued by an external
authorization server and checked against its JWKS.

A token of this VTN whose signature was checked once is not checked again in this process
(the same text, the same key: the same answer), but its expiry is, on every use
(``verify``): ``VERIFIED_MAX`` of them are kept, the oldest going first."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt

from gateway.oadr3.scopes import Role, Scope, parse_scopes, role_of_scopes
from gateway.settings import Settings

logger = logging.getLogger(__name__)

KEY_FILE = "oadr3_token_key"
_LOCAL_ALGORITHM = "HS256"
_EXTERNAL_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
VERIFIED_MAX = 20_000


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by the issuer in force."""


@dataclass(frozen=True, slots=True)
class Claims:
    client_id: str
    role: Role
    scopes: frozenset[Scope]


def _local_key(settings: Settings) -> str:
    if settings.oadr3_token_secret is not None:
        return settings.oadr3_token_secret.get_secret_value()
    path = Path(settings.data_dir) / KEY_FILE
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    logger.warning("no oadr3_token_secret configured: generated one in %s", path)
    return key


class TokenAuthority:
    def __init__(self, settings: Settings, wall_clock: Callable[[], float] = time.time) -> None:
        self.issuer = settings.oadr3_token_issuer
        self.audience = settings.oadr3_token_audience
        self.lifetime = timedelta(seconds=settings.oadr3_token_lifetime_seconds)
        self.external_token_url = settings.oadr3_external_token_url
        self._jwks = (
            jwt.PyJWKClient(settings.oadr3_jwks_url, timeout=5)
            if settings.oadr3_jwks_url is not None
            else None
        )
        self._settings = settings
        self._wall_clock = wall_clock  # what PyJWT checks expiry against: the system's time
        # token -> its claims, exp and the time it is valid from (iat, nbf): signature checked
        self._verified: dict[str, tuple[Claims, int, int]] = {}

    @functools.cached_property
    def _key(self) -> str | None:
        """The local signing key, read or made at first use: after the start-up checks, so a
        gateway that cannot start says only why."""
        return None if self._jwks is not None else _local_key(self._settings)

    @property
    def issues_tokens(self) -> bool:
        """False when an external authorization server issues them (``oadr3_jwks_url``)."""
        return self._jwks is None

    def issue(self, client_id: str, role: Role, scopes: frozenset[Scope], now: datetime) -> str:
        if self._key is None:
            raise RuntimeError("tokens are issued by the external authorization server")
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": client_id,
            "role": role.value,
            "scope": " ".join(sorted(scopes)),
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=_LOCAL_ALGORITHM)

    async def verify(self, token: str) -> Claims:
        if (known := self._verified.get(token)) is not None:
            claims, expires, valid_from = known
            now = self._wall_clock()
            if expires <= now:  # as PyJWT: expired at exp
                del self._verified[token]
                raise InvalidToken("Signature has expired")
            if valid_from > now:
                raise InvalidToken("The token is not yet valid (iat)")
            return claims
        options = {"require": ["exp", "sub"]}
        try:
            if self._key is not None:
                payload = jwt.decode(
                    token, self._key, algorithms=[_LOCAL_ALGORITHM], audience=self.audience,
                    issuer=self.issuer, options=options,  # type: ignore[arg-type]
                )  # fmt: skip
            else:
                payload = await asyncio.to_thread(self._decode_external, token)
        except jwt.PyJWTError as err:
            raise InvalidToken(str(err)) from err
        claims = _claims_of(payload)
        if self._key is not None:
            self._remember(token, claims, payload)
        return claims

    def _remember(self, token: str, claims: Claims, payload: dict[str, object]) -> None:
        expires = _seconds(payload.get("exp"))
        if expires is None:
            return  # an exp PyJWT reads and this does not (a string): checked in full each time
        valid_from = max(_seconds(payload.get("iat")) or 0, _seconds(payload.get("nbf")) or 0)
        while len(self._verified) >= VERIFIED_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, expires, valid_from)

    def _decode_external(self, token: str) -> dict[str, object]:
        assert self._jwks is not None
        key = self._jwks.get_signing_key_from_jwt(token)  # fetches the JWKS, cached
        return jwt.decode(
            token, key.key, algorithms=_EXTERNAL_ALGORITHMS, audience=self.audience,
            issuer=self.issuer, options={"require": ["exp", "sub"]},
        )  # fmt: skip


def _seconds(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _claims_of(payload: dict[str, object]) -> Claims:
    subject, scope, role = payload.get("sub"), payload.get("scope", ""), payload.get("role")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the token names no client (sub)")
    if not isinstance(scope, str | list):
        raise InvalidToken("the token's scope is not a string")
    scopes, _unknown = parse_scopes([str(s) for s in scope] if isinstance(scope, list) else scope)
    if role is None:
        return Claims(subject, role_of_scopes(scopes), scopes)
    if role not in {r.value for r in Role}:
        raise InvalidToken(f"the token's role {role!r} is neither VEN nor BL")
    return Claims(subject, Role(str(role)), scopes)
