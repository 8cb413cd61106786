"""Field VENs that deviate from the 2.0b schema in benign ways (``vtn_schema = "tolerant"``,
the default) and the strict VTN that refuses them; either way a 454 names the first schema
error, and no signature, fingerprint or replay check is relaxed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import VTN
from gateway.security.certs import DevPki, init_dev_pki
from gateway.settings import SettingsError, load_settings
from tests.oadr20b import messages
from tests.oadr20b.dialects import volttron
from tests.oadr20b.messages import OfferedPoint, OfferedReport
from tests.oadr20b.namespaces import findall, qname
from tests.oadr20b.signing import Signer
from tests.oadr20b.ven import RawVen, RawVens, raw_vens
from tests.support import Api
from tests.vtn.raw_ven import registered
from tests.vtn.test_conformance import CORPUS
from tests.vtn.test_ven_flow import provision

POINT = OfferedPoint("p1", "ra1", timedelta(seconds=10), timedelta(seconds=60))
UNQUALIFIED = "unqualified_schema_version"
NO_REQUEST_ID = "report_without_request_id"


@pytest.fixture
async def vens(vtn_url: str) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url) as made:
        yield made


async def deviations(client: TestClient[Any, Any], api: Api, ven_id: str) -> dict[str, int]:
    """The VEN's deviation counts as its view shows them (after the VTN stored its counts,
    which it does every few seconds)."""
    await client.server.app[VTN].state.flush_seen()
    view = await api.get(f"/api/vens/{ven_id}")
    return {kind: seen["count"] for kind, seen in view["schema_deviations"].items()}


def _broken_twice(ven: RawVen) -> bytes:
    """A VOLTTRON-style oadrRegisterReport with two errors of its own: its first report was
    created "yesterday", its second has an oadrOnChange of "maybe"."""
    reports = [OfferedReport("first", [POINT]), OfferedReport("second", [POINT])]
    body = messages.register_report("broken", ven.id, reports, ven.now())
    first, second = findall(body, "oadr:oadrReport")
    first.find(qname("ei:createdDateTime")).text = "yesterday"  # type: ignore[union-attr]
    second.find(f".//{qname('oadr:oadrOnChange')}").text = "maybe"  # type: ignore[union-attr]
    return ven.serialize(body)


# --- tolerant (the default) ------------------------------------------------------------------


async def test_a_volttron_ven_is_served_and_its_deviations_counted(
    api: Api, vens: RawVens, client: TestClient[Any, Any]
) -> None:
    await provision(api, "ven-v", {"a1": "ra1"})
    ven = vens("ven-v", ven_id="ven-v", dialect=volttron)
    assert (await ven.query_registration()).code == 200  # its first message got 454
    assert (await ven.register()).code == 200
    assert (await ven.register_reports([OfferedReport("telemetry", [POINT])])).code == 200
    create = await ven.poll()
    assert create.message_type == "oadrCreateReport"
    assert (await ven.created_report(create)).code == 200
    # Counted once the VEN is known: the query carried no venID.
    assert await deviations(client, api, "ven-v") == {UNQUALIFIED: 4, NO_REQUEST_ID: 1}

    plain = vens("ven-p", ven_id="ven-p")
    await provision(api, "ven-p", {})
    await plain.register()
    await plain.poll()
    assert await deviations(client, api, "ven-p") == {}


async def test_a_454_names_the_first_error_that_is_not_tolerated(api: Api, vens: RawVens) -> None:
    ven = await registered(api, vens, "ven-v", {"a1": "ra1"}, dialect=volttron)
    answer = await ven.post("EiReport", _broken_twice(ven))
    assert (answer.message_type, answer.code) == ("oadrRegisteredReport", 454)
    description = answer.description or ""
    assert "'yesterday'" in description, description
    assert "maybe" not in description, description  # the later error
    assert "schemaVersion" not in description, description  # tolerated


async def test_a_signed_volttron_ven_is_still_held_to_its_signature(
    api: Api, vens: RawVens, tmp_path: Path
) -> None:
    """Tolerance repairs a copy of the message; the signature is checked on what was sent."""
    pki: DevPki = init_dev_pki(tmp_path / "pki", ven_names=["ven-v", "ven-x"])
    mine, other = (Signer(c.cert.read_bytes(), c.key.read_bytes()) for c in pki.vens)
    await provision(api, "ven-v", {"a1": "ra1"}, fingerprint=pki.vens[0].fingerprint)
    ven = vens("ven-v", ven_id="ven-v", dialect=volttron, signer=mine)
    assert (await ven.register()).code == 200
    await ven.take_vtn_metadata()

    reports = [OfferedReport("telemetry", [POINT])]
    signed = ven.serialize(messages.register_report("rr-1", ven.id, reports, ven.now()))
    assert b'schemaVersion="2.0b"' in signed
    tampered = signed.replace(b">p1<", b">p2<")
    assert tampered != signed
    refused = await ven.post("EiReport", tampered)
    assert (refused.code, "signature is not valid" in (refused.description or "")) == (463, True)
    assert (await ven.post("EiReport", signed)).code == 200
    replayed = await ven.post("EiReport", signed)
    assert (replayed.code, "replayed" in (replayed.description or "")) == (463, True)

    ven.signer = other  # ven-x's certificate speaking for ven-v
    foreign = await ven.post("OadrPoll", ven.serialize(messages.poll(ven.id)))
    assert foreign.code == 463
    assert f"signed with certificate {pki.vens[1].fingerprint}" in (foreign.description or "")


# --- strict ----------------------------------------------------------------------------------


class TestStrict:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"vtn_schema": "strict"}

    async def test_the_deviations_are_refused_naming_the_first_error(
        self, api: Api, vens: RawVens, client: TestClient[Any, Any]
    ) -> None:
        await provision(api, "ven-v", {"a1": "ra1"})
        ven = vens("ven-v", ven_id="ven-v", dialect=volttron)
        for answer in (await ven.query_registration(), await ven.register()):
            assert (answer.message_type, answer.code) == ("oadrCreatedPartyRegistration", 454)
            assert "'schemaVersion'" in (answer.description or ""), answer.description
        assert (await api.get("/api/vens/ven-v"))["registered"] is False
        ven.dialect = None
        await ven.register()
        ven.dialect = volttron
        answer = await ven.post("EiReport", _broken_twice(ven))
        assert answer.code == 454
        assert "'schemaVersion'" in (answer.description or ""), answer.description
        assert await deviations(client, api, "ven-v") == {}

    async def test_the_volttron_corpus_poll_is_invalid_data(self, api: Api, vens: RawVens) -> None:
        # Tolerated by default, it is a poll of the unknown venID "0" (452, test_conformance).
        await provision(api, "0", {})
        answer = await vens("0").post("OadrPoll", (CORPUS / "volttron__ven_poll.xml").read_bytes())
        assert (answer.message_type, answer.code) == ("oadrResponse", 454)
        assert "'schemaVersion'" in (answer.description or "")

    async def test_a_compliant_ven_is_served(self, api: Api, vens: RawVens) -> None:
        await provision(api, "ven-a", {"a1": "ra1"})
        ven = vens("ven-a", ven_id="ven-a")
        assert (await ven.register()).code == 200
        assert (await ven.register_reports([OfferedReport("telemetry", [POINT])])).code == 200


def test_vtn_schema_is_tolerant_or_strict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GATEWAY_VTN_SCHEMA", raising=False)
    monkeypatch.chdir(tmp_path)  # no config/gateway.toml
    assert load_settings().vtn_schema == "tolerant"
    assert load_settings(vtn_schema="strict").vtn_schema == "strict"
    with pytest.raises(SettingsError, match="vtn_schema"):
        load_settings(vtn_schema="lenient")
