"""What the certification tests share: the module's gateway (admin API, clock, raw VENs), a
VEN with its devices, and the admin calls each case sets up with.

The calls a case needs that the gateway does not have yet are written here as they are
expected to look (``EXPECTED_API``), in one place, so the xfail tests that use them start to
pass together the day each lands, and a different shape is one edit.
"""

from __future__ import annotations

import contextlib
import itertools
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from lxml import etree

from gateway.security.certs import DevPki, IssuedCert
from tests.oadr20b.answers import Answer
from tests.oadr20b.messages import EnergyReal, OfferedPoint, OfferedReport, PowerReal
from tests.oadr20b.namespaces import find, findall, text
from tests.oadr20b.signing import Signer
from tests.oadr20b.ven import RawVen, RawVens
from tests.support import AUTH, Api, MutableClock

# Admin API calls the cases need, not there yet (#9): path templates by what they do.
EXPECTED_API = {
    # POST /api/events with explicit signals, intervals and OpenADR options (see signal_event).
    "signal_event": "/api/events",
    # The operator cancels a VEN's registration (N1_0040) or asks it to register again (0050):
    # both there now.
    "cancel_registration": "/api/vens/{ven_id}/cancel-registration",
    "request_reregistration": "/api/vens/{ven_id}/request-reregistration",
    # The operator asks a VEN for a report (R1_3010-3190) and cancels it (R1_3040/3045).
    "report_request": "/api/vens/{ven_id}/report-requests",
    "cancel_report_request": "/api/vens/{ven_id}/report-requests/{report_request_id}/cancel",
    # The operator republishes the VTN's METADATA report to every VEN (R1_3120): there now.
    "publish_metadata": "/api/vtn/metadata/publish",
    # A VEN's opt schedules as the VTN holds them (P1_2040).
    "opts": "/api/vens/{ven_id}/opts",
}
MINUTE = timedelta(minutes=1)


@dataclass
class Party:
    """A VEN and its devices (device id and resourceID, in the same order)."""

    ven: RawVen
    devices: list[str]
    resources: list[str]


@dataclass
class TlsVens:
    """VENs of a VTN served over mutual TLS (at ``url``): each has its own certificate from
    ``pki``, presents it on its own connections (``sessions`` closes them) and signs what it
    sends, as the VTN requires over TLS."""

    pki: DevPki
    url: str
    sessions: contextlib.AsyncExitStack
    _taken: int = 0

    def certificate(self) -> IssuedCert:
        """A VEN certificate no VEN of the module has yet."""
        assert self._taken < len(self.pki.vens), "the module's TLS VEN certificates ran out"
        issued = self.pki.vens[self._taken]
        self._taken += 1
        return issued

    async def ven(self, issued: IssuedCert, clock: MutableClock) -> RawVen:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(issued.cert, issued.key)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        await self.sessions.enter_async_context(session)
        signer = Signer(issued.cert.read_bytes(), issued.key.read_bytes())
        return RawVen(session, self.url, issued.name, clock.now, ven_id=issued.name, signer=signer)


@dataclass
class CertGateway:
    api: Api
    clock: MutableClock
    vens: RawVens
    tls: TlsVens | None = None  # the VTN over mutual TLS: its VENs are known by certificate
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def name(self, kind: str) -> str:
        """A name no other test of the module uses."""
        return f"{kind}-{next(self._numbers)}"

    def at(self, minutes: float) -> datetime:
        return self.clock.now() + minutes * MINUTE

    async def provision(self, devices: int = 1) -> Party:
        """A VEN provisioned with ``devices`` devices, not registered; over TLS with its
        certificate's fingerprint."""
        body: dict[str, Any] = {}
        if self.tls is None:
            ven_id = self.name("ven")
        else:
            issued = self.tls.certificate()
            ven_id, body["fingerprint"] = issued.name, issued.fingerprint
        body |= {"name": ven_id, "ven_id": ven_id}
        await self.api.post("/api/vens", body, status=201)
        names = [f"{ven_id}-d{n}" for n in range(1, devices + 1)]
        resources = [f"{ven_id}-r{n}" for n in range(1, devices + 1)]
        for device_id, resource_id in zip(names, resources, strict=True):
            await self.api.device(device_id, ven_id=ven_id, resource_id=resource_id)
        if self.tls is None:
            ven = self.vens(ven_id, ven_id=ven_id)
        else:
            ven = await self.tls.ven(issued, self.clock)
        return Party(ven, names, resources)

    async def party(self, devices: int = 1) -> Party:
        """A VEN with ``devices`` devices, registered, the VTN's METADATA report it was sent
        after registering acknowledged."""
        party = await self.provision(devices)
        answer = await party.ven.register()
        assert answer.code == 200, answer.description
        await party.ven.take_vtn_metadata()
        return party

    async def invite(
        self,
        devices: Sequence[str],
        start_in: float,
        duration_minutes: int = 5,
        load_percentage: float = 30.0,  # SIMPLE level 2
        status: int = 201,
        program_id: str = "default",
    ) -> str:
        """An invitation (each VEN's OpenADR event, eventID = its id) starting in
        ``start_in`` minutes on the gateway's clock, in program (market context)
        ``program_id``."""
        view = await self.api.invite(
            list(devices), status=status, event_time=self.at(start_in).isoformat(),
            duration_minutes=duration_minutes, load_kwh=1.0, load_percentage=load_percentage,
            program_id=program_id,
        )  # fmt: skip
        return str(view.get("id"))

    async def program(self, party: Party, market_context: str, **terms: Any) -> str:
        """A program (market context) with ``party``'s VEN and devices enrolled; its id."""
        program_id = self.name("program")
        body = {"id": program_id, "name": program_id, "market_context": market_context, **terms}
        await self.api.post("/api/programs", body, status=201)
        await self.api.put(f"/api/programs/{program_id}/vens/{party.ven.id}", None, status=200)
        for device in party.devices:
            await self.api.put(f"/api/programs/{program_id}/devices/{device}", None, status=200)
        return program_id

    async def modify(self, invitation_id: str, devices: Sequence[str], **terms: Any) -> Any:
        """New terms for an invitation (modificationNumber + 1): ``start_in`` minutes and
        ``duration_minutes``."""
        body = {
            "event_time": self.at(terms.pop("start_in")).isoformat(),
            "duration_minutes": terms.pop("duration_minutes", 5),
            "load_kwh": 1.0, "load_percentage": 30.0, "devices": list(devices), **terms,
        }  # fmt: skip
        return await self.api.put(f"/api/invitations/{invitation_id}", body, status=200)

    async def cancel(self, invitation_id: str) -> None:
        await self.api.post(f"/api/invitations/{invitation_id}/cancel", {}, status=200)

    async def signal_event(
        self,
        devices: Sequence[str],
        start_in: float,
        signals: Sequence[dict[str, Any]],
        **options: Any,
    ) -> str:
        """An event with explicit signals, as the operator is expected to create it (#9):
        ``signals`` = [{"name", "type", "units"?, "intervals": [{"duration_minutes", "value"}]}],
        ``options``: duration_minutes, market_context, priority, response_required,
        ramp_up_minutes, recovery_minutes, start_after_minutes, baseline. Its eventID is the
        event's id."""
        duration = sum(i["duration_minutes"] for i in signals[0]["intervals"])
        body = {
            "start_time": self.at(start_in).isoformat(), "duration_minutes": duration,
            "devices": list(devices), "signals": list(signals), **options,
        }  # fmt: skip
        view = await self.api.post(EXPECTED_API["signal_event"], body, status=201)
        return str(view["id"])

    async def expect(self, name: str, body: dict[str, Any], **path: str) -> Any:
        """An admin call from ``EXPECTED_API``, which must succeed."""
        resp = await self.api.client.post(
            EXPECTED_API[name].format(**path), json=body, headers=AUTH
        )
        assert resp.status in (200, 201), (name, resp.status, await resp.text())
        return await resp.json()

    async def expect_get(self, name: str, **path: str) -> Any:
        return await self.api.get(EXPECTED_API[name].format(**path))


def price(
    *values: float, minutes: int = 5, units: str = "currencyPerKWh", currency: str | None = None
) -> dict[str, Any]:
    """An ELECTRICITY_PRICE signal, one interval of ``minutes`` per value."""
    signal = {
        "name": "ELECTRICITY_PRICE", "type": "price", "units": units,
        "intervals": [{"duration_minutes": minutes, "value": v} for v in values],
    }  # fmt: skip
    if currency is not None:
        signal["currency"] = currency
    return signal


def simple(*levels: float, minutes: int = 5) -> dict[str, Any]:
    return {
        "name": "SIMPLE", "type": "level",
        "intervals": [{"duration_minutes": minutes, "value": v} for v in levels],
    }  # fmt: skip


async def exchange(ven: RawVen, service: str, body: etree._Element, expected: str) -> Answer:
    """Send a message ``RawVen.send`` has no route for (the VEN's answers to the VTN's own
    requests, its requests of the VTN's reports); the answer is checked the same way."""
    answer = await ven.post(service, ven.serialize(body))
    own = text(body, "pyld:requestID") or text(body, "ei:eiResponse/pyld:requestID")
    ven.check(answer, expected, own)
    return answer


async def poll_until(ven: RawVen, wanted: str, polls: int = 3) -> Answer:
    """Poll until the answer is a ``wanted``; the last answer fails the test otherwise."""
    answer = await ven.poll()
    for _ in range(polls - 1):
        if answer.message_type == wanted:
            break
        answer = await ven.poll()
    assert answer.message_type == wanted, answer.body[:400]
    return answer


def event_node(answer: Answer, event_id: str) -> etree._Element:
    """The oadrEvent element of ``event_id`` (for what ``answers.Event`` does not read)."""
    for wrapper in findall(answer.message, "oadr:oadrEvent"):
        if text(wrapper, "ei:eiEvent/ei:eventDescriptor/ei:eventID") == event_id:
            return wrapper
    raise AssertionError(f"no event {event_id} in {answer.body[:300]!r}")


def active_period_text(answer: Answer, event_id: str, path: str) -> str | None:
    """A property of the event's active period, e.g. ``ei:x-eiRampUp/xcal:duration``."""
    properties = find(event_node(answer, event_id), "ei:eiEvent/ei:eiActivePeriod/xcal:properties")
    assert properties is not None
    return text(properties, path)


def status_point(r_id: str, resource: str) -> OfferedPoint:
    """A TELEMETRY_STATUS point: the resource's status, every minute."""
    return OfferedPoint(r_id, resource, MINUTE, MINUTE, measurement=None,
                        report_type="x-resourceStatus", reading_type="x-notApplicable")  # fmt: skip


def offered_reports(resource: str, kinds: Sequence[str]) -> list[OfferedReport]:
    """The R cases' VEN METADATA for ``resource``: TELEMETRY_STATUS (``status``: rID status),
    TELEMETRY_USAGE power and energy (``usage``: power, energy) and HISTORY_USAGE
    (``history``: hpower, henergy), each every minute."""
    offered = {
        "status": OfferedReport("status", [status_point("status", resource)],
                                name="METADATA_TELEMETRY_STATUS"),
        "usage": OfferedReport("usage", [
            OfferedPoint("power", resource, MINUTE, MINUTE, PowerReal()),
            OfferedPoint("energy", resource, MINUTE, MINUTE, EnergyReal()),
        ]),
        "history": OfferedReport("history", [
            OfferedPoint("hpower", resource, MINUTE, MINUTE, PowerReal()),
            OfferedPoint("henergy", resource, MINUTE, MINUTE, EnergyReal()),
        ], name="METADATA_HISTORY_USAGE"),
    }  # fmt: skip
    return [offered[k] for k in kinds]
