"""The VTN over mutual TLS with XML signatures, behind a TLS-terminating proxy, and over plain
HTTP: stock openleadr VENs that work both ways, and every way in that must be refused.

Certificates are made per test (``init_dev_pki``); the VTN is served on its own free port on
127.0.0.1. Raw messages are built with openleadr's own ``create_message`` and posted with
aiohttp, so that each refusal can be checked: an XSD-valid, VTN-signed OpenADR answer with code
463 (and never an HTTP 500, which stock openleadr gives to an unsigned message over TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import openleadr.messaging
import pytest
from lxml import etree
from openleadr import OpenADRClient
from openleadr.messaging import (
    XML_SCHEMA,
    create_message,
    parse_message,
    validate_xml_signature,
)
from openleadr.utils import datetimeformat

from gateway.oadr20b.codec import Encoder
from gateway.oadr20b.signing import SigningKey
from gateway.security.certs import DevPki, IssuedCert, KeyType, init_dev_pki
from gateway.settings import Settings
from tests.support import Api, free_port
from tests.vtn.conftest import VTN_PATH, VenFactory, eventually
from tests.vtn.test_ven_flow import Inbox, answering, register

PROXY_HEADER = "X-SSL-Client-Cert"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
DSP = "{http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties}"
NOT_AUTHORIZED = 463


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def key_type() -> KeyType:
    return "ec"


@pytest.fixture
def pki(tmp_path: Path, key_type: KeyType) -> DevPki:
    """A CA, the VTN's certificate and three VENs' (ven-a, ven-b, ven-c), made for this test."""
    return init_dev_pki(tmp_path / "pki", ven_names=["ven-a", "ven-b", "ven-c"], key_type=key_type)


@pytest.fixture
def mode() -> str:
    """How the VTN is reached: "tls" (own port, mutual TLS), "proxy" (client certificate in
    a header, admin port, no TLS) or "http" (admin port, plain HTTP)."""
    return "tls"


@pytest.fixture
def settings_overrides(mode: str, pki: DevPki) -> dict[str, Any]:
    if mode == "tls":
        return {
            "vtn_port": free_port(),
            "vtn_tls_cert": pki.vtn.cert,
            "vtn_tls_key": pki.vtn.key,
            "vtn_tls_ca": pki.ca_cert,
        }
    if mode == "proxy":
        return {
            "vtn_client_cert_header": PROXY_HEADER,
            "vtn_signing_cert": pki.vtn.cert,
            "vtn_signing_key": pki.vtn.key,
        }
    assert mode == "http"
    return {}


@dataclass
class Answer:
    message_type: str
    payload: dict[str, Any]

    @property
    def code(self) -> int | None:
        """The OpenADR response code; None for a message without one (such as
        oadrRequestReregistration)."""
        response = self.payload.get("response")
        return int(response["response_code"]) if isinstance(response, dict) else None


@dataclass
class Gateway:
    """The gateway under test: its admin API and how to talk OpenADR to its VTN."""

    api: Api
    settings: Settings
    pki: DevPki

    @property
    def url(self) -> str:
        if self.settings.vtn_port is None:
            return str(self.api.client.make_url(VTN_PATH))
        scheme = "https" if self.settings.vtn_tls else "http"
        return f"{scheme}://127.0.0.1:{self.settings.vtn_port}{VTN_PATH}"

    @property
    def vtn_fingerprint(self) -> str:
        return self.pki.vtn.fingerprint

    def ven(self, name: str) -> IssuedCert:
        return next(v for v in self.pki.vens if v.name == name)

    def tls_context(self, ven: IssuedCert | None) -> ssl.SSLContext:
        """What a VEN connects with: trusts the CA, presents ``ven``'s certificate."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        if ven is not None:
            context.load_cert_chain(ven.cert, ven.key)
        return context

    def stock_ven(self, make_ven: VenFactory, name: str, **kwargs: Any) -> OpenADRClient:
        """A stock openleadr VEN with ``name``'s certificate and key, checking the VTN's."""
        issued = self.ven(name)
        return make_ven(
            name,
            url=self.url,
            ven_id=name,
            cert=str(issued.cert),
            key=str(issued.key),
            ca_file=str(self.pki.ca_cert),
            vtn_fingerprint=kwargs.pop("vtn_fingerprint", self.vtn_fingerprint),
            show_fingerprint=False,
            **kwargs,
        )

    async def post(
        self,
        service: str,
        body: str,
        *,
        tls_as: IssuedCert | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST ``body``; the answer must be HTTP 200, XSD-valid and signed by the VTN."""
        context = self.tls_context(tls_as) if self.settings.vtn_tls else None
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context or False)) as http,
            http.post(
                f"{self.url}/{service}",
                data=body,
                headers={"Content-Type": "application/xml", **(headers or {})},
            ) as resp,
        ):
            content = await resp.read()
            assert resp.status == 200, (resp.status, content[:500])
        tree = etree.fromstring(content)
        assert XML_SCHEMA.validate(tree), (XML_SCHEMA.error_log.last_error, content[:500])
        if self.settings.vtn_signing_files is not None:
            validate_xml_signature(tree, cert_fingerprint=self.vtn_fingerprint)
        message_type, payload = parse_message(content)
        return Answer(message_type, payload)

    async def provision(self, name: str, fingerprint: str | None = None) -> None:
        body = {"name": name, "ven_id": name}
        if fingerprint is not None:
            body["fingerprint"] = fingerprint
        await self.api.post("/api/vens", body, status=201)

    async def registrations(self) -> dict[str, tuple[bool, str | None, Any]]:
        """Every VEN's registration state: registered, registrationID, registered_at."""
        listed = await self.api.get("/api/vens")
        return {
            v["ven_id"]: (v["registered"], v["registration_id"], v["registered_at"])
            for v in listed["items"]
        }


@pytest.fixture
def gateway(api: Api, settings: Settings, pki: DevPki) -> Gateway:
    return Gateway(api, settings, pki)


def signed(message_type: str, signer: IssuedCert, **payload: Any) -> str:
    """An OpenADR message signed exactly as a stock openleadr VEN signs it."""
    return str(
        create_message(
            message_type, cert=signer.cert.read_bytes(), key=signer.key.read_bytes(), **payload
        )
    )


def registration(ven_name: str, ven_id: str | None, request_id: str = "reg-1") -> dict[str, Any]:
    """oadrCreatePartyRegistration's payload as a stock openleadr VEN sends it."""
    return {
        "request_id": request_id, "ven_name": ven_name, "ven_id": ven_id,
        "http_pull_model": True, "xml_signature": False, "report_only": False,
        "profile_name": "2.0b", "transport_name": "simpleHttp", "transport_address": None,
        "registration_id": None,
    }  # fmt: skip


def signature_algorithms(xml: str) -> list[str]:
    tree = etree.fromstring(xml.encode("utf-8"))
    return [str(e.get("Algorithm")) for e in tree.iter(f"{DS}SignatureMethod")]


async def registered_ven(gateway: Gateway, make_ven: VenFactory, name: str) -> OpenADRClient:
    """``name`` provisioned with its certificate's fingerprint and registered over mTLS."""
    await gateway.provision(name, gateway.ven(name).fingerprint)
    ven = gateway.stock_ven(make_ven, name)
    await register(ven)
    return ven


# --- 1. stock VENs over mutual TLS with signatures, both ways ------------------------------


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
async def test_a_provisioned_ven_registers_polls_and_answers_over_mutual_tls(
    gateway: Gateway, make_ven: VenFactory, key_type: KeyType
) -> None:
    await gateway.provision("ven-a", gateway.ven("ven-a").fingerprint)
    await gateway.api.device("a1", ven_id="ven-a", resource_id="ra1")
    ven = gateway.stock_ven(make_ven, "ven-a")
    inbox = Inbox(ven)
    answering(ven, "optIn")
    sent: list[str] = []
    received: list[str] = []
    ven.add_hook("before_send_xml", sent.append)
    ven.add_hook("after_receive_xml", received.append)

    await register(ven)
    assert ven.registration_id
    listed = await gateway.api.get("/api/vens/ven-a")
    assert (listed["registered"], listed["registration_id"]) == (True, ven.registration_id)
    assert listed["fingerprint"] == gateway.ven("ven-a").fingerprint

    invitation = await gateway.api.invite(["a1"])
    await ven._poll()  # oadrDistributeEvent; the VEN answers with a signed oadrCreatedEvent
    (event,) = inbox.of("oadrDistributeEvent")[-1]["events"]
    assert event["event_descriptor"]["event_id"] == invitation["id"]
    scheduled = await eventually(lambda: _invitation_scheduled(gateway.api, invitation["id"]))
    assert [(a["device_id"], a["answer"], a["source"]) for a in scheduled["answers"]] == [
        ("a1", "YES", "ven")
    ]
    await ven._poll()
    assert [t for t, _ in inbox.messages] == [
        "oadrCreatedPartyRegistration",  # oadrQueryRegistration
        "oadrCreatedPartyRegistration",
        "oadrDistributeEvent",
        "oadrResponse",  # to the oadrCreatedEvent
        "oadrRegisterReport",  # the last poll: the VTN's METADATA, once nothing else waits
        "oadrResponse",  # to the VEN's oadrRegisteredReport
    ]
    assert all(p["response"]["response_code"] == 200 for t, p in inbox.messages if "response" in p)

    # Every message went signed each way, with the key type's algorithm; the VEN checked every
    # answer against the VTN fingerprint it was given (one that failed would not be parsed).
    algorithm = {
        "ec": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    }[key_type]
    assert len(sent) == 6
    assert len(received) == 6
    for xml in sent + received:
        assert signature_algorithms(xml) == [algorithm], xml[:300]


async def _invitation_scheduled(api: Api, invitation_id: str) -> Any:
    invitation = await api.get(f"/api/invitations/{invitation_id}")
    return invitation if invitation["status"] == "scheduled" else None


async def test_a_ven_refuses_answers_not_signed_by_the_vtn_it_was_told_of(
    gateway: Gateway, make_ven: VenFactory
) -> None:
    """The control for the test above: a VEN expecting another VTN certificate takes none of
    the gateway's answers, so the VEN side of the signature check is real."""
    await gateway.provision("ven-a", gateway.ven("ven-a").fingerprint)
    ven = gateway.stock_ven(make_ven, "ven-a", vtn_fingerprint=gateway.ven("ven-b").fingerprint)
    inbox = Inbox(ven)
    await ven.create_party_registration(ven_id="ven-a")
    assert ven.registration_id is None
    assert inbox.messages == []


# --- 2. refusals over mutual TLS -----------------------------------------------------------


async def test_a_certificate_other_than_the_provisioned_one_is_refused(
    gateway: Gateway, make_ven: VenFactory
) -> None:
    # ven-b's certificate (from the same CA) speaks for ven-a, signing with its own key.
    ven_a = await registered_ven(gateway, make_ven, "ven-a")
    before = await gateway.registrations()
    assert before["ven-a"][:2] == (True, ven_a.registration_id)
    intruder = gateway.ven("ven-b")

    refused = await gateway.post(
        "EiRegisterParty",
        signed("oadrCreatePartyRegistration", intruder, **registration("ven-a", "ven-a")),
        tls_as=intruder,
    )
    assert refused.message_type == "oadrCreatedPartyRegistration"
    assert refused.code == NOT_AUTHORIZED
    assert refused.payload["response"]["request_id"] == "reg-1"
    assert not refused.payload.get("registration_id")

    for service, message_type, payload in [
        ("OadrPoll", "oadrPoll", {"ven_id": "ven-a"}),
        ("EiEvent", "oadrRequestEvent", {"ven_id": "ven-a", "request_id": "ev-1"}),
        (
            "EiRegisterParty",
            "oadrCancelPartyRegistration",
            {"ven_id": "ven-a", "request_id": "c-1", "registration_id": ven_a.registration_id},
        ),
    ]:
        answer = await gateway.post(
            service, signed(message_type, intruder, **payload), tls_as=intruder
        )
        assert answer.code == NOT_AUTHORIZED, (message_type, answer)
        assert "not the one provisioned" in answer.payload["response"]["response_description"]
    assert await gateway.registrations() == before


async def test_a_ven_provisioned_with_another_fingerprint_cannot_register(
    gateway: Gateway, make_ven: VenFactory
) -> None:
    await gateway.provision("ven-a", gateway.ven("ven-c").fingerprint)
    ven = gateway.stock_ven(make_ven, "ven-a")
    inbox = Inbox(ven)
    await ven.create_party_registration(ven_id="ven-a")
    assert ven.registration_id is None
    (refused,) = inbox.of("oadrCreatedPartyRegistration")
    assert refused["response"]["response_code"] == NOT_AUTHORIZED
    assert await gateway.registrations() == {"ven-a": (False, None, None)}


async def test_a_later_message_for_an_unregistered_ven_from_another_certificate_is_refused(
    gateway: Gateway,
) -> None:
    """Authentication comes before registration state: another certificate must not learn
    that ven-a exists and is unregistered (its 463 "not registered" would tell it)."""
    await gateway.provision("ven-a", gateway.ven("ven-a").fingerprint)
    intruder = gateway.ven("ven-b")
    answer = await gateway.post(
        "OadrPoll", signed("oadrPoll", intruder, ven_id="ven-a"), tls_as=intruder
    )
    assert (answer.message_type, answer.code) == ("oadrResponse", NOT_AUTHORIZED)
    unsigned = await gateway.post(
        "OadrPoll", create_message("oadrPoll", ven_id="ven-a"), tls_as=gateway.ven("ven-a")
    )
    assert (unsigned.message_type, unsigned.code) == ("oadrResponse", NOT_AUTHORIZED)
    assert await gateway.registrations() == {"ven-a": (False, None, None)}


async def test_an_unprovisioned_ven_is_refused(gateway: Gateway, make_ven: VenFactory) -> None:
    await gateway.provision("ven-a", gateway.ven("ven-a").fingerprint)
    stranger = gateway.ven("ven-b")  # a good certificate from the CA, but never provisioned
    ven = make_ven(
        "ven-b",
        url=gateway.url,
        cert=str(stranger.cert),
        key=str(stranger.key),
        ca_file=str(gateway.pki.ca_cert),
        vtn_fingerprint=gateway.vtn_fingerprint,
        show_fingerprint=False,
    )
    inbox = Inbox(ven)
    await ven.create_party_registration()
    assert ven.registration_id is None
    (refused,) = inbox.of("oadrCreatedPartyRegistration")
    assert refused["response"]["response_code"] == NOT_AUTHORIZED
    assert "not provisioned" in refused["response"]["response_description"]

    raw = await gateway.post(
        "EiRegisterParty",
        signed("oadrCreatePartyRegistration", stranger, **registration("ven-b", None)),
        tls_as=stranger,
    )
    assert raw.code == NOT_AUTHORIZED
    assert await gateway.registrations() == {"ven-a": (False, None, None)}


async def test_an_unsigned_message_over_tls_is_refused_with_463_not_a_500(
    gateway: Gateway, make_ven: VenFactory
) -> None:
    ven_a = await registered_ven(gateway, make_ven, "ven-a")
    before = await gateway.registrations()
    me = gateway.ven("ven-a")
    for service, body in [
        ("EiRegisterParty", create_message("oadrQueryRegistration", request_id="q-1")),
        (
            "EiRegisterParty",
            create_message("oadrCreatePartyRegistration", **registration("ven-a", "ven-a")),
        ),
        ("OadrPoll", create_message("oadrPoll", ven_id="ven-a")),
        (
            "EiRegisterParty",
            create_message(
                "oadrCancelPartyRegistration",
                ven_id="ven-a",
                request_id="c-1",
                registration_id=ven_a.registration_id,
            ),
        ),
    ]:
        assert "<ds:Signature" not in body
        answer = await gateway.post(service, body, tls_as=me)
        assert answer.code == NOT_AUTHORIZED, (service, answer)
        assert answer.payload["response"]["response_description"] == (
            "messages to this VTN must be signed"
        )
    assert await gateway.registrations() == before


async def test_a_message_signed_with_another_key_than_the_tls_certificate_is_refused(
    gateway: Gateway, make_ven: VenFactory
) -> None:
    ven_a = await registered_ven(gateway, make_ven, "ven-a")
    me, other = gateway.ven("ven-a"), gateway.ven("ven-b")
    await gateway.provision("ven-b", other.fingerprint)  # a key the VTN knows, still not ven-a's
    before = await gateway.registrations()
    for service, message_type, payload in [
        ("EiRegisterParty", "oadrCreatePartyRegistration", registration("ven-a", "ven-a")),
        ("EiRegisterParty", "oadrQueryRegistration", {"request_id": "q-1"}),
        ("OadrPoll", "oadrPoll", {"ven_id": "ven-a"}),
        (
            "EiRegisterParty",
            "oadrCancelPartyRegistration",
            {"ven_id": "ven-a", "request_id": "c-1", "registration_id": ven_a.registration_id},
        ),
    ]:
        answer = await gateway.post(service, signed(message_type, other, **payload), tls_as=me)
        assert answer.code == NOT_AUTHORIZED, (message_type, answer)
        description = answer.payload["response"]["response_description"]
        assert f"signed with certificate {other.fingerprint}" in description
    assert await gateway.registrations() == before


@pytest.mark.parametrize(
    "edit",
    [lambda xml: xml.replace(">ev-1<", ">ev-2<"), lambda xml: _edit_nonce(xml)],
    ids=["a-value", "the-nonce"],
)
async def test_a_tampered_signed_message_is_refused(
    gateway: Gateway, make_ven: VenFactory, edit: Callable[[str], str]
) -> None:
    await registered_ven(gateway, make_ven, "ven-a")
    before = await gateway.registrations()
    me = gateway.ven("ven-a")
    body = signed("oadrRequestEvent", me, ven_id="ven-a", request_id="ev-1")
    tampered = edit(body)
    assert tampered != body
    assert len(tampered) == len(body)
    answer = await gateway.post("EiEvent", tampered, tls_as=me)
    assert answer.message_type == "oadrDistributeEvent"
    assert answer.code == NOT_AUTHORIZED
    assert "signature is not valid" in answer.payload["response"]["response_description"]
    assert await gateway.registrations() == before

    # The untouched message is taken (so it was the edit that was refused).
    taken = await gateway.post("EiEvent", body, tls_as=me)
    assert (taken.message_type, taken.code) == ("oadrDistributeEvent", 200)


def _edit_nonce(xml: str) -> str:
    tree = etree.fromstring(xml.encode("utf-8"))
    nonce = tree.findtext(f".//{DSP}nonce")
    assert nonce
    return xml.replace(nonce, nonce[::-1], 1)


async def test_a_replayed_signed_message_is_refused(gateway: Gateway) -> None:
    me = gateway.ven("ven-a")
    await gateway.provision("ven-a", me.fingerprint)
    register_a = signed("oadrCreatePartyRegistration", me, **registration("ven-a", "ven-a"))
    registered = await gateway.post("EiRegisterParty", register_a, tls_as=me)
    assert registered.code == 200
    registration_id = registered.payload["registration_id"]

    poll = signed("oadrPoll", me, ven_id="ven-a")
    first = await gateway.post("OadrPoll", poll, tls_as=me)
    assert first.message_type == "oadrRegisterReport"  # the VTN's METADATA, after registering
    again = await gateway.post("OadrPoll", poll, tls_as=me)
    assert (again.message_type, again.code) == ("oadrResponse", NOT_AUTHORIZED)
    assert "replayed" in again.payload["response"]["response_description"]

    # Once the VEN has cancelled, its old registration message cannot register it again.
    cancel = signed(
        "oadrCancelPartyRegistration", me,
        ven_id="ven-a", request_id="c-1", registration_id=registration_id,
    )  # fmt: skip
    assert (await gateway.post("EiRegisterParty", cancel, tls_as=me)).code == 200
    before = await gateway.registrations()
    assert before["ven-a"][:2] == (False, None)
    replayed = await gateway.post("EiRegisterParty", register_a, tls_as=me)
    assert replayed.code == NOT_AUTHORIZED
    assert "replayed" in replayed.payload["response"]["response_description"]
    assert (await gateway.post("EiRegisterParty", cancel, tls_as=me)).code == NOT_AUTHORIZED
    assert await gateway.registrations() == before


@pytest.mark.parametrize(
    "age", [timedelta(minutes=-6), timedelta(minutes=6)], ids=["old", "future"]
)
async def test_a_message_signed_outside_the_replay_window_is_refused(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, age: timedelta
) -> None:
    assert gateway.settings.vtn_replay_window_seconds == 300
    me = gateway.ven("ven-a")
    await gateway.provision("ven-a", me.fingerprint)
    make_protect = openleadr.messaging._create_replay_protect

    def shifted() -> Any:
        protect = make_protect()
        stamp = protect.find(f"{DSP}timestamp")
        stamp.text = datetimeformat(datetime.now(UTC) + age)
        return protect

    monkeypatch.setattr(openleadr.messaging, "_create_replay_protect", shifted)
    body = signed("oadrCreatePartyRegistration", me, **registration("ven-a", "ven-a"))
    monkeypatch.undo()
    answer = await gateway.post("EiRegisterParty", body, tls_as=me)
    assert answer.code == NOT_AUTHORIZED
    assert "timestamp is more than 300 s" in answer.payload["response"]["response_description"]
    assert await gateway.registrations() == {"ven-a": (False, None, None)}


async def test_a_client_without_a_certificate_is_refused_at_the_tls_handshake(
    gateway: Gateway, tmp_path: Path, make_ven: VenFactory
) -> None:
    await registered_ven(gateway, make_ven, "ven-a")
    before = await gateway.registrations()
    poll = signed("oadrPoll", gateway.ven("ven-a"), ven_id="ven-a")
    foreign = init_dev_pki(tmp_path / "foreign", ven_names=["ven-a"]).vens[0]
    for client_cert in (None, foreign):  # none, and one from a CA the VTN does not trust
        # TLS 1.2: the handshake itself fails, before any HTTP.
        context = gateway.tls_context(client_cert)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            with pytest.raises(aiohttp.ClientConnectorError) as refused:
                await http.post(
                    f"{gateway.url}/OadrPoll",
                    data=poll,
                    headers={"Content-Type": "application/xml"},
                )
        assert isinstance(refused.value.os_error, ConnectionResetError | ssl.SSLError)
        # TLS 1.3: the client's side of the handshake ends before the server has checked the
        # client; the server then drops the connection without a byte of HTTP.
        context = gateway.tls_context(client_cert)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", settings_port(gateway), ssl=context, server_hostname="127.0.0.1"
        )
        request = (
            f"POST {VTN_PATH}/OadrPoll HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/xml\r\nContent-Length: {len(poll.encode())}\r\n\r\n"
        )
        try:
            writer.write(request.encode() + poll.encode())
            await writer.drain()
            answer = await reader.read()
        except (ConnectionResetError, ssl.SSLError):
            answer = b""
        finally:
            writer.close()
            with contextlib.suppress(ConnectionResetError, ssl.SSLError):
                await writer.wait_closed()
        assert answer == b""
    assert await gateway.registrations() == before
    # The VTN is still there for a VEN with its certificate.
    polled = await gateway.post("OadrPoll", poll, tls_as=gateway.ven("ven-a"))
    assert polled.message_type == "oadrRegisterReport"  # the VTN's METADATA: it was answered


def settings_port(gateway: Gateway) -> int:
    assert gateway.settings.vtn_port is not None
    return gateway.settings.vtn_port


# --- 3. behind a TLS-terminating proxy (the client certificate in a header) ----------------


class TestProxyHeader:
    @pytest.fixture
    def mode(self) -> str:
        return "proxy"

    @staticmethod
    def header(ven: IssuedCert) -> dict[str, str]:
        """As nginx passes ``$ssl_client_escaped_cert``: the PEM, URL-encoded."""
        return {PROXY_HEADER: quote(ven.cert.read_text(encoding="ascii"), safe="")}

    async def test_the_matching_certificate_is_accepted(
        self, gateway: Gateway, make_ven: VenFactory
    ) -> None:
        assert gateway.settings.vtn_port is None
        me = gateway.ven("ven-a")
        await gateway.provision("ven-a", me.fingerprint)
        # A stock VEN behind the proxy: its session carries the header the proxy would add.
        ven = make_ven(
            "ven-a",
            url=gateway.url,
            ven_id="ven-a",
            cert=str(me.cert),
            key=str(me.key),
            vtn_fingerprint=gateway.vtn_fingerprint,
            show_fingerprint=False,
        )
        ven.client_session = aiohttp.ClientSession(
            headers={"content-type": "application/xml", **self.header(me)}
        )
        inbox = Inbox(ven)
        await register(ven)
        await ven._poll()
        assert [t for t, _ in inbox.messages] == [
            "oadrCreatedPartyRegistration",
            "oadrCreatedPartyRegistration",
            "oadrRegisterReport",  # the VTN's METADATA
            "oadrResponse",  # to the VEN's oadrRegisteredReport
        ]
        listed = await gateway.api.get("/api/vens/ven-a")
        assert (listed["registered"], listed["registration_id"]) == (True, ven.registration_id)

        raw = await gateway.post(
            "OadrPoll", signed("oadrPoll", me, ven_id="ven-a"), headers=self.header(me)
        )
        assert (raw.message_type, raw.code) == ("oadrResponse", 200)

    @pytest.mark.parametrize("header", ["missing", "other VEN", "not a certificate"])
    async def test_no_or_the_wrong_certificate_is_refused(
        self, gateway: Gateway, header: str
    ) -> None:
        me, other = gateway.ven("ven-a"), gateway.ven("ven-b")
        await gateway.provision("ven-a", me.fingerprint)
        await gateway.provision("ven-c", gateway.ven("ven-c").fingerprint)
        taken = await gateway.post(  # ven-c registers, to be polled for below
            "EiRegisterParty",
            signed(
                "oadrCreatePartyRegistration", gateway.ven("ven-c"),
                **registration("ven-c", "ven-c"),
            ),
            headers=self.header(gateway.ven("ven-c")),
        )  # fmt: skip
        assert taken.code == 200
        before = await gateway.registrations()
        headers = {
            "missing": {},
            "other VEN": self.header(other),
            "not a certificate": {PROXY_HEADER: quote("-----BEGIN CERTIFICATE-----\nAAAA")},
        }[header]
        # Each VEN's own, well-signed message; only the certificate the proxy passes is wrong.
        for service, body in [
            (
                "EiRegisterParty",
                signed("oadrCreatePartyRegistration", me, **registration("ven-a", "ven-a")),
            ),
            ("OadrPoll", signed("oadrPoll", gateway.ven("ven-c"), ven_id="ven-c")),
        ]:
            answer = await gateway.post(service, body, headers=headers)
            assert answer.code == NOT_AUTHORIZED, (header, service, answer)
        assert await gateway.registrations() == before
        assert before["ven-a"] == (False, None, None)


# --- 4. plain HTTP: signatures that are there are still checked ----------------------------


class TestPlainHttp:
    @pytest.fixture
    def mode(self) -> str:
        return "http"

    async def test_a_badly_signed_message_is_refused(self, gateway: Gateway) -> None:
        assert not gateway.settings.vtn_tls
        assert not gateway.settings.vtn_signatures_required
        me = gateway.ven("ven-a")
        await gateway.provision("ven-a", me.fingerprint)
        body = signed("oadrCreatePartyRegistration", me, **registration("ven-a", "ven-a"))
        tampered = body.replace(">ven-a</oadr:oadrVenName>", ">ven-x</oadr:oadrVenName>")
        assert tampered != body
        answer = await gateway.post("EiRegisterParty", tampered)
        assert (answer.message_type, answer.code) == ("oadrCreatedPartyRegistration", 463)
        assert "signature is not valid" in answer.payload["response"]["response_description"]
        assert await gateway.registrations() == {"ven-a": (False, None, None)}

        taken = await gateway.post("EiRegisterParty", body)
        assert taken.code == 200
        registration_id = taken.payload["registration_id"]
        assert (await gateway.registrations())["ven-a"][:2] == (True, registration_id)

        # Later messages too, and one signed by a certificate not provisioned for the VEN.
        poll = signed("oadrPoll", me, ven_id="ven-a")
        for body in (_edit_nonce(poll), signed("oadrPoll", gateway.ven("ven-b"), ven_id="ven-a")):
            answer = await gateway.post("OadrPoll", body)
            assert (answer.message_type, answer.code) == ("oadrResponse", NOT_AUTHORIZED)
        assert (await gateway.post("OadrPoll", poll)).message_type == "oadrRegisterReport"


# --- 5. signing cost: the key is read once -------------------------------------------------


def test_the_encoder_signs_with_a_key_loaded_once(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path, ven_names=[], key_type="rsa")
    key = SigningKey.load(pki.vtn.cert, pki.vtn.key)
    assert key.algorithm == "rsa-sha256"
    assert key.fingerprint == pki.vtn.fingerprint
    pki.vtn.key.unlink()  # signing must not read it again
    encoder = Encoder(key)
    for request_id in ("r-1", "r-2"):
        xml = encoder.encode(
            "oadrResponse",
            {
                "response": {
                    "response_code": 200, "response_description": "OK",
                    "request_id": request_id,
                },
                "ven_id": "ven-a",
            },
        )  # fmt: skip
        tree = etree.fromstring(xml.encode("utf-8"))
        assert XML_SCHEMA.validate(tree), XML_SCHEMA.error_log.last_error
        validate_xml_signature(tree, cert_fingerprint=pki.vtn.fingerprint)
        assert signature_algorithms(xml) == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
        message_type, payload = parse_message(xml)
        assert (message_type, payload["response"]["request_id"]) == ("oadrResponse", request_id)
