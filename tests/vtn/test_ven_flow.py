"""Stock openleadr VENs against the gateway's VTN over HTTP: registration, events, answers,
opts, modification, cancellation, status changes seen on poll, and telemetry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from openleadr import OpenADRClient, enums, objects
from openleadr.messaging import XML_SCHEMA, create_message, parse_message
from redis.asyncio import Redis

from gateway.settings import Settings
from tests.support import Api, in_minutes
from tests.vtn.conftest import VenFactory, eventually


class Inbox:
    """Every message a VEN received from the VTN, parsed."""

    def __init__(self, ven: OpenADRClient) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        ven.add_hook("after_parse_xml", lambda t, p: self.messages.append((t, p)))

    def of(self, message_type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.messages if t == message_type]


async def provision(api: Api, ven_id: str, devices: dict[str, str], **extra: Any) -> None:
    await api.post("/api/vens", {"name": ven_id, "ven_id": ven_id, **extra}, status=201)
    for device_id, resource_id in devices.items():
        await api.device(device_id, ven_id=ven_id, resource_id=resource_id)


async def register(ven: OpenADRClient) -> None:
    await ven.query_registration()
    await ven.create_party_registration(ven_id=ven.ven_id)
    assert ven.registration_id, "the VTN gave no registrationID"


def answering(ven: OpenADRClient, opt: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> str:
        seen.append(event)
        return opt

    async def on_update_event(event: dict[str, Any]) -> str:
        seen.append(event)
        return opt

    ven.add_handler("on_event", on_event)
    ven.add_handler("on_update_event", on_update_event)
    return seen


async def raw(
    api: Api, service: str, message_type: str, **payload: Any
) -> tuple[str, dict[str, Any]]:
    resp = await api.client.post(
        f"/OpenADR2/Simple/2.0b/{service}",
        data=create_message(message_type, **payload),
        headers={"Content-Type": "application/xml"},
    )
    assert resp.status == 200, await resp.text()
    body = await resp.read()
    assert XML_SCHEMA.validate(etree.fromstring(body)), XML_SCHEMA.error_log.last_error
    parsed: tuple[str, dict[str, Any]] = parse_message(body)
    return parsed


# --- registration -------------------------------------------------------------------------


async def test_a_provisioned_ven_registers_and_is_listed(api: Api, make_ven: VenFactory) -> None:
    await provision(api, "ven-1", {"d1": "r1"})
    ven = make_ven("ven-1", ven_id="ven-1")
    inbox = Inbox(ven)
    await register(ven)

    created = inbox.of("oadrCreatedPartyRegistration")[-1]
    assert created["response"]["response_code"] == 200
    assert created["ven_id"] == "ven-1"
    assert created["vtn_id"] == "oadr-gateway"
    assert created["requested_oadr_poll_freq"] == timedelta(seconds=10)
    listed = await api.get("/api/vens/ven-1")
    assert listed["registered"] is True
    assert listed["registration_id"] == ven.registration_id
    assert listed["devices"] == 1


async def test_a_ven_provisioned_by_name_gets_its_ven_id_at_registration(
    api: Api, make_ven: VenFactory
) -> None:
    view = await api.post("/api/vens", {"name": "north-site"}, status=201)
    ven = make_ven("north-site")
    await register(ven)
    assert ven.ven_id == view["ven_id"]


async def test_an_unprovisioned_ven_is_refused_with_an_openadr_code(
    api: Api, make_ven: VenFactory
) -> None:
    ven = make_ven("stranger")
    inbox = Inbox(ven)
    await ven.create_party_registration()
    refused = inbox.of("oadrCreatedPartyRegistration")[-1]
    assert refused["response"]["response_code"] == 463
    assert not refused.get("registration_id")
    assert ven.registration_id is None
    assert (await api.get("/api/vens"))["count"] == 0


async def test_an_unknown_ven_id_is_refused(api: Api, make_ven: VenFactory) -> None:
    ven = make_ven("ghost", ven_id="no-such-ven")
    inbox = Inbox(ven)
    await ven.create_party_registration(ven_id="no-such-ven")
    assert inbox.of("oadrCreatedPartyRegistration")[-1]["response"]["response_code"] == 452
    kind, payload = await raw(api, "OadrPoll", "oadrPoll", ven_id="no-such-ven")
    assert kind == "oadrResponse"
    assert payload["response"]["response_code"] == 452


@pytest.fixture
def open_enrollment(settings_overrides: dict[str, Any]) -> None:
    settings_overrides["open_enrollment"] = True


@pytest.mark.usefixtures("open_enrollment")
async def test_open_enrollment_registers_an_unknown_ven(api: Api, make_ven: VenFactory) -> None:
    ven = make_ven("walk-in")
    await register(ven)
    listed = (await api.get("/api/vens"))["items"]
    assert [(v["name"], v["provisioned"], v["registered"]) for v in listed] == [
        ("walk-in", False, True)
    ]
    assert listed[0]["ven_id"] == ven.ven_id


async def test_re_registration_keeps_the_registration_and_cancel_ends_it(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-1", {})
    ven = make_ven("ven-1", ven_id="ven-1")
    inbox = Inbox(ven)
    await register(ven)
    first = ven.registration_id
    await ven.create_party_reregistration(registration_id=first)
    assert ven.registration_id == first

    await ven.cancel_party_registration()
    canceled = inbox.of("oadrCanceledPartyRegistration")[-1]
    assert canceled["response"]["response_code"] == 200
    assert canceled["registration_id"] == first
    assert (await api.get("/api/vens/ven-1"))["registered"] is False

    # Unregistered now: its poll is refused like its other messages (cert N1_0080).
    kind, payload = await raw(api, "OadrPoll", "oadrPoll", ven_id="ven-1")
    assert (kind, payload["response"]["response_code"]) == ("oadrResponse", 463)


async def test_a_wrong_registration_id_cannot_cancel(api: Api, make_ven: VenFactory) -> None:
    await provision(api, "ven-1", {})
    ven = make_ven("ven-1", ven_id="ven-1")
    await register(ven)
    kind, payload = await raw(
        api, "EiRegisterParty", "oadrCancelPartyRegistration",
        request_id="q1", ven_id="ven-1", registration_id="not-it",
    )  # fmt: skip
    assert kind == "oadrCanceledPartyRegistration"
    assert payload["response"]["response_code"] == 452
    assert (await api.get("/api/vens/ven-1"))["registered"] is True


# --- events -------------------------------------------------------------------------------


async def test_an_invitation_reaches_each_ven_with_its_share(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1", "a2": "ra2"})
    await provision(api, "ven-b", {"b1": "rb1"})
    ven_a, ven_b = make_ven("ven-a", ven_id="ven-a"), make_ven("ven-b", ven_id="ven-b")
    inbox_a = Inbox(ven_a)
    answering(ven_a, "optIn")
    answering(ven_b, "optIn")
    for ven in (ven_a, ven_b):
        await register(ven)
    invitation = await api.invite(
        ["a1", "a2", "b1"], duration_minutes=30, load_kwh=3.0, load_percentage=30.0
    )
    await ven_a._poll()
    await ven_b._poll()

    distributed = inbox_a.of("oadrDistributeEvent")[-1]
    assert distributed["vtn_id"] == "oadr-gateway"
    (event,) = distributed["events"]
    descriptor = event["event_descriptor"]
    assert descriptor["event_id"] == invitation["id"]
    assert descriptor["modification_number"] == 0
    assert descriptor["event_status"] == "far"
    assert descriptor["market_context"] == "oadr://oadr-gateway/program"
    assert descriptor["priority"] == 1
    assert descriptor["test_event"] is False
    assert descriptor["created_date_time"] == datetime.fromisoformat(invitation["created_at"])
    assert event["response_required"] == "always"
    assert event["targets_by_type"] == {"ven_id": ["ven-a"], "resource_id": ["ra1", "ra2"]}
    start = datetime.fromisoformat(invitation["event_time"])
    assert event["active_period"] == {"dtstart": start, "duration": timedelta(minutes=30)}
    signals = {s["signal_name"]: s for s in event["event_signals"]}
    # 3 kWh over 30 min is 6 kW; ven-a has 2 of the 3 devices.
    dispatch = signals["LOAD_DISPATCH"]
    assert dispatch["signal_type"] == "delta"
    assert [i["signal_payload"] for i in dispatch["intervals"]] == [pytest.approx(4.0)]
    assert sum((i["duration"] for i in dispatch["intervals"]), timedelta()) == timedelta(minutes=30)
    assert dispatch["powerReal"]["si_scale_code"] == "k"
    assert [i["signal_payload"] for i in signals["SIMPLE"]["intervals"]] == [2.0]  # 30 %

    done = await eventually(
        lambda: _invitation_if(api, invitation["id"], lambda i: i["status"] == "scheduled")
    )
    answers = {
        a["device_id"]: (a["answer"], a["committed_kw"], a["source"]) for a in done["answers"]
    }
    assert answers == {
        "a1": ("YES", pytest.approx(2.0), "ven"),
        "a2": ("YES", pytest.approx(2.0), "ven"),
        "b1": ("YES", pytest.approx(2.0), "ven"),
    }


async def _invitation_if(api: Api, invitation_id: str, test: Any) -> Any:
    invitation = await api.get(f"/api/invitations/{invitation_id}")
    return invitation if test(invitation) else None


async def test_opt_out_declines_the_invitation_and_a_later_opt_in_changes_nothing(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    answering(ven, "optOut")
    await register(ven)
    invitation = await api.invite(["a1"])
    await ven._poll()
    declined = await eventually(
        lambda: _invitation_if(api, invitation["id"], lambda i: i["status"] == "cancelled")
    )
    assert [(a["answer"], a["committed_kw"]) for a in declined["answers"]] == [("NO", 0.0)]

    # Declining cancels the event: a new modificationNumber tells the VEN (OpenADR 2.0b).
    inbox = Inbox(ven)
    await ven._poll()
    told = inbox.of("oadrDistributeEvent")[-1]["events"][0]["event_descriptor"]
    assert (told["event_status"], told["modification_number"]) == ("cancelled", 1)
    # An answer to the cancel acknowledges it (cert A_E3_0492/0496), optIn or optOut alike,
    # and changes no decision; one to the old terms is refused.
    again = await raw(api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optOut", 1))
    assert again[1]["response"]["response_code"] == 200
    stale = await raw(api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optIn"))
    assert stale[1]["response"]["response_code"] == 450
    changed = await raw(
        api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optIn", 1)
    )
    assert changed[1]["response"]["response_code"] == 200
    assert "cancellation acknowledged" in changed[1]["response"]["response_description"]
    after = await api.get(f"/api/invitations/{invitation['id']}")
    assert [(a["answer"], a["committed_kw"]) for a in after["answers"]] == [("NO", 0.0)]


def _created(event_id: str, opt: str, modification: int = 0) -> dict[str, Any]:
    return {
        "ven_id": "ven-a",
        "response": {"response_code": 200, "response_description": "OK", "request_id": "rq"},
        "event_responses": [
            {"response_code": 200, "response_description": "OK", "request_id": "rq",
             "event_id": event_id, "modification_number": modification, "opt_type": opt}
        ],
    }  # fmt: skip


async def test_a_ven_may_change_its_answer_while_the_invitation_is_pending(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    await api.device("other")  # keeps the invitation pending: it never answers
    ven = make_ven("ven-a", ven_id="ven-a")
    await register(ven)
    invitation = await api.invite(["a1", "other"])
    first = await raw(api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optIn"))
    assert first[1]["response"]["response_code"] == 200
    second = await raw(api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optOut"))
    assert second[1]["response"]["response_code"] == 200
    assert "changed to NO" in second[1]["response"]["response_description"]
    after = await api.get(f"/api/invitations/{invitation['id']}")
    # "all" policy: a NO decides at once once every device answered; here one is missing.
    assert [(a["device_id"], a["answer"]) for a in after["answers"]] == [("a1", "NO")]


async def test_an_answer_to_an_old_modification_or_unknown_event_is_refused(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    await register(ven)
    invitation = await api.invite(["a1"])
    stale = await raw(
        api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optIn", modification=3)
    )
    assert stale[1]["response"]["response_code"] == 450
    unknown = await raw(api, "EiEvent", "oadrCreatedEvent", **_created("nope", "optIn"))
    assert unknown[1]["response"]["response_code"] == 452
    after = await api.get(f"/api/invitations/{invitation['id']}")
    assert after["answers"] == []


async def test_modification_and_cancellation_reach_the_ven(api: Api, make_ven: VenFactory) -> None:
    await provision(api, "ven-a", {"a1": "ra1", "a2": "ra2"})
    ven = make_ven("ven-a", ven_id="ven-a")
    seen = answering(ven, "optIn")
    inbox = Inbox(ven)
    await register(ven)
    invitation = await api.invite(["a1", "a2"], load_kwh=2.0, duration_minutes=60)
    await ven._poll()
    await eventually(
        lambda: _invitation_if(api, invitation["id"], lambda i: i["status"] == "scheduled")
    )
    later = in_minutes(240)
    modified = await api.put(
        f"/api/invitations/{invitation['id']}",
        {"event_time": later, "duration_minutes": 30, "load_kwh": 3.0, "devices": ["a1"]},
        status=200,
    )
    assert modified["status"] == "pending"
    assert modified["answers"] == []
    await ven._poll()
    event = inbox.of("oadrDistributeEvent")[-1]["events"][0]
    assert event["event_descriptor"]["modification_number"] == 1
    assert event["active_period"]["dtstart"] == datetime.fromisoformat(later)
    assert event["targets_by_type"]["resource_id"] == ["ra1"]
    assert event["event_signals"][1]["intervals"][0]["signal_payload"] == pytest.approx(6.0)
    assert len(seen) == 2  # on_event, then on_update_event with the new terms
    rescheduled = await eventually(
        lambda: _invitation_if(api, invitation["id"], lambda i: i["status"] == "scheduled")
    )
    assert rescheduled["event_id"] != invitation.get("event_id")

    await api.post(f"/api/invitations/{invitation['id']}/cancel", {"reason": "grid ok"}, status=200)
    await ven._poll()
    cancelled = inbox.of("oadrDistributeEvent")[-1]["events"][0]["event_descriptor"]
    assert cancelled["event_status"] == "cancelled"
    assert cancelled["modification_number"] == 2
    event_view = await api.get(f"/api/events/{rescheduled['event_id']}")
    assert event_view["status"] == "cancelled"

    # Told once: the next poll has nothing new but the VTN's METADATA (owed since
    # registration, after everything else), which the VEN acknowledges; then nothing.
    before = len(inbox.messages)
    await ven._poll()
    assert [t for t, _ in inbox.messages[before:]] == ["oadrRegisterReport", "oadrResponse"]
    before = len(inbox.messages)
    await ven._poll()
    assert [t for t, _ in inbox.messages[before:]] == ["oadrResponse"]


# --- opts ---------------------------------------------------------------------------------


async def test_create_opt_takes_named_resources_out_and_cancel_opt_is_answered(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1", "a2": "ra2"})
    ven = make_ven("ven-a", ven_id="ven-a")
    inbox = Inbox(ven)
    await register(ven)
    invitation = await api.invite(["a1", "a2"])
    opt_id = await ven.create_opt(
        opt_type=enums.OPT.OPT_OUT,
        opt_reason=enums.OPT_REASON.PARTICIPATING,
        targets=[objects.Target(resource_id="ra2")],
        event_id=invitation["id"],
        modification_number=0,
    )
    created = inbox.of("oadrCreatedOpt")[-1]
    assert created["response"]["response_code"] == 200
    assert created["opt_id"] == opt_id
    after = await api.get(f"/api/invitations/{invitation['id']}")
    assert [(a["device_id"], a["answer"], a["source"]) for a in after["answers"]] == [
        ("a2", "NO", "ven")
    ]
    assert after["status"] == "pending"  # a1 has not answered yet

    assert await ven.cancel_opt(opt_id) is True
    assert inbox.of("oadrCanceledOpt")[-1]["opt_id"] == opt_id


async def test_an_opt_for_a_resource_of_another_ven_is_refused(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    await provision(api, "ven-b", {"b1": "rb1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    inbox = Inbox(ven)
    await register(ven)
    invitation = await api.invite(["a1", "b1"])
    result = await ven.create_opt(
        opt_type=enums.OPT.OPT_OUT,
        opt_reason=enums.OPT_REASON.PARTICIPATING,
        targets=[objects.Target(resource_id="rb1")],
        event_id=invitation["id"],
    )
    assert inbox.of("oadrCreatedOpt")[-1]["response"]["response_code"] == 462
    assert result  # openleadr takes any optID back as an acknowledgement
    assert (await api.get(f"/api/invitations/{invitation['id']}"))["answers"] == []


# --- telemetry ----------------------------------------------------------------------------


@pytest.fixture
def fast_reports(settings_overrides: dict[str, Any]) -> None:
    settings_overrides["vtn_report_sampling_seconds"] = 1.0


@pytest.mark.usefixtures("fast_reports")
async def test_telemetry_reports_land_on_the_power_bus(
    api: Api, make_ven: VenFactory, redis: Redis, settings: Settings
) -> None:
    await provision(api, "ven-a", {"a1": "ra1", "a2": "ra2"})
    ven = make_ven("ven-a", ven_id="ven-a")
    inbox = Inbox(ven)
    # Watts (scale "none"): openleadr shares one Measurement object between reports, so
    # both points carry the same scale.
    power = {"ra1": 3500.0, "ra2": 1250.0}
    ven.add_report(
        callback=lambda: power["ra1"], resource_id="ra1", measurement="power_real",
        scale="none", sampling_rate=timedelta(seconds=1), report_duration=timedelta(seconds=1),
    )  # fmt: skip
    ven.add_report(
        callback=lambda: power["ra2"], resource_id="ra2", measurement="power_real",
        scale="none", sampling_rate=timedelta(seconds=1), report_duration=timedelta(seconds=1),
    )  # fmt: skip
    await ven.run()  # registers, registers its reports, polls: the oadrCreateReport arrives
    request = inbox.of("oadrCreateReport")[-1]["report_requests"][0]
    assert request["report_specifier"]["granularity"] == timedelta(seconds=1)
    assert len(request["report_specifier"]["specifier_payloads"]) == 2

    async def both() -> Any:
        values = await redis.mget(
            [f"{settings.redis_prefix}power:a1", f"{settings.redis_prefix}power:a2"]
        )
        return values if all(values) else None

    import json

    a1, a2 = (json.loads(v) for v in await eventually(both, timeout=15))
    assert (a1["kw"], a1["source"]) == (3.5, "ven")  # 3500 W
    assert (a2["kw"], a2["source"]) == (1.25, "ven")  # 1250 W
    assert datetime.fromisoformat(a1["ts"]).tzinfo is not None
    assert abs(datetime.fromisoformat(a1["ts"]) - datetime.now(UTC)) < timedelta(seconds=10)


async def test_a_stock_ven_offering_only_2_s_is_asked_2_s_and_its_telemetry_arrives(
    api: Api, make_ven: VenFactory, redis: Redis, settings: Settings
) -> None:
    """A stock openleadr VEN offering ``power_real`` at exactly 2 s refuses any other sampling
    rate; the gateway (``vtn_report_sampling_seconds`` 10 s by default) asks within the offer."""
    assert settings.vtn_report_sampling_seconds == 10
    await provision(api, "ven-b", {"b1": "rb1"})
    ven = make_ven("ven-b", ven_id="ven-b")
    inbox = Inbox(ven)
    ven.add_report(
        callback=lambda: 2000.0, resource_id="rb1", measurement="power_real", scale="none",
        sampling_rate=timedelta(seconds=2), report_duration=timedelta(seconds=2),
    )  # fmt: skip
    await ven.run()
    request = inbox.of("oadrCreateReport")[-1]["report_requests"][0]
    assert request["report_specifier"]["granularity"] == timedelta(seconds=2)

    async def reading() -> Any:
        return await redis.get(f"{settings.redis_prefix}power:b1")

    import json

    value = json.loads(await eventually(reading, timeout=20))
    assert (value["kw"], value["source"]) == (2.0, "ven")


async def test_a_report_under_a_request_never_made_is_refused_and_nothing_written(
    api: Api, make_ven: VenFactory, redis: Redis, settings: Settings
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    await register(ven)
    report = objects.Report(
        report_specifier_id="spec", report_name="TELEMETRY_USAGE", report_request_id="x",
        intervals=[objects.ReportInterval(
            dtstart=datetime.now(UTC), report_payload=objects.ReportPayload(r_id="nope", value=9.0)
        )],
    )  # fmt: skip
    kind, payload = await raw(
        api, "EiReport", "oadrUpdateReport", ven_id="ven-a", request_id="u1", reports=[report]
    )
    assert kind == "oadrUpdatedReport"
    assert payload["response"]["response_code"] == 452
    assert await redis.get(f"{settings.redis_prefix}power:a1") is None


async def test_two_gateway_processes_on_one_database_serve_the_same_events(
    api: Api, make_ven: VenFactory, aiohttp_client: Any, settings: Settings, redis: Redis
) -> None:
    from gateway.app import build_app
    from tests.support import ADMIN_TOKEN

    await provision(api, "ven-a", {"a1": "ra1"})
    invitation = await api.invite(["a1"])
    second = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    ven = make_ven("ven-a", ven_id="ven-a", url=str(second.make_url("/OpenADR2/Simple/2.0b")))
    inbox = Inbox(ven)
    answering(ven, "optIn")
    await register(ven)
    await ven._poll()
    (event,) = inbox.of("oadrDistributeEvent")[-1]["events"]
    assert event["event_descriptor"]["event_id"] == invitation["id"]
    # The answer taken by the second process is what the first one serves.
    done = await eventually(
        lambda: _invitation_if(api, invitation["id"], lambda i: i["status"] == "scheduled")
    )
    assert done["answers"][0]["source"] == "ven"
    await asyncio.sleep(0)


async def test_a_large_body_arriving_in_pieces_is_read_whole(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    await register(ven)
    report = objects.Report(
        report_specifier_id="spec", report_name="TELEMETRY_USAGE", report_request_id="x",
        intervals=[
            objects.ReportInterval(
                dtstart=datetime.now(UTC),
                report_payload=objects.ReportPayload(r_id=f"nope-{i}", value=float(i)),
            )
            for i in range(2000)
        ],
    )  # fmt: skip
    body = create_message(
        "oadrUpdateReport", ven_id="ven-a", request_id="big", reports=[report]
    ).encode()
    assert len(body) > 300_000

    async def pieces() -> Any:
        for at in range(0, len(body), 4096):
            yield body[at : at + 4096]
            await asyncio.sleep(0)

    resp = await api.client.post(
        "/OpenADR2/Simple/2.0b/EiReport", data=pieces(), headers={"Content-Type": "application/xml"}
    )
    assert resp.status == 200
    kind, payload = parse_message(await resp.read())
    assert kind == "oadrUpdatedReport"
    assert payload["response"]["response_code"] == 452  # parsed whole: its rIDs are unknown
