"""Pushes over mutual TLS: the VTN presents its certificate, signs what it pushes, and sends
only to a server holding the VEN's provisioned certificate (another VEN's, from the same CA,
gets nothing: the handshake fails before a byte of the message is sent)."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from gateway.security.certs import DevPki, IssuedCert, init_dev_pki
from tests.oadr20b.signing import Signer
from tests.oadr20b.ven import RawVen, utc_now
from tests.push.conftest import VTN_PATH, drop_prefix, push_settings, running_gateway
from tests.push.ven import Pushed, PushVen
from tests.support import Api, free_port


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return init_dev_pki(tmp_path / "pki", ven_names=["ven-a", "ven-b", "ven-c"], key_type="ec")


def _server_context(pki: DevPki, holder: IssuedCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_cert))
    context.load_cert_chain(str(holder.cert), str(holder.key))
    context.verify_mode = ssl.CERT_REQUIRED  # the VTN must show its certificate
    return context


def _client_context(pki: DevPki, holder: IssuedCert) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(holder.cert), str(holder.key))
    context.check_hostname = False
    return context


@pytest.fixture
async def tls_site(tmp_path: Path, pki: DevPki) -> AsyncIterator[tuple[Api, str]]:
    prefix = f"test:push:{uuid.uuid4().hex[:12]}:"
    port = free_port()
    settings = push_settings(
        tmp_path, prefix, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}", vtn_port=port,
        vtn_tls_cert=pki.vtn.cert, vtn_tls_key=pki.vtn.key, vtn_tls_ca=pki.ca_cert,
    )  # fmt: skip
    try:
        async with running_gateway(settings) as client:
            yield Api(client), f"https://127.0.0.1:{port}{VTN_PATH}"
    finally:
        await drop_prefix(prefix)


async def _tls_ven(
    api: Api, vtn_url: str, pki: DevPki, session: aiohttp.ClientSession, own: IssuedCert,
    serves_with: IssuedCert,
) -> tuple[PushVen, str]:  # fmt: skip
    """A VEN provisioned with ``own``'s fingerprint whose push server shows ``serves_with``."""
    name = own.name
    await api.post(
        "/api/vens", {"name": name, "ven_id": name, "fingerprint": own.fingerprint}, status=201
    )
    device = f"{name}-d"
    await api.device(device, ven_id=name, resource_id=f"{device}-r")
    signer = Signer(own.cert.read_bytes(), own.key.read_bytes())
    raw = RawVen(session, vtn_url, name, utc_now, ven_id=name, signer=signer)
    ven = PushVen(raw, ssl_context=_server_context(pki, serves_with))
    await ven.start()
    # An impostor's server is never pushed to: not even the METADATA after registering.
    assert (await ven.register(metadata=own is serves_with)).code == 200
    return ven, device


async def test_pushes_are_signed_over_mutual_tls_to_the_pinned_ven(
    tls_site: tuple[Api, str], pki: DevPki
) -> None:
    api, vtn_url = tls_site
    ven_a, ven_b, ven_c = pki.vens  # ven-b's server shows ven-c's certificate
    seen_client: list[str] = []
    vens: list[PushVen] = []
    try:
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=_client_context(pki, ven_a))
            ) as session_a,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=_client_context(pki, ven_b))
            ) as session_b,
        ):
            honest, device_a = await _tls_ven(api, vtn_url, pki, session_a, ven_a, ven_a)
            impostor, device_b = await _tls_ven(api, vtn_url, pki, session_b, ven_b, ven_c)
            vens += [honest, impostor]

            def note_client(pushed: Pushed) -> None:
                seen_client.append(pushed.peer or "")

            honest.on_push = note_client
            start = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
            await api.invite([device_a, device_b], event_time=start, duration_minutes=5,
                             load_kwh=1.0, load_percentage=30.0)  # fmt: skip
            pushed = await honest.wait_for("oadrDistributeEvent", within=2.0)
            assert pushed.answer.signed
            assert seen_client == [pki.vtn.fingerprint]
            assert honest.problems == []
            for _ in range(40):
                push = (await api.get(f"/api/vens/{ven_b.name}"))["push"]
                if push["failures"]:
                    break
                await asyncio.sleep(0.05)
            assert push["failures"] > 0
            assert "not the one provisioned" in (push["last_error"] or ""), push
            assert impostor.received == []
    finally:
        for ven in vens:
            await ven.stop()
