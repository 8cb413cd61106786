"""A development PKI for OpenADR over mutual TLS: a CA, the VTN's and the VENs' certificates.

Everything is generated with ``cryptography`` and written as PEM into one directory::

    ca.crt  ca.key              the CA (the VTN trusts VEN certificates it signed)
    vtn.crt vtn.key             the VTN's server (and client) certificate
    ven-<name>.crt ven-<name>.key   one per VEN

Keys are unencrypted PKCS8, mode 0600, owned by whoever runs the command or, with ``owner``,
by that user (the container's ``gateway`` user, so that it can read them: ``oadr-gateway
certs init --owner 10001:10001``, as root). Fingerprints are computed by openleadr itself, so they
are exactly what openleadr clients and servers print and compare.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from openleadr.utils import certificate_fingerprint

KeyType = Literal["rsa", "ec"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_KEY_SIZE = 2048
BACKDATE = timedelta(hours=1)  # tolerate clocks a little behind ours
LEAF_VALIDITY = timedelta(days=825)
CA_VALIDITY = timedelta(days=3650)
DEFAULT_VTN_HOSTNAMES = ("localhost", "127.0.0.1")
CA_COMMON_NAME = "oadr-gateway development CA"
ORGANIZATION = "oadr-gateway (development)"

# A VEN name becomes part of a file name and a certificate's CN (at most 64 characters).
_VEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")  # a leading "*." for a wildcard


class PkiExistsError(FileExistsError):
    """Some of the files to write exist already and ``overwrite`` was not given."""

    def __init__(self, existing: Sequence[Path]) -> None:
        self.existing = tuple(existing)
        names = ", ".join(str(path) for path in self.existing)
        super().__init__(f"refusing to overwrite existing files: {names}")


@dataclass(frozen=True)
class FileOwner:
    """Numeric ids: names would be resolved on this host, not in the container."""

    uid: int
    gid: int

    @classmethod
    def parse(cls, text: str) -> FileOwner:
        """``UID`` or ``UID:GID`` (the group defaults to the same number)."""
        uid, _, gid = text.partition(":")
        if not uid.isdigit() or not (gid.isdigit() or gid == ""):
            raise ValueError(f"owner must be UID or UID:GID in numbers, not {text!r}")
        return cls(int(uid), int(gid or uid))


@dataclass(frozen=True)
class IssuedCert:
    """One end-entity certificate, its key and its OpenADR fingerprint."""

    name: str
    cert: Path
    key: Path
    fingerprint: str


@dataclass(frozen=True)
class DevPki:
    """What ``init_dev_pki`` wrote."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    vtn: IssuedCert
    vens: tuple[IssuedCert, ...]
    not_valid_after: datetime  # of the VTN and VEN certificates


def fingerprint_of(cert_pem: bytes) -> str:
    """The OpenADR fingerprint of a PEM certificate, exactly as openleadr computes it."""
    return str(certificate_fingerprint(cert_pem))


def init_dev_pki(
    directory: Path,
    *,
    ven_names: Sequence[str],
    key_type: KeyType = "ec",
    vtn_hostnames: Sequence[str] = DEFAULT_VTN_HOSTNAMES,
    now: datetime | None = None,
    overwrite: bool = False,
    owner: FileOwner | None = None,
) -> DevPki:
    """Create a CA, a VTN certificate and one certificate per VEN in ``directory``, every file
    owned by ``owner`` when given (changing a file's owner needs root).

    Raises ``PkiExistsError`` (a ``FileExistsError``) before writing anything when one of the
    files exists and ``overwrite`` is false, and ``ValueError`` for a bad name or time.
    """
    names = _check_ven_names(ven_names)
    sans = _vtn_sans(vtn_hostnames)
    if key_type not in ("rsa", "ec"):
        raise ValueError(f"key type must be 'rsa' or 'ec', not {key_type!r}")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    now = now.astimezone(UTC)

    directory = Path(directory)
    ca_cert_path, ca_key_path = directory / "ca.crt", directory / "ca.key"
    vtn_paths = (directory / "vtn.crt", directory / "vtn.key")
    ven_paths = [(directory / f"ven-{n}.crt", directory / f"ven-{n}.key") for n in names]
    every_path = [ca_cert_path, ca_key_path, *vtn_paths, *(p for pair in ven_paths for p in pair)]
    if not overwrite:
        existing = [path for path in every_path if path.exists() or path.is_symlink()]
        if existing:
            raise PkiExistsError(existing)

    # Generate everything first, so that a failure writes nothing.
    ca_key = _new_key(key_type)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
        ]
    )
    ca_cert = _ca_certificate(ca_key, ca_name, now)

    vtn_key = _new_key(key_type)
    vtn_cert = _leaf_certificate(
        vtn_key, _common_name(sans), ca_cert, ca_key, now, x509.SubjectAlternativeName(sans)
    )
    ven_material = []
    for name in names:
        key = _new_key(key_type)
        ven_material.append((key, _leaf_certificate(key, name, ca_cert, ca_key, now, None)))

    if owner is not None and os.geteuid() not in (0, owner.uid):
        raise PermissionError(f"only root can give the files to uid {owner.uid} (run with sudo)")
    directory.mkdir(parents=True, exist_ok=True)
    _write_key(ca_key_path, ca_key, overwrite, owner)
    _write_cert(ca_cert_path, ca_cert, overwrite, owner)
    vtn = _write_pair("vtn", vtn_paths, vtn_key, vtn_cert, overwrite, owner)
    vens = tuple(
        _write_pair(name, paths, key, cert, overwrite, owner)
        for name, paths, (key, cert) in zip(names, ven_paths, ven_material, strict=True)
    )
    return DevPki(
        directory=directory,
        ca_cert=ca_cert_path,
        ca_key=ca_key_path,
        vtn=vtn,
        vens=vens,
        not_valid_after=vtn_cert.not_valid_after_utc,
    )


def _check_ven_names(ven_names: Sequence[str]) -> list[str]:
    if isinstance(ven_names, str):  # a lone name would be taken letter by letter
        raise TypeError("ven_names must be a sequence of names, not a string")
    names = list(ven_names)
    seen: set[str] = set()
    for name in names:
        if not _VEN_NAME.fullmatch(name):
            raise ValueError(
                f"invalid VEN name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if name.lower() in seen:  # ven-A.crt and ven-a.crt are one file on some systems
            raise ValueError(f"VEN name {name!r} is given twice")
        seen.add(name.lower())
    return names


def _vtn_sans(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    if isinstance(hostnames, str):
        raise TypeError("vtn_hostnames must be a sequence of names, not a string")
    if not hostnames:
        raise ValueError("the VTN certificate needs at least one host name or IP address")
    sans: list[x509.GeneralName] = []
    for host in hostnames:
        general: x509.GeneralName
        try:
            general = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            if len(host) > 253 or not _HOSTNAME.fullmatch(host):
                raise ValueError(f"invalid VTN host name {host!r}") from None
            general = x509.DNSName(host.lower())
        if general not in sans:
            sans.append(general)
    return sans


def _common_name(sans: Sequence[x509.GeneralName]) -> str:
    """The VTN's CN: its first DNS name (openleadr shows the CN as the domain), else its IP."""
    for san in sans:
        if isinstance(san, x509.DNSName):
            return str(san.value)[:64]
    return str(sans[0].value)


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    return ec.generate_private_key(ec.SECP256R1())


def _ca_certificate(key: PrivateKey, name: x509.Name, now: datetime) -> x509.Certificate:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    key: PrivateKey,
    common_name: str,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    now: datetime,
    san: x509.SubjectAlternativeName | None,
) -> x509.Certificate:
    public = key.public_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                # RSA key transport (TLS 1.2 RSA cipher suites) needs keyEncipherment.
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write_pair(
    name: str,
    paths: tuple[Path, Path],
    key: PrivateKey,
    cert: x509.Certificate,
    overwrite: bool,
    owner: FileOwner | None,
) -> IssuedCert:
    cert_path, key_path = paths
    _write_key(key_path, key, overwrite, owner)
    pem = _write_cert(cert_path, cert, overwrite, owner)
    return IssuedCert(name=name, cert=cert_path, key=key_path, fingerprint=fingerprint_of(pem))


def _write_key(path: Path, key: PrivateKey, overwrite: bool, owner: FileOwner | None) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(path, pem, 0o600, overwrite, owner)


def _write_cert(
    path: Path, cert: x509.Certificate, overwrite: bool, owner: FileOwner | None
) -> bytes:
    pem = cert.public_bytes(serialization.Encoding.PEM)
    _write(path, pem, 0o644, overwrite, owner)
    return pem


def _write(path: Path, data: bytes, mode: int, overwrite: bool, owner: FileOwner | None) -> None:
    """Create ``path`` with ``mode`` from the first byte, so a key is never readable by others,
    not even briefly. An old file (or symlink) is replaced, never written through, with
    ``overwrite``; without it, a file that appeared since the check is left alone."""
    if overwrite:
        path.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise PkiExistsError([path]) from None
    try:
        with os.fdopen(fd, "wb") as file:
            if owner is not None:  # before the key is in it: only its owner ever reads it
                os.fchown(file.fileno(), owner.uid, owner.gid)
            os.fchmod(file.fileno(), mode)  # exactly ``mode``, whatever the umask
            file.write(data)
    except OSError:
        path.unlink(missing_ok=True)  # no empty or partial file left to block the next run
        raise
