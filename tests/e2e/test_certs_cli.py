"""``oadr-gateway certs init`` as a user runs it, and its certificates in a real TLS handshake."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.security.certs import fingerprint_of
from tests.e2e.test_cli import _clean_env
from tests.support import free_port

pytestmark = pytest.mark.e2e


def _console_script() -> str:
    """The installed ``oadr-gateway`` next to this interpreter (the venv's), else on PATH."""
    found = shutil.which("oadr-gateway", path=str(Path(sys.executable).parent)) or shutil.which(
        "oadr-gateway"
    )
    if found is None:
        pytest.fail("the oadr-gateway console script is not installed: pip install -e .")
    return found


def _certs_init(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_console_script(), *args],
        cwd=cwd,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _table(stdout: str) -> dict[tuple[str, str], list[str]]:
    """The printed table as {(role, name): [certificate, key, fingerprint]}."""
    rows: dict[tuple[str, str], list[str]] = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) == 5 and cells[0] in ("ca", "vtn", "ven"):
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


def test_certs_init_prints_the_fingerprints_of_the_files_it_wrote(tmp_path: Path) -> None:
    result = _certs_init(tmp_path, "certs", "init", "pki", "--vens", "2", "--key-type", "rsa")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    pki = tmp_path / "pki"
    assert sorted(p.name for p in pki.iterdir()) == [
        "ca.crt",
        "ca.key",
        "ven-ven1.crt",
        "ven-ven1.key",
        "ven-ven2.crt",
        "ven-ven2.key",
        "vtn.crt",
        "vtn.key",
    ]
    table = _table(result.stdout)
    assert list(table) == [("ca", "-"), ("vtn", "vtn"), ("ven", "ven1"), ("ven", "ven2")]
    assert table[("ca", "-")] == ["pki/ca.crt", "pki/ca.key", "-"]
    for (_, name), (cert, key, fingerprint) in list(table.items())[1:]:
        stem = "vtn" if name == "vtn" else f"ven-{name}"
        assert (cert, key) == (f"pki/{stem}.crt", f"pki/{stem}.key")
        assert fingerprint == fingerprint_of((tmp_path / cert).read_bytes())
        assert (tmp_path / key).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        assert (tmp_path / key).stat().st_mode & 0o777 == 0o600
    assert len({row[2] for row in table.values()}) == 4


def test_certs_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    assert _certs_init(tmp_path, "certs", "init").returncode == 0  # default DIR: ./certs
    vtn_crt = tmp_path / "certs" / "vtn.crt"
    before = vtn_crt.read_bytes()

    again = _certs_init(tmp_path, "certs", "init")
    assert again.returncode == 1
    assert again.stdout == ""
    assert "refusing to overwrite" in again.stderr
    assert "--force" in again.stderr
    assert vtn_crt.read_bytes() == before

    forced = _certs_init(tmp_path, "certs", "init", "--force", "--ven", "north", "--ven", "south")
    assert forced.returncode == 0, forced.stderr
    assert vtn_crt.read_bytes() != before
    table = _table(forced.stdout)
    assert [name for role, name in table if role == "ven"] == ["north", "south"]
    assert table[("vtn", "vtn")][2] == fingerprint_of(vtn_crt.read_bytes())


def test_certs_init_needs_no_settings(tmp_path: Path) -> None:
    """A broken configuration does not stop it: the PKI usually comes before any config."""
    bad = tmp_path / "bad.toml"
    bad.write_text("http_port = [\n")
    result = _certs_init(
        tmp_path,
        "--config",
        str(bad),
        "certs",
        "init",
        "out",
        "--host",
        "vtn.example.com",
        GATEWAY_HTTP_PORT="99999",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "vtn.crt").is_file()
    assert not (tmp_path / "data").exists()  # nothing else was started or written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ven", "../x"], "invalid VEN name"),
        (["--host", "not a host"], "invalid VTN host name"),
    ],
)
def test_certs_init_bad_names_are_usage_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = _certs_init(tmp_path, "certs", "init", "out", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_vens_and_ven_do_not_mix(tmp_path: Path) -> None:
    result = _certs_init(tmp_path, "certs", "init", "--vens", "2", "--ven", "a")
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


# -- a real mutual-TLS handshake with the generated files -------------------------------------


@pytest.fixture(scope="module", params=["ec", "rsa"])
def pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two PKIs made by the command: ours (``pki``) and a stranger's (``other``)."""
    workdir = tmp_path_factory.mktemp(f"pki-{request.param}")
    for name in ("pki", "other"):
        result = _certs_init(workdir, "certs", "init", name, "--key-type", request.param)
        assert result.returncode == 0, result.stderr
    return workdir / "pki"


class Vtn:
    def __init__(self, url: str) -> None:
        self.url = url
        self.served: list[str] = []  # the client certificate CN of each request served


@pytest.fixture
async def vtn(pki: Path) -> AsyncIterator[Vtn]:
    """An aiohttp server with the VTN certificate that demands a client certificate from the CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_cert_chain(pki / "vtn.crt", pki / "vtn.key")
    context.load_verify_locations(pki / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED

    port = free_port()
    server = Vtn(f"https://127.0.0.1:{port}/")

    async def hello(request: web.Request) -> web.Response:
        assert request.transport is not None
        peer = request.transport.get_extra_info("peercert")
        subject = dict(rdn[0] for rdn in peer["subject"])
        server.served.append(subject["commonName"])
        return web.Response(text=f"hello {subject['commonName']}")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    yield server
    await runner.cleanup()


def _client_context(
    ca: Path,
    cert: Path | None = None,
    key: Path | None = None,
    tls: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.maximum_version = tls
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


async def _get(url: str, context: ssl.SSLContext, server_hostname: str | None = None) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, ssl=context, server_hostname=server_hostname) as resp,
    ):
        assert resp.status == 200
        return await resp.text()


TLS_VERSIONS = pytest.mark.parametrize(
    "tls", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)


@TLS_VERSIONS
async def test_a_ven_certificate_opens_a_mutual_tls_connection(
    pki: Path, vtn: Vtn, tls: ssl.TLSVersion
) -> None:
    context = _client_context(pki / "ca.crt", pki / "ven-ven1.crt", pki / "ven-ven1.key", tls)
    assert await _get(vtn.url, context) == "hello ven1"  # the VTN is trusted as 127.0.0.1 ...
    assert await _get(vtn.url, context, server_hostname="localhost") == "hello ven1"  # localhost
    assert vtn.served == ["ven1", "ven1"]


async def test_the_vtn_is_not_trusted_under_another_name(pki: Path, vtn: Vtn) -> None:
    context = _client_context(pki / "ca.crt", pki / "ven-ven1.crt", pki / "ven-ven1.key")
    with pytest.raises(aiohttp.ClientConnectorCertificateError, match="Hostname mismatch"):
        await _get(vtn.url, context, server_hostname="vtn.example.com")
    assert vtn.served == []


@TLS_VERSIONS
async def test_a_client_without_certificate_is_refused(
    pki: Path, vtn: Vtn, tls: ssl.TLSVersion
) -> None:
    # The server drops the connection: during the handshake with TLS 1.2, right after it with
    # TLS 1.3 (where the client learns of its refusal only when it sends the request).
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(vtn.url, _client_context(pki / "ca.crt", tls=tls))
    assert vtn.served == []


@TLS_VERSIONS
async def test_a_client_certificate_from_another_ca_is_refused(
    pki: Path, vtn: Vtn, tls: ssl.TLSVersion
) -> None:
    other = pki.parent / "other"  # same CA name, other key: only the signature tells them apart
    context = _client_context(pki / "ca.crt", other / "ven-ven1.crt", other / "ven-ven1.key", tls)
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(vtn.url, context)
    assert vtn.served == []
