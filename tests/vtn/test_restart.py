"""A gateway restarted between a VEN's messages loses nothing: registration, the report
request waiting for the next poll, what the VEN was told, and the events it must see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gateway.app import build_app
from gateway.settings import Settings
from tests.support import ADMIN_TOKEN, Api
from tests.vtn.conftest import VTN_PATH, VenFactory
from tests.vtn.test_ven_flow import Inbox, answering, provision, register


async def test_restart_between_messages_loses_nothing(
    aiohttp_client: Any, settings: Settings, make_ven: VenFactory
) -> None:
    first = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    api = Api(first)
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a", url=str(first.make_url(VTN_PATH)))
    inbox = Inbox(ven)
    answering(ven, "optIn")
    ven.add_report(
        callback=lambda: 1000.0, resource_id="ra1", measurement="power_real",
        sampling_rate=timedelta(seconds=10), report_duration=timedelta(seconds=10),
    )  # fmt: skip
    await register(ven)
    await ven.register_reports(ven.reports)  # the oadrCreateReport now waits for a poll
    invitation = await api.invite(["a1"])
    registration_id = ven.registration_id
    await first.close()  # the gateway goes away with all its memory

    second = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    ven.vtn_url = str(second.make_url(VTN_PATH))
    before = len(inbox.messages)
    await ven._poll()
    # The request waited in the database; the VEN acknowledges it (oadrCreatedReport).
    assert [t for t, _ in inbox.messages[before:]] == ["oadrCreateReport", "oadrResponse"]
    request = inbox.of("oadrCreateReport")[-1]["report_requests"][0]
    offered = ven.reports[0].report_descriptions[0].r_id
    assert request["report_specifier"]["specifier_payloads"][0]["r_id"] == offered

    await ven._poll()
    (event,) = inbox.of("oadrDistributeEvent")[-1]["events"]
    assert event["event_descriptor"]["event_id"] == invitation["id"]
    listed = await Api(second).get("/api/vens/ven-a")
    assert listed["registration_id"] == registration_id

    third = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    await second.close()
    ven.vtn_url = str(third.make_url(VTN_PATH))
    before = len(inbox.messages)
    await ven._poll()  # the third process knows the VEN was told already
    # Nothing else waits: the VTN's METADATA owed since registration comes now, still owed
    # after two restarts; the VEN acknowledges it.
    assert [t for t, _ in inbox.messages[before:]] == ["oadrRegisterReport", "oadrResponse"]
    before = len(inbox.messages)
    await ven._poll()
    assert [t for t, _ in inbox.messages[before:]] == ["oadrResponse"]
    answered = await Api(third).get(f"/api/invitations/{invitation['id']}")
    assert [(a["device_id"], a["answer"], a["source"]) for a in answered["answers"]] == [
        ("a1", "YES", "ven")
    ]
    await third.close()
