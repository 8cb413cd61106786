"""The development PKI: what ``init_dev_pki`` writes, checked by parsing the files back."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree
from openleadr import messaging
from openleadr.utils import certificate_fingerprint

from gateway.security.certs import (
    DevPki,
    FileOwner,
    PkiExistsError,
    fingerprint_of,
    init_dev_pki,
)

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
FILES = ["ca.crt", "ca.key", "ven-ven1.crt", "ven-ven1.key", "vtn.crt", "vtn.key"]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _key(path: Path) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _sha256_tail(cert: x509.Certificate) -> str:
    """OpenADR's fingerprint, worked out independently: the last 10 bytes of SHA-256(DER)."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    return ":".join(f"{byte:02X}" for byte in digest[-10:])


@pytest.fixture
def ec_pki(tmp_path: Path) -> DevPki:
    return init_dev_pki(tmp_path / "certs", ven_names=["ven1", "ven2"], now=NOW)


def test_writes_the_documented_layout(ec_pki: DevPki, tmp_path: Path) -> None:
    d = tmp_path / "certs"
    assert sorted(p.name for p in d.iterdir()) == sorted([*FILES, "ven-ven2.crt", "ven-ven2.key"])
    assert (ec_pki.directory, ec_pki.ca_cert, ec_pki.ca_key) == (d, d / "ca.crt", d / "ca.key")
    assert (ec_pki.vtn.name, ec_pki.vtn.cert, ec_pki.vtn.key) == (
        "vtn",
        d / "vtn.crt",
        d / "vtn.key",
    )
    assert [(v.name, v.cert, v.key) for v in ec_pki.vens] == [
        ("ven1", d / "ven-ven1.crt", d / "ven-ven1.key"),
        ("ven2", d / "ven-ven2.crt", d / "ven-ven2.key"),
    ]


def test_fingerprints_are_openleadrs(ec_pki: DevPki) -> None:
    issued = [ec_pki.vtn, *ec_pki.vens]
    fingerprints = [i.fingerprint for i in issued]
    for item in issued:
        pem = item.cert.read_bytes()
        assert item.fingerprint == certificate_fingerprint(pem)
        assert item.fingerprint == certificate_fingerprint(pem.decode())
        assert item.fingerprint == fingerprint_of(pem)
        assert item.fingerprint == _sha256_tail(_cert(item.cert))
        assert len(item.fingerprint) == 29  # 10 bytes as XX:XX:...
    assert len(set(fingerprints)) == 3


def test_ca_is_a_real_ca(ec_pki: DevPki) -> None:
    ca = _cert(ec_pki.ca_cert)
    assert ca.subject == ca.issuer
    assert _cn(ca) == "oadr-gateway development CA"
    ca.verify_directly_issued_by(ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical is True
    assert (constraints.value.ca, constraints.value.path_length) == (True, 0)
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign) == (True, True)
    assert ca.not_valid_before_utc == NOW - timedelta(hours=1)
    assert ca.not_valid_after_utc == NOW + timedelta(days=3650)
    key = _key(ec_pki.ca_key)
    assert ca.public_key() == key.public_key()


def test_vtn_certificate_serves_localhost_and_127_0_0_1(ec_pki: DevPki) -> None:
    ca = _cert(ec_pki.ca_cert)
    vtn = _cert(ec_pki.vtn.cert)
    vtn.verify_directly_issued_by(ca)
    assert vtn.issuer == ca.subject
    assert _cn(vtn) == "localhost"
    san = vtn.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = vtn.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert vtn.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert vtn.not_valid_before_utc == NOW - timedelta(hours=1)
    assert vtn.not_valid_after_utc == NOW + timedelta(days=825)
    assert ec_pki.not_valid_after == NOW + timedelta(days=825)
    assert vtn.public_key() == _key(ec_pki.vtn.key).public_key()


def test_ven_certificates_are_signed_by_the_ca(ec_pki: DevPki, tmp_path: Path) -> None:
    ca = _cert(ec_pki.ca_cert)
    other_ca = _cert(init_dev_pki(tmp_path / "other", ven_names=[], now=NOW).ca_cert)
    for ven in ec_pki.vens:
        cert = _cert(ven.cert)
        cert.verify_directly_issued_by(ca)
        assert other_ca.subject == ca.subject  # same name, other key: the signature decides
        with pytest.raises(InvalidSignature):
            cert.verify_directly_issued_by(other_ca)
        assert _cn(cert) == ven.name
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        assert cert.not_valid_after_utc == NOW + timedelta(days=825)
        assert cert.public_key() == _key(ven.key).public_key()


def test_ec_keys_are_p256_pkcs8_unencrypted_and_private(ec_pki: DevPki) -> None:
    for path in (ec_pki.ca_key, ec_pki.vtn.key, *(v.key for v in ec_pki.vens)):
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS8, clear
        key = _key(path)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for path in (ec_pki.ca_cert, ec_pki.vtn.cert, *(v.cert for v in ec_pki.vens)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert isinstance(_cert(path).signature_hash_algorithm, hashes.SHA256)


def test_rsa_keys_are_2048_bits(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path, ven_names=["a"], key_type="rsa", now=NOW)
    for path in (pki.ca_key, pki.vtn.key, pki.vens[0].key):
        key = _key(path)
        assert isinstance(key, rsa.RSAPrivateKey)
        assert (key.key_size, key.private_numbers().public_numbers.e) == (2048, 65537)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ca = _cert(pki.ca_cert)
    ven = _cert(pki.vens[0].cert)
    ven.verify_directly_issued_by(ca)
    assert pki.vens[0].fingerprint == certificate_fingerprint(pki.vens[0].cert.read_bytes())
    usage = ven.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_encipherment) == (True, True)


def test_custom_hosts_become_dns_and_ip_sans(tmp_path: Path) -> None:
    pki = init_dev_pki(
        tmp_path,
        ven_names=[],
        vtn_hostnames=["VTN.example.com", "10.0.0.5", "::1", "vtn.example.com"],
        now=NOW,
    )
    vtn = _cert(pki.vtn.cert)
    san = vtn.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["vtn.example.com"]  # once, lower case
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.5"),
        ipaddress.ip_address("::1"),
    ]
    assert _cn(vtn) == "vtn.example.com"
    assert pki.vens == ()


def test_an_ip_only_vtn_is_named_by_its_ip(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path, ven_names=[], vtn_hostnames=["192.0.2.7"], now=NOW)
    assert _cn(_cert(pki.vtn.cert)) == "192.0.2.7"


def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    first = init_dev_pki(tmp_path, ven_names=["ven1"], now=NOW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(PkiExistsError) as caught:
        init_dev_pki(tmp_path, ven_names=["ven1", "ven2"], now=NOW)
    assert isinstance(caught.value, FileExistsError)
    assert [p.name for p in caught.value.existing] == [
        "ca.crt",
        "ca.key",
        "vtn.crt",
        "vtn.key",
        "ven-ven1.crt",
        "ven-ven1.key",
    ]
    assert "refusing to overwrite" in str(caught.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no ven2 either
    assert first.vtn.fingerprint == fingerprint_of((tmp_path / "vtn.crt").read_bytes())


def test_one_existing_file_is_enough_to_refuse(tmp_path: Path) -> None:
    (tmp_path / "ven-ven1.key").write_text("mine")
    with pytest.raises(PkiExistsError) as caught:
        init_dev_pki(tmp_path, ven_names=["ven1"], now=NOW)
    assert caught.value.existing == (tmp_path / "ven-ven1.key",)
    assert [p.name for p in tmp_path.iterdir()] == ["ven-ven1.key"]
    assert (tmp_path / "ven-ven1.key").read_text() == "mine"


def test_overwrite_replaces_files_with_a_new_pki(tmp_path: Path) -> None:
    first = init_dev_pki(tmp_path, ven_names=["ven1"], now=NOW)
    (tmp_path / "vtn.key").chmod(0o644)
    outside = tmp_path / "outside"
    outside.write_text("keep")
    (tmp_path / "ven-ven1.key").unlink()
    (tmp_path / "ven-ven1.key").symlink_to(outside)
    second = init_dev_pki(tmp_path, ven_names=["ven1"], key_type="rsa", now=NOW, overwrite=True)
    assert second.vtn.fingerprint != first.vtn.fingerprint
    assert second.vtn.fingerprint == fingerprint_of((tmp_path / "vtn.crt").read_bytes())
    assert stat.S_IMODE((tmp_path / "vtn.key").stat().st_mode) == 0o600
    assert isinstance(_key(tmp_path / "vtn.key"), rsa.RSAPrivateKey)
    assert not (tmp_path / "ven-ven1.key").is_symlink()  # the link is replaced ...
    assert outside.read_text() == "keep"  # ... never written through
    _cert(second.vens[0].cert).verify_directly_issued_by(_cert(second.ca_cert))


@pytest.mark.parametrize(
    "names",
    [["../evil"], ["a/b"], [""], [".hidden"], ["x" * 65], ["ven1", "VEN1"], ["sp ace"]],
)
def test_bad_ven_names_are_refused(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(ValueError, match="VEN name"):
        init_dev_pki(tmp_path / "d", ven_names=names, now=NOW)
    assert not (tmp_path / "d").exists()


def test_a_string_is_not_a_list_of_names(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        init_dev_pki(tmp_path, ven_names="ven1", now=NOW)


@pytest.mark.parametrize("hosts", [[], ["bad host"], ["-x.example"], ["a..b"]])
def test_bad_vtn_hosts_are_refused(tmp_path: Path, hosts: list[str]) -> None:
    with pytest.raises(ValueError, match="VTN"):
        init_dev_pki(tmp_path / "d", ven_names=["v"], vtn_hostnames=hosts, now=NOW)
    assert not (tmp_path / "d").exists()


def test_time_must_be_timezone_aware_and_is_kept_in_utc(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        init_dev_pki(tmp_path, ven_names=[], now=datetime(2030, 1, 1))  # noqa: DTZ001
    paris = datetime(2030, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    pki = init_dev_pki(tmp_path, ven_names=[], now=paris)
    assert _cert(pki.vtn.cert).not_valid_before_utc == NOW - timedelta(hours=1)


def test_default_time_is_now(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    pki = init_dev_pki(tmp_path, ven_names=["v"])
    after = datetime.now(UTC)
    start = _cert(pki.vens[0].cert).not_valid_before_utc + timedelta(hours=1)
    assert before <= start <= after


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_openleadr_accepts_a_message_signed_with_a_ven_key(
    tmp_path: Path, key_type: Literal["rsa", "ec"]
) -> None:
    """The key and certificate sign OpenADR XML, and the printed fingerprint is the one
    openleadr checks the signature's certificate against."""
    pki = init_dev_pki(tmp_path, ven_names=["ven1"], key_type=key_type)
    ven = pki.vens[0]
    xml = messaging.create_message(
        "oadrPoll", ven_id="ven1", cert=ven.cert.read_bytes(), key=ven.key.read_bytes()
    )
    tree = etree.fromstring(xml.encode())
    messaging.validate_xml_signature(tree, cert_fingerprint=ven.fingerprint)
    with pytest.raises(Exception, match="fingerprint was incorrect"):
        messaging.validate_xml_signature(tree, cert_fingerprint=pki.vtn.fingerprint)


def test_owner_gets_every_file_and_keys_stay_private(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving files to another user needs root")
    owner = FileOwner(10001, 10002)
    pki = init_dev_pki(tmp_path / "certs", ven_names=["ven1"], now=NOW, owner=owner)
    for path in (pki.ca_key, pki.vtn.key, pki.vens[0].key, pki.ca_cert, pki.vtn.cert):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (10001, 10002), path
    assert stat.S_IMODE(pki.vtn.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.vtn.cert.stat().st_mode) == 0o644


def test_owner_of_ones_own_uid_needs_no_root(tmp_path: Path) -> None:
    me = FileOwner(os.geteuid(), os.getegid())
    pki = init_dev_pki(tmp_path / "certs", ven_names=[], now=NOW, owner=me)
    assert pki.vtn.key.stat().st_uid == me.uid


def test_another_owner_without_root_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PermissionError, match="only root"):
        init_dev_pki(tmp_path / "certs", ven_names=["ven1"], now=NOW, owner=FileOwner(10001, 10001))
    assert not (tmp_path / "certs").exists()


@pytest.mark.parametrize(
    ("text", "owner"), [("10001", FileOwner(10001, 10001)), ("10001:42", FileOwner(10001, 42))]
)
def test_owner_is_parsed_from_numbers(text: str, owner: FileOwner) -> None:
    assert FileOwner.parse(text) == owner


@pytest.mark.parametrize("text", ["gateway", ":1", "-1", "1:x", ""])
def test_owner_must_be_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="UID or UID:GID"):
        FileOwner.parse(text)
