"""A VEN's certificate rotated through ``PATCH /api/vens/{id}``, seen by a raw-XML 2.0b VEN
behind a TLS-terminating proxy (its certificate in a header): the VTN checks the new
fingerprint from the VEN's next message on, and the registration stays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.security.certs import DevPki, IssuedCert, init_dev_pki
from tests.oadr20b.ven import RawVen, utc_now
from tests.support import Api
from tests.vtn.conftest import VTN_PATH

PROXY_HEADER = "X-SSL-Client-Cert"
NOT_AUTHORIZED = 463


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return init_dev_pki(tmp_path / "pki", ven_names=["ven-a", "ven-a-new"], key_type="ec")


@pytest.fixture
def settings_overrides(pki: DevPki) -> dict[str, Any]:
    """Behind a TLS-terminating proxy: the VEN's certificate arrives in a header."""
    return {"vtn_client_cert_header": PROXY_HEADER, "vtn_require_signatures": False}


def _cert(pki: DevPki, name: str) -> IssuedCert:
    return next(c for c in pki.vens if c.name == name)


@pytest.fixture
async def behind_proxy(
    client: TestClient[Any, Any], pki: DevPki
) -> AsyncIterator[dict[str, RawVen]]:
    """The same VEN twice: presenting its old certificate, and its new one."""
    url = str(client.make_url(VTN_PATH))
    sessions = []
    made = {}
    for name in ("ven-a", "ven-a-new"):
        pem = _cert(pki, name).cert.read_text(encoding="ascii")
        session = aiohttp.ClientSession(headers={PROXY_HEADER: quote(pem, safe="")})
        sessions.append(session)
        made[name] = RawVen(session, url, "ven-a", utc_now, ven_id="ven-a")
    yield made
    for session in sessions:
        await session.close()


async def test_a_rotated_fingerprint_is_the_one_checked_from_the_next_message(
    api: Api, pki: DevPki, behind_proxy: dict[str, RawVen]
) -> None:
    old, new = behind_proxy["ven-a"], behind_proxy["ven-a-new"]
    await api.post(
        "/api/vens",
        {"name": "ven-a", "ven_id": "ven-a", "fingerprint": _cert(pki, "ven-a").fingerprint},
        status=201,
    )
    assert (await old.register()).code == 200
    await old.take_vtn_metadata()  # the poll after registering brings the VTN's METADATA
    assert (await new.poll()).code == NOT_AUTHORIZED

    rotated = await api.patch(
        "/api/vens/ven-a", {"fingerprint": _cert(pki, "ven-a-new").fingerprint}, status=200
    )
    assert rotated["fingerprint"] == _cert(pki, "ven-a-new").fingerprint
    assert rotated["registered"] is True  # the registration stays
    refused = await old.poll()
    assert refused.code == NOT_AUTHORIZED, refused.body[:300]
    new.registration_id = old.registration_id
    assert (await new.poll()).code == 200
