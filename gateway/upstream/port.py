"""The upstream side's one port to openleadr: the only module of ``gateway.upstream`` that
imports it, and only its public API (``openleadr.messaging``, ``objects``, ``enums``, ``utils``).

Why not ``OpenADRClient``: its public methods alone cannot run this VEN. It answers every event
the moment it arrives (the gateway answers once the downstream has decided), its report
requests run on an APScheduler it only starts in ``run()``, which also starts its own poll
loop, and its report worker is a private coroutine that ``create_party_reregistration``
restarts without ending the old one. So the gateway speaks 2.0b itself: openleadr builds and
signs each message and parses and checks each answer; the HTTP exchange (aiohttp, the TLS,
CA and fingerprint options of ``[upstream]``) is here; the poll and report loops are the
gateway's own (``connection.py``, ``reporting.py``), each with one owner that ends it.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import aiohttp
from openleadr import enums, objects, utils
from openleadr.messaging import (
    create_message,
    parse_message,
    validate_xml_schema,
    validate_xml_signature,
)

from gateway.settings import UpstreamSettings
from gateway.upstream.rules import Opt

logger = logging.getLogger(__name__)

# What the VTN answered: the message type and openleadr's parsed payload.
Reply = tuple[str, dict[str, Any]]
CONNECT_SECONDS = 5.0
READ_SECONDS = 10.0
OK = {"response_code": 200, "response_description": "OK"}
RESOURCE = "gateway"  # the resource every report of the gateway is about


@dataclass(frozen=True)
class ReportOffer:
    """One data point the gateway offers in oadrRegisterReport (one rID of a report)."""

    report_specifier_id: str
    r_id: str
    measurement: str  # power_real, energy_real, or a custom description
    scale: str = "none"
    unit: str | None = None
    min_period: timedelta = timedelta(seconds=1)
    max_period: timedelta = timedelta(hours=1)
    duration: timedelta = timedelta(hours=1)
    # Set for a report about one upstream event: sent as its intervals close (by the
    # reduction reports), not by the periodic report loop.
    event_id: str | None = None


class ReportValue(NamedTuple):
    """One interval of an oadrReport: an rID's value from ``start``, for ``duration`` (None:
    a reading at that instant)."""

    r_id: str
    start: datetime
    value: float
    duration: timedelta | None = None


def _ssl_context(config: UpstreamSettings) -> ssl.SSLContext | None:
    if config.cert is None and config.ca_file is None:
        return None  # plain http, or https against the system's CAs
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if config.cert is not None and config.key is not None:
        context.load_cert_chain(str(config.cert), str(config.key))
    return context


class VtnLink:
    """Messages to the utility's VTN and its answers. The HTTP session is opened on first use
    and closed by ``close()``; the link can be used again after (a reconnection)."""

    def __init__(self, config: UpstreamSettings) -> None:
        self._url = config.vtn_url.rstrip("/")
        self._fingerprint = config.vtn_fingerprint
        self._cert = config.cert.read_bytes() if config.cert else None
        self._key = config.key.read_bytes() if config.key else None
        self._ssl = _ssl_context(config)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"content-type": "application/xml"},
                timeout=aiohttp.ClientTimeout(sock_connect=CONNECT_SECONDS, sock_read=READ_SECONDS),
                connector=aiohttp.TCPConnector(ssl=self._ssl) if self._ssl else None,
            )
        return self._session

    async def send(self, service: str, message_type: str, **payload: Any) -> Reply | None:
        """Send one signed message; the VTN's answer, or None when there is none to use (the
        VTN unreachable, a non-200 HTTP status, an invalid or wrongly signed answer)."""
        message = create_message(message_type, cert=self._cert, key=self._key, **payload)
        url = f"{self._url}/{service}"
        try:
            async with self._open().post(url, data=message) as response:
                content = await response.read()
                if response.status != 200:
                    logger.warning("upstream %s: HTTP %s", service, response.status)
                    return None
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            logger.warning("upstream %s: %s", service, err or type(err).__name__)
            return None
        if not content:
            return None
        try:
            tree = validate_xml_schema(content)
            if self._fingerprint:
                validate_xml_signature(tree, cert_fingerprint=self._fingerprint)
            reply_type, reply = parse_message(content)
        except Exception as err:  # whatever a VTN sends: ignored, never fatal
            logger.warning("upstream %s: answer not usable: %s", service, err)
            return None
        return str(reply_type), dict(reply)

    # --- the messages the gateway sends ----------------------------------------------------
    async def query_registration(self) -> Reply | None:
        return await self.send(
            "EiRegisterParty", "oadrQueryRegistration", request_id=utils.generate_id()
        )

    async def create_party_registration(
        self, ven_name: str, ven_id: str | None, registration_id: str | None
    ) -> Reply | None:
        return await self.send(
            "EiRegisterParty", "oadrCreatePartyRegistration", request_id=utils.generate_id(),
            ven_name=ven_name, ven_id=ven_id, http_pull_model=True, xml_signature=False,
            report_only=False, profile_name="2.0b", transport_name="simpleHttp",
            transport_address=None, registration_id=registration_id,
        )  # fmt: skip

    async def canceled_party_registration(
        self, ven_id: str, registration_id: str | None, request_id: Any, code: int
    ) -> None:
        await self.send(
            "EiRegisterParty", "oadrCanceledPartyRegistration", ven_id=ven_id,
            registration_id=registration_id,
            response={**OK, "response_code": code, "request_id": request_id},
        )  # fmt: skip

    async def response(self, service: str, ven_id: str, request_id: Any) -> None:
        await self.send(service, "oadrResponse", ven_id=ven_id,
                        response={**OK, "request_id": request_id})  # fmt: skip

    async def poll(self, ven_id: str) -> Reply | None:
        return await self.send("OadrPoll", "oadrPoll", ven_id=ven_id)

    async def request_event(self, ven_id: str) -> Reply | None:
        return await self.send(
            "EiEvent", "oadrRequestEvent", ven_id=ven_id, request_id=utils.generate_id(),
            reply_limit=None,
        )  # fmt: skip

    async def created_event(
        self, ven_id: str, event_id: str, modification_number: int, opt: Opt
    ) -> int | None:
        """oadrCreatedEvent; the VTN's response code (None: no answer)."""
        request_id = utils.generate_id()
        reply = await self.send(
            "EiEvent", "oadrCreatedEvent", ven_id=ven_id,
            response={**OK, "request_id": request_id},
            event_responses=[{**OK, "request_id": request_id, "event_id": event_id,
                              "modification_number": modification_number,
                              "opt_type": opt.value}],
        )  # fmt: skip
        return None if reply is None else _code(reply[1])

    async def create_opt(
        self, ven_id: str, event_id: str, modification_number: int, opt: Opt
    ) -> bool:
        """oadrCreateOpt: a later change of mind about an answered event."""
        reason = (
            enums.OPT_REASON.PARTICIPATING if opt is Opt.IN else enums.OPT_REASON.NOT_PARTICIPATING
        )
        opt_object = objects.Opt(
            opt_id=utils.generate_id(), opt_type=opt.value, opt_reason=reason,
            event_id=event_id, modification_number=modification_number,
            targets=[objects.Target(ven_id=ven_id)],
        )  # fmt: skip
        reply = await self.send(
            "EiOpt", "oadrCreateOpt", request_id=utils.generate_id(), ven_id=ven_id,
            **dataclasses.asdict(opt_object),
        )  # fmt: skip
        return reply is not None and "opt_id" in reply[1]  # the VTN acknowledged it

    async def register_reports(self, ven_id: str, offers: Sequence[ReportOffer]) -> Reply | None:
        reports = _reports(offers, datetime.now(UTC))
        return await self.send(
            "EiReport", "oadrRegisterReport", ven_id=ven_id, request_id=utils.generate_id(),
            reports=reports, report_request_id=0,
        )  # fmt: skip

    async def created_report(
        self, ven_id: str, request_id: Any, report_request_ids: Sequence[str], code: int
    ) -> None:
        await self.send(
            "EiReport", "oadrCreatedReport", ven_id=ven_id,
            response={**OK, "response_code": code, "request_id": request_id},
            pending_reports=[{"report_request_id": r} for r in report_request_ids],
        )  # fmt: skip

    async def canceled_report(self, ven_id: str, request_id: Any, report_request_id: str) -> None:
        await self.send(
            "EiReport", "oadrCanceledReport", ven_id=ven_id,
            response={**OK, "request_id": request_id}, report_request_id=report_request_id,
        )  # fmt: skip

    async def update_report(
        self,
        ven_id: str,
        report_request_id: str,
        report_specifier_id: str,
        values: Sequence[ReportValue],
        report_id: str | None = None,
    ) -> Reply | None:
        """oadrUpdateReport of ``values``, under ``report_id`` (its eiReportID; a fresh one
        when None); never sent empty: an empty oadrReport is rejected by VTNs (openleadr's
        answers it with HTTP 500)."""
        if not values:
            return None
        intervals = [
            objects.ReportInterval(
                dtstart=v.start, duration=v.duration,
                report_payload=objects.ReportPayload(r_id=v.r_id, value=v.value),
            )
            for v in values
        ]  # fmt: skip
        report = objects.Report(
            report_request_id=report_request_id, report_specifier_id=report_specifier_id,
            report_name=enums.REPORT_NAME.TELEMETRY_USAGE, intervals=intervals,
            dtstart=min(i.dtstart for i in intervals),
        )  # fmt: skip
        # openleadr's Report has no eiReportID field (its template reads ``report_id``, so
        # a dataclass leaves it empty): the report goes to the template as a dict with it.
        rendered = {**dataclasses.asdict(report), "report_id": report_id or utils.generate_id()}
        return await self.send(
            "EiReport", "oadrUpdateReport", ven_id=ven_id, request_id=utils.generate_id(),
            reports=[rendered],
        )  # fmt: skip


def reply_code(reply: Reply | None) -> int | None:
    return None if reply is None else _code(reply[1])


def _code(payload: dict[str, Any]) -> int:
    return int((payload.get("response") or {}).get("response_code") or 0)


def _measurement(offer: ReportOffer) -> Any:
    known = enums.MEASUREMENTS.members
    if offer.measurement.upper() in known:
        # A copy: openleadr's measurement constants are shared objects.
        base = dataclasses.replace(enums.MEASUREMENTS[offer.measurement.upper()])
        base.scale = offer.scale
        return base
    return objects.Measurement(
        name="customUnit", description=offer.measurement, unit=offer.unit, scale=offer.scale
    )


def _reports(offers: Sequence[ReportOffer], now: datetime) -> list[Any]:
    """One TELEMETRY_USAGE oadrReport per report specifier, one description per rID."""
    reports: dict[str, Any] = {}
    for offer in offers:
        report = reports.get(offer.report_specifier_id)
        if report is None:
            report = objects.Report(
                created_date_time=now, report_name=enums.REPORT_NAME.TELEMETRY_USAGE,
                report_specifier_id=offer.report_specifier_id,
                data_collection_mode="incremental", duration=offer.duration, dtstart=now,
                report_request_id=0,
            )  # fmt: skip
            reports[offer.report_specifier_id] = report
        target = objects.Target(resource_id=RESOURCE)
        report.report_descriptions.append(
            objects.ReportDescription(
                r_id=offer.r_id, reading_type=enums.READING_TYPE.DIRECT_READ,
                report_data_source=target, report_subject=target,
                report_type=enums.REPORT_TYPE.READING,
                sampling_rate=objects.SamplingRate(
                    min_period=offer.min_period, max_period=offer.max_period, on_change=False
                ),
                measurement=_measurement(offer), market_context=None,
            )
        )  # fmt: skip
    return list(reports.values())
