"""Talking to a webhook: the URL rules, the ``?echo=`` challenge and one notification POST.

Definition.md, Webhooks: HTTPS only, a GET with a random ``echo`` query parameter whose value
the callback answers in its body, timeouts, no redirects, no private or reserved addresses
(checked on the addresses the name resolves to, at connect time, so a name that later resolves
to 127.0.0.1 is refused too).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL


class CallbackRefused(Exception):
    """A callback URL the VTN will not call, or that did not answer the challenge."""


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    allow_http: bool = False  # tests on 127.0.0.1; production callbacks are HTTPS
    allow_private: bool = False  # loopback, private, link-local and reserved addresses
    timeout_seconds: float = 10.0


def check_url(url: str, policy: CallbackPolicy) -> URL:
    """The URL parsed, or ``CallbackRefused`` naming why it is refused."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as err:
        raise CallbackRefused(f"callbackUrl {url!r} is not a URL") from err
    allowed = {"https", "http"} if policy.allow_http else {"https"}
    if parsed.scheme not in allowed:
        raise CallbackRefused(f"callbackUrl must use {' or '.join(sorted(allowed))}: {url!r}")
    if not parsed.host:
        raise CallbackRefused(f"callbackUrl {url!r} has no host")
    if parsed.user or parsed.password:
        raise CallbackRefused("callbackUrl must not carry credentials (use bearerToken)")
    if not policy.allow_private:
        try:
            literal = ipaddress.ip_address(parsed.host)
        except ValueError:
            literal = None
        if literal is not None and not _public(literal):
            raise CallbackRefused(f"callbackUrl {url!r} is a private or reserved address")
    return parsed


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class PublicResolver(AbstractResolver):
    """Resolves as usual, then drops every address that is not public (SSRF guard)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if _public(ipaddress.ip_address(r["host"]))]
        if not public:
            # strerror is what aiohttp's connection error shows
            raise OSError(errno.EACCES, f"{host} resolves only to private or reserved addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


class CallbackClient:
    """One HTTP client for every callback: bounded time, no redirects, no private hosts."""

    def __init__(self, policy: CallbackPolicy) -> None:
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver: AbstractResolver | None = (
                None if self.policy.allow_private else PublicResolver()
            )
            connector = aiohttp.TCPConnector(resolver=resolver, limit=100)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout_seconds),
                # The VTN speaks first: no cookies kept from one callback for another.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def challenge(self, url: str) -> None:
        """GET ``url?echo=<random>``: the callback must answer 200 with the value in its
        body (plain, or as a JSON string). Raises ``CallbackRefused`` otherwise."""
        parsed = check_url(url, self.policy)
        echo = secrets.token_urlsafe(24)
        try:
            async with self._client().get(
                parsed.update_query(echo=echo), allow_redirects=False
            ) as response:
                text = (await response.text(errors="replace")).strip()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise CallbackRefused(f"callbackUrl {url!r} did not answer: {_why(err)}") from err
        if status != 200:
            raise CallbackRefused(f"callbackUrl {url!r} answered the echo challenge {status}")
        if echo not in (text, _json_string(text)):
            raise CallbackRefused(f"callbackUrl {url!r} did not echo the challenge")

    async def post(self, url: str, body: str, bearer_token: str | None) -> str | None:
        """POST one notification (``body``: JSON text, sent as is). None when the callback
        took it (2xx), else why not."""
        try:
            parsed = check_url(url, self.policy)
        except CallbackRefused as err:
            return str(err)
        headers = {"Content-Type": "application/json"}
        if bearer_token:
            headers["Authorization"] = f"Bearer {bearer_token}"
        try:
            async with self._client().post(
                parsed, data=body.encode(), headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"answered {response.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            return _why(err)


def _json_string(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _why(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"{type(err).__name__}: {err}"[:500]
