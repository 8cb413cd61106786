"""The HTTP side of a push: one POST of one rendered message, over mutual TLS when the VTN
has TLS, the VEN's server certificate pinned to its provisioned fingerprint."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from gateway.oadr20b.signing import fingerprint_of_der


@dataclass(frozen=True)
class PushAnswer:
    status: int
    body: bytes


class PushRefused(Exception):
    """The VEN could not be reached, or did not take the message (anything but HTTP 200)."""


@dataclass(frozen=True)
class ClientTls:
    """The VTN's certificate and key (presented to the VEN) and the CA VEN certificates
    chain to."""

    cert: Path
    key: Path
    ca: Path


class _PinnedObject(ssl.SSLObject):
    """An SSL connection that fails its handshake unless the peer's certificate is the one
    expected: nothing is sent to a server holding another certificate, even one our CA
    signed (another VEN's)."""

    expected: ClassVar[str] = ""

    def do_handshake(self) -> None:
        super().do_handshake()
        der = self.getpeercert(binary_form=True)
        if not der or fingerprint_of_der(der) != self.expected:
            raise ssl.SSLCertVerificationError(
                f"the VEN's certificate is not the one provisioned ({self.expected})"
            )


class PushClient:
    def __init__(self, tls: ClientTls | None, timeout_seconds: float, connections: int) -> None:
        self._tls = tls
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                timeout=self._timeout,
                # VENs set no cookies a VTN keeps: the jar's filtering of every request and
                # response was a tenth of a push's client time.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def _context(self, fingerprint: str | None) -> ssl.SSLContext:
        """The client context for a VEN with this certificate fingerprint (one per VEN,
        made once: loading the key and the CA takes milliseconds)."""
        assert self._tls is not None
        if fingerprint is None:
            raise PushRefused("no certificate fingerprint is provisioned for this VEN")
        context = self._contexts.get(fingerprint)
        if context is None:
            context = ssl.create_default_context(cafile=str(self._tls.ca))
            context.load_cert_chain(str(self._tls.cert), str(self._tls.key))
            # The VEN is identified by its pinned certificate, not by a host name: VEN
            # certificates name the VEN, not the address it was reached at.
            context.check_hostname = False
            context.sslobject_class = type(
                "PinnedObject", (_PinnedObject,), {"expected": fingerprint}
            )
            self._contexts[fingerprint] = context
        return context

    async def post(self, url: str, body: str, fingerprint: str | None) -> PushAnswer:
        """POST ``body``; the VEN's answer when it is an HTTP 200, else ``PushRefused``."""
        options: dict[str, Any] = {}
        if self._tls is not None:
            if not url.startswith("https:"):
                raise PushRefused("with TLS configured, pushes go to https addresses only")
            options["ssl"] = self._context(fingerprint)
        try:
            async with self._client().post(
                url,
                data=body.encode("utf-8"),
                headers={"Content-Type": "application/xml"},
                **options,
            ) as response:
                answer = PushAnswer(response.status, await response.read())
        except (aiohttp.ClientError, OSError, TimeoutError, ssl.SSLError) as err:
            raise PushRefused(f"{type(err).__name__}: {err}"[:300]) from None
        if answer.status != 200:
            raise PushRefused(f"HTTP {answer.status}: {answer.body[:200]!r}")
        return answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
