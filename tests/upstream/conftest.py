"""A stock openleadr OpenADRServer plays the utility on 127.0.0.1; the gateway is its VEN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from openleadr import OpenADRServer, objects, utils
from openleadr.messaging import create_message, parse_message

from gateway.security.certs import DevPki
from tests.support import free_port
from tests.vtn.conftest import (  # noqa: F401  (make_ven, vtn_url, xsd_log: shared fixtures)
    eventually,
    make_ven,
    vtn_url,
    xsd_log,
)
from tests.vtn.test_ven_flow import Inbox

UTILITY_VEN_ID = "gw-ven"


@dataclass
class Utility:
    server: OpenADRServer
    port: int
    opts: list[tuple[str, str]] = field(default_factory=list)  # (event_id, opt_type)
    created_opts: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    # The same values by report specifier, then rID: what a utility attributes to a report.
    by_report: dict[str, dict[str, list[tuple[datetime, float]]]] = field(default_factory=dict)
    # Every EiReport exchange as raw bytes (request, answer), read without openleadr.
    exchanges: list[tuple[bytes, bytes]] = field(default_factory=list)
    # The granularity asked for each report whose specifier starts so (default: 1 s).
    granularity: dict[str, timedelta] = field(default_factory=dict)
    # Final reduction reports still to refuse (HTTP 503), and when each refused one came.
    refuse_finals: int = 0
    refused_at: list[float] = field(default_factory=list)
    registrations: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/OpenADR2/Simple/2.0b"

    def on_created(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.opts.append((event_id, opt_type))

    def add_event(
        self, event_id: str, start: datetime, minutes: int, kw: float, *, test: bool = False
    ) -> None:
        intervals = [objects.Interval(dtstart=start, duration=timedelta(minutes=minutes),
                                      signal_payload=kw)]  # fmt: skip
        if not test:
            self.server.add_event(
                ven_id=UTILITY_VEN_ID, signal_name="LOAD_DISPATCH", signal_type="delta",
                intervals=intervals, event_id=event_id, callback=self.on_created,
            )  # fmt: skip
            return
        event = objects.Event(
            event_descriptor=objects.EventDescriptor(
                event_id=event_id, modification_number=0, market_context="oadr://utility",
                event_status="far", test_event=True, created_date_time=start,
            ),
            event_signals=[objects.EventSignal(intervals=intervals, signal_name="SIMPLE",
                                               signal_type="level", signal_id="s1")],
            targets=[objects.Target(ven_id=UTILITY_VEN_ID)],
        )  # fmt: skip
        self.server.add_raw_event(UTILITY_VEN_ID, event, callback=self.on_created)

    def modify(self, event_id: str, *, kw: float | None = None, start: datetime | None = None,
               minutes: int | None = None) -> None:  # fmt: skip
        event = self._event(event_id)
        for signal in utils.getmember(event, "event_signals"):
            for interval in utils.getmember(signal, "intervals"):
                if kw is not None:
                    utils.setmember(interval, "signal_payload", kw)
                if start is not None:
                    utils.setmember(interval, "dtstart", start)
                if minutes is not None:
                    utils.setmember(interval, "duration", timedelta(minutes=minutes))
        period = utils.getmember(event, "active_period")
        if start is not None:
            utils.setmember(period, "dtstart", start)
        if minutes is not None:
            utils.setmember(period, "duration", timedelta(minutes=minutes))
        utils.increment_event_modification_number(event)
        self.server.events_updated[UTILITY_VEN_ID] = True

    def cancel(self, event_id: str) -> None:
        self.server.cancel_event(UTILITY_VEN_ID, event_id)

    def modification_number(self, event_id: str) -> int:
        descriptor = utils.getmember(self._event(event_id), "event_descriptor")
        return int(utils.getmember(descriptor, "modification_number"))

    def redeliver(self) -> None:
        self.server.events_updated[UTILITY_VEN_ID] = True

    def _event(self, event_id: str) -> Any:
        found = utils.find_by(self.server.events[UTILITY_VEN_ID], "event_descriptor.event_id",
                              event_id)  # fmt: skip
        assert found, event_id
        return found


async def start_utility(port: int, pki: DevPki | None = None, ven_cert: str = "") -> Utility:
    """A utility on ``port``; with ``pki``: over mutual TLS, signing its messages with the VTN
    certificate and taking only a VEN that connects and signs with ``ven_cert``'s."""
    tls: dict[str, Any] = {}
    if pki is not None:
        ven = next(v for v in pki.vens if v.name == ven_cert)
        tls = {
            "cert": str(pki.vtn.cert), "key": str(pki.vtn.key), "http_cert": str(pki.vtn.cert),
            "http_key": str(pki.vtn.key), "http_ca_file": str(pki.ca_cert),
            "fingerprint_lookup": lambda ven_id: ven.fingerprint,
            "show_server_cert_domain": False,
        }  # fmt: skip
    server = OpenADRServer(
        vtn_id="utility", http_host="127.0.0.1", http_port=port,
        requested_poll_freq=timedelta(seconds=1), show_fingerprint=False, **tls,
    )  # fmt: skip
    utility = Utility(server, port, scheme="https" if pki is not None else "http")

    def on_create_party_registration(payload: dict[str, Any]) -> tuple[str, str]:
        utility.registrations += 1
        return UTILITY_VEN_ID, f"reg-{utility.registrations}"

    def on_register_report(report: dict[str, Any]) -> list[tuple[Any, ...]]:
        requests = []
        specifier = str(report["report_specifier_id"])
        every = next(
            (g for prefix, g in utility.granularity.items() if specifier.startswith(prefix)),
            timedelta(seconds=1),
        )
        for description in report["report_descriptions"]:
            r_id = description["r_id"]

            def collect(data: list[tuple[datetime, float]], r_id: str = r_id) -> None:
                utility.reports.setdefault(r_id, []).extend(data)
                utility.by_report.setdefault(specifier, {}).setdefault(r_id, []).extend(data)

            requests.append((r_id, collect, every))
        return requests

    @web.middleware
    async def keep_reports(request: web.Request, handler: Any) -> web.StreamResponse:
        if utility.refuse_finals > 0 and b"/final</" in await request.read():
            utility.refuse_finals -= 1
            utility.refused_at.append(asyncio.get_running_loop().time())
            return web.Response(status=503)
        response = await handler(request)
        if request.path.endswith("/EiReport") and isinstance(response, web.Response):
            body = response.body
            answer = bytes(body) if isinstance(body, bytes | bytearray) else b""
            utility.exchanges.append((await request.read(), answer))
        return response

    async def ei_opt(request: web.Request) -> web.Response:
        # openleadr 0.5.36 serves no EiOpt; the utility here takes opts and acknowledges them.
        message_type, payload = parse_message(await request.read())
        utility.created_opts.append({"type": message_type, **payload})
        answer = "oadrCreatedOpt" if message_type == "oadrCreateOpt" else "oadrCanceledOpt"
        body = create_message(
            answer,
            response={"response_code": 200, "response_description": "OK",
                      "request_id": payload.get("request_id")},
            opt_id=payload.get("opt_id"),
        )  # fmt: skip
        return web.Response(text=body, content_type="application/xml")

    server.app.router.add_post("/OpenADR2/Simple/2.0b/EiOpt", ei_opt)
    server.app.middlewares.append(keep_reports)
    server.add_handler("on_create_party_registration", on_create_party_registration)
    server.add_handler("on_register_report", on_register_report)
    server.add_handler("on_update_report", lambda payload: None)
    await server.run_async()
    return utility


@pytest.fixture
def utility_port() -> int:
    return free_port()


@pytest.fixture
async def utility(utility_port: int) -> AsyncIterator[Utility]:
    started = await start_utility(utility_port)
    yield started
    await started.server.stop()
    await asyncio.sleep(0)


@pytest.fixture
def upstream_overrides(utility_port: int) -> dict[str, Any]:
    return {
        "upstream": {
            "vtn_url": f"http://127.0.0.1:{utility_port}/OpenADR2/Simple/2.0b",
            "ven_name": "gateway-1",
            "poll_interval_seconds": 1.0,
            "response_deadline_seconds": 30.0,
            "reconnect_min_seconds": 0.2,
            "reconnect_max_seconds": 1.0,
        }
    }


async def poll_until(
    ven: Any, inbox: Inbox, accept: Callable[[dict[str, Any]], bool] = bool
) -> dict[str, Any]:
    """Poll as the VEN does until an ``oadrDistributeEvent`` that ``accept``s arrives: the
    downstream VTN learns of a change right after its commit, so a poll in between still
    sees the state before it (the next poll brings it)."""

    async def polled() -> dict[str, Any] | None:
        await ven._poll()
        found = inbox.of("oadrDistributeEvent")
        return found[-1] if found and accept(found[-1]) else None

    return dict(await eventually(polled))
