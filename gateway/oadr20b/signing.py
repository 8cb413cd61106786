"""XML signatures: our signing key, loaded once, and checks of every incoming signature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from openleadr import utils
from redis.asyncio import Redis
from signxml import XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from gateway.oadr20b.errors import OadrError, StatusCode

_DSP = "{http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties}"
_DS = "{http://www.w3.org/2000/09/xmldsig#}"


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    cert_pem: str
    algorithm: str  # signxml fragment: rsa-sha256 or ecdsa-sha256

    @property
    def fingerprint(self) -> str:
        return str(utils.certificate_fingerprint(self.cert_pem))

    @classmethod
    def load(cls, cert_path: Path, key_path: Path, passphrase: str | None = None) -> SigningKey:
        cert_pem = cert_path.read_text(encoding="ascii")
        key = serialization.load_pem_private_key(
            key_path.read_bytes(), passphrase.encode() if passphrase else None
        )
        if isinstance(key, rsa.RSAPrivateKey):
            return cls(key, cert_pem, "rsa-sha256")
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return cls(key, cert_pem, "ecdsa-sha256")
        raise ValueError(f"{key_path}: only RSA and EC keys can sign OpenADR messages")


def fingerprint_of_der(der: bytes) -> str:
    return str(utils.certificate_fingerprint_from_der(der))


def fingerprint_from_header(value: str) -> str | None:
    """The fingerprint of a client certificate a TLS-terminating proxy passed as URL-encoded
    PEM (nginx ``$ssl_client_escaped_cert``); None when it is not a certificate."""
    try:
        cert = x509.load_pem_x509_certificate(unquote(value).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return fingerprint_of_der(cert.public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True)
class ReplayProtect:
    timestamp: datetime
    nonce: str


def verify_signature(tree: etree._Element, expected_fingerprint: str | None) -> ReplayProtect:
    """Check the message's XML signature with the certificate it embeds, that certificate
    against the VEN's fingerprint, and read its ReplayProtect. Raises ``OadrError`` 463."""
    pem = _embedded_cert(tree)
    if pem is None:
        raise _unauthorized("the message signature carries no X509Certificate")
    fingerprint = str(utils.certificate_fingerprint(pem))
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        raise _unauthorized(f"the message was signed with certificate {fingerprint}, not the VEN's")
    try:
        XMLVerifier().verify(tree, x509_cert=pem, expect_references=2)
    except (InvalidSignature, InvalidInput, ValueError) as err:
        raise _unauthorized(f"the message signature is not valid: {err}"[:300]) from None
    try:
        timestamp = utils.parse_datetime(tree.findtext(f".//{_DSP}timestamp"))
        nonce = tree.findtext(f".//{_DSP}nonce")
    except Exception:
        raise _unauthorized("the signature's ReplayProtect is malformed") from None
    if not nonce or not isinstance(timestamp, datetime) or timestamp.tzinfo is None:
        raise _unauthorized("the signature has no ReplayProtect timestamp and nonce")
    return ReplayProtect(timestamp, nonce)


def _embedded_cert(tree: etree._Element) -> str | None:
    text = tree.findtext(f".//{_DS}X509Certificate")
    if not text:
        return None
    body = "".join(text.split())
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def _unauthorized(description: str) -> OadrError:
    return OadrError(StatusCode.NOT_REGISTERED_OR_AUTHORIZED, description)


class ReplayGuard:
    """A signed message is taken once: its nonce is remembered (in Redis, so every gateway
    process shares it) for as long as its timestamp is acceptable."""

    def __init__(self, redis: Redis, prefix: str, window: timedelta) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window

    async def check(self, protect: ReplayProtect, now: datetime) -> None:
        if protect.timestamp < now - self._window or protect.timestamp > now + self._window:
            raise _unauthorized(
                f"the signature's timestamp is more than {self._window.total_seconds():.0f} s "
                "from the VTN's clock"
            )
        fresh = await self._redis.set(
            f"{self._prefix}vtn:nonce:{protect.nonce[:128]}",
            "1",
            nx=True,
            ex=max(1, int(2 * self._window.total_seconds())),
        )
        if not fresh:
            raise _unauthorized("replayed message: this signature nonce was already used")
