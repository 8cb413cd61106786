"""R1: reports, pull mode (cert cases section 1, R1_3010-R1_3190): the operator's report
requests of a VEN (TELEMETRY_STATUS, TELEMETRY_USAGE, HISTORY_USAGE), their cancel, and the
VTN's own METADATA report served to a VEN that asks for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from tests.oadr20b import messages
from tests.oadr20b.answers import Answer, ReportRequest
from tests.oadr20b.cert.site import (
    CertGateway,
    Party,
    exchange,
    offered_reports,
    poll_until,
    status_point,
)
from tests.oadr20b.messages import OfferedPoint, OfferedReport, PowerReal, Reading
from tests.oadr20b.namespaces import findall, text
from tests.support import AUTH

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def _xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"{reason} (#9)")


async def _with_metadata(gateway: CertGateway, kinds: Sequence[str] = ("status",)) -> Party:
    """A registered VEN that offered TELEMETRY_STATUS (``status``), TELEMETRY_USAGE power and
    energy (``usage``) and HISTORY_USAGE (``history``); the VTN's own requests answered."""
    party = await gateway.party()
    answer = await party.ven.register_reports(offered_reports(party.resources[0], kinds))
    assert answer.code == 200, answer.description
    await _acknowledge_requests(party, await party.ven.poll())
    return party


async def _acknowledge_requests(party: Party, answer: Answer) -> list[ReportRequest]:
    if answer.message_type != "oadrCreateReport":
        return []
    assert (await party.ven.created_report(answer)).code == 200
    return answer.report_requests


async def _operator_request(gateway: CertGateway, party: Party, **request: Any) -> str:
    made = await gateway.expect("report_request", request, ven_id=party.ven.id)
    return str(made["report_request_id"])


async def _requested(party: Party, report_request_id: str) -> ReportRequest:
    create = await poll_until(party.ven, "oadrCreateReport", polls=1)
    [request] = [r for r in create.report_requests if r.report_request_id == report_request_id]
    assert (await party.ven.created_report(create)).code == 200
    return request


async def _update(party: Party, request: ReportRequest, gateway: CertGateway,
                  name: str, value: float = 1.0) -> Answer:  # fmt: skip
    readings = [Reading(r, value, gateway.clock.now()) for r in request.r_ids]
    return await party.ven.update_report(request, readings, name=name)


# --- the operator's requests ----------------------------------------------------------------


async def test_R1_3010_one_shot_telemetry_status(gateway: CertGateway) -> None:
    """P019: TELEMETRY_STATUS once, granularity 0, reportBackDuration 0."""
    party = await _with_metadata(gateway)
    rid = await _operator_request(
        gateway,
        party,
        report_name="TELEMETRY_STATUS",
        r_ids=["status"],
        granularity_seconds=0,
        report_back_seconds=0,
    )
    request = await _requested(party, rid)
    assert (request.granularity, request.report_back_duration) == (timedelta(), timedelta())
    assert (await _update(party, request, gateway, "TELEMETRY_STATUS")).code == 200


async def test_R1_3020_periodic_telemetry_status(gateway: CertGateway) -> None:
    """P020: granularity = reportBack = max(1 min, the VEN's minPeriod), from now, 5 min."""
    party = await _with_metadata(gateway)
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                  r_ids=["status"], granularity_seconds=60,
                                  report_back_seconds=60, duration_seconds=300)  # fmt: skip
    request = await _requested(party, rid)
    assert (request.granularity, request.report_back_duration) == (MINUTE, MINUTE)
    assert request.report_interval is not None
    assert request.report_interval[1] == 5 * MINUTE
    for _ in range(2):
        gateway.clock.advance(minutes=1)
        assert (await _update(party, request, gateway, "TELEMETRY_STATUS")).code == 200


async def test_R1_3025_telemetry_status_on_change_from_later(gateway: CertGateway) -> None:
    """P055: on change, reportBack 1 min, starting in 2 min."""
    party = await _with_metadata(gateway)
    start = gateway.at(2).isoformat()
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                  r_ids=["status"], granularity_seconds=0,
                                  report_back_seconds=60, start=start)  # fmt: skip
    request = await _requested(party, rid)
    assert request.report_interval is not None
    assert request.report_interval[0] == gateway.at(2)
    gateway.clock.advance(minutes=3)
    assert (await _update(party, request, gateway, "TELEMETRY_STATUS")).code == 200


async def test_R1_3027_telemetry_status_every_minute_for_two(gateway: CertGateway) -> None:
    """P064: TELEMETRY_STATUS every minute for 2 minutes: two updates."""
    party = await _with_metadata(gateway)
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                  r_ids=["status"], granularity_seconds=60,
                                  report_back_seconds=60, duration_seconds=120)  # fmt: skip
    request = await _requested(party, rid)
    assert request.report_interval is not None
    assert request.report_interval[1] == 2 * MINUTE
    for _ in range(2):
        gateway.clock.advance(minutes=1)
        assert (await _update(party, request, gateway, "TELEMETRY_STATUS")).code == 200


async def test_R1_3030_two_requests_both_live(gateway: CertGateway) -> None:
    """P020, then P021 (+15 s, 10 min): a request each; both stay live."""
    party = await _with_metadata(gateway)
    first = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                    r_ids=["status"], granularity_seconds=60,
                                    report_back_seconds=60, duration_seconds=300)  # fmt: skip
    first_request = await _requested(party, first)
    second = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                     r_ids=["status"], granularity_seconds=60,
                                     report_back_seconds=60, duration_seconds=600,
                                     start=(gateway.at(0.25)).isoformat())  # fmt: skip
    second_request = await _requested(party, second)
    gateway.clock.advance(minutes=1)
    for request in (first_request, second_request):
        assert (await _update(party, request, gateway, "TELEMETRY_STATUS")).code == 200


async def test_R1_3040_request_cancelled(gateway: CertGateway) -> None:
    """P020, then P022: the next poll brings oadrCancelReport; the VEN answers
    oadrCanceledReport."""
    party = await _with_metadata(gateway)
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                  r_ids=["status"], granularity_seconds=60,
                                  report_back_seconds=60, duration_seconds=300)  # fmt: skip
    await _requested(party, rid)
    await gateway.expect("cancel_report_request", {"report_to_follow": False},
                         ven_id=party.ven.id, report_request_id=rid)  # fmt: skip
    cancel = await poll_until(party.ven, "oadrCancelReport", polls=1)
    assert text(cancel.message, "ei:reportRequestID") == rid
    answer = await exchange(party.ven, "EiReport", messages.canceled_report(
        party.ven.id, cancel.field("pyld:requestID") or "", []), "oadrResponse")  # fmt: skip
    assert answer.empty or answer.code == 200


async def test_R1_3045_open_ended_request_cancelled_with_report_to_follow(
    gateway: CertGateway,
) -> None:
    """P056 (open-ended, every minute), then P057 (cancel, reportToFollow true): one update
    after the cancel is still taken."""
    party = await _with_metadata(gateway)
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                  r_ids=["status"], granularity_seconds=60,
                                  report_back_seconds=60)  # fmt: skip
    request = await _requested(party, rid)
    await gateway.expect("cancel_report_request", {"report_to_follow": True},
                         ven_id=party.ven.id, report_request_id=rid)  # fmt: skip
    cancel = await poll_until(party.ven, "oadrCancelReport", polls=1)
    assert text(cancel.message, "pyld:reportToFollow") == "true"
    await exchange(party.ven, "EiReport", messages.canceled_report(
        party.ven.id, cancel.field("pyld:requestID") or "", [rid]), "oadrResponse")  # fmt: skip
    assert (await _update(party, request, gateway, "TELEMETRY_STATUS")).code == 200


async def test_R1_3050_cancel_piggy_backed_in_updated_report(gateway: CertGateway) -> None:
    """P020, P023: the cancel comes inside the next oadrUpdatedReport."""
    party = await _with_metadata(gateway)
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                  r_ids=["status"], granularity_seconds=60,
                                  report_back_seconds=60, duration_seconds=300)  # fmt: skip
    request = await _requested(party, rid)
    await gateway.expect("cancel_report_request", {"report_to_follow": False,
                                                   "piggy_back": True},
                         ven_id=party.ven.id, report_request_id=rid)  # fmt: skip
    updated = await _update(party, request, gateway, "TELEMETRY_STATUS")
    assert [text(c, "ei:reportRequestID") for c in
            findall(updated.message, "oadr:oadrCancelReport")] == [rid]  # fmt: skip


async def test_R1_3060_request_piggy_backed_in_registered_report(gateway: CertGateway) -> None:
    """P024: the oadrRegisteredReport answering the VEN's metadata carries a one-shot
    TELEMETRY_STATUS request."""
    party = await gateway.party()
    await gateway.expect("report_request", {"report_name": "TELEMETRY_STATUS",
                                            "granularity_seconds": 0, "report_back_seconds": 0,
                                            "on_registration": True},
                         ven_id=party.ven.id)  # fmt: skip
    registered = await party.ven.register_reports(offered_reports(party.resources[0], ["status"]))
    [request] = registered.report_requests
    assert (request.r_ids, request.granularity) == (["status"], timedelta())
    assert (await _update(party, request, gateway, "TELEMETRY_STATUS")).code == 200


async def test_a_request_held_for_registration_waits_for_one_that_offers_its_report(
    gateway: CertGateway,
) -> None:
    """Not told on a poll, nor in the answer to a registration without its report (the VEN's
    METADATA_HISTORY_USAGE here); told once, in the answer to the one that offers it."""
    party = await gateway.party()
    resource = party.resources[0]
    held = await gateway.expect("report_request", {"report_name": "TELEMETRY_STATUS",
                                                   "on_registration": True},
                                ven_id=party.ven.id)  # fmt: skip
    assert (await party.ven.poll()).message_type == "oadrResponse"
    history = OfferedReport(
        "history",
        [OfferedPoint("hpower", resource, MINUTE, MINUTE, PowerReal())],
        name="METADATA_HISTORY_USAGE",
    )
    without = await party.ven.register_reports([history])
    assert (without.code, without.report_requests) == (200, [])
    status = OfferedReport(
        "status", [status_point("status", resource)], name="METADATA_TELEMETRY_STATUS"
    )
    [request] = (await party.ven.register_reports([history, status])).report_requests
    assert (request.report_request_id, request.r_ids) == (held["report_request_id"], ["status"])
    again = await party.ven.register_reports([history, status])
    assert again.report_requests == []


async def test_a_request_held_for_registration_needs_a_registered_ven(
    gateway: CertGateway,
) -> None:
    party = await gateway.provision(1)
    resp = await gateway.api.client.post(
        f"/api/vens/{party.ven.id}/report-requests",
        json={"report_name": "TELEMETRY_STATUS", "on_registration": True}, headers=AUTH,
    )  # fmt: skip
    assert resp.status == 409, await resp.text()


# --- the VTN's METADATA, served on request ----------------------------------------------------


async def _ask_metadata(party: Party, report_request_id: str, **request: Any) -> Answer:
    body = messages.create_report(
        party.ven.request_id(), party.ven.id, report_request_id=report_request_id, **request
    )
    answer = await exchange(party.ven, "EiReport", body, "oadrCreatedReport")
    assert answer.code == 200, answer.description
    return answer


def _pending(answer: Answer) -> list[str]:
    return [
        e.text or "" for e in findall(answer.message, "oadr:oadrPendingReports/ei:reportRequestID")
    ]


async def _metadata_report(party: Party, report_request_id: str) -> None:
    register = await poll_until(party.ven, "oadrRegisterReport", polls=1)
    reports = findall(register.message, "oadr:oadrReport")
    assert reports
    assert {text(r, "ei:reportRequestID") for r in reports} == {report_request_id}
    assert all(not findall(r, "strm:intervals") for r in reports)


async def test_R1_3070_ven_asks_the_vtn_metadata_once(gateway: CertGateway) -> None:
    party = await gateway.party()
    created = await _ask_metadata(party, "meta-1")
    assert _pending(created) == ["meta-1"]
    await _metadata_report(party, "meta-1")


async def test_R1_3080_periodic_metadata_request(gateway: CertGateway) -> None:
    party = await gateway.party()
    await _ask_metadata(party, "meta-p", granularity=MINUTE, report_back=MINUTE,
                        interval=(gateway.clock.now(), 5 * MINUTE))  # fmt: skip
    for _ in range(2):
        await _metadata_report(party, "meta-p")
        gateway.clock.advance(minutes=1)


async def test_R1_3090_two_periodic_metadata_requests(gateway: CertGateway) -> None:
    party = await gateway.party()
    first = await _ask_metadata(party, "meta-a", granularity=MINUTE, report_back=MINUTE,
                                interval=(gateway.clock.now(), 5 * MINUTE))  # fmt: skip
    assert _pending(first) == ["meta-a"]
    second = await _ask_metadata(party, "meta-b", granularity=MINUTE, report_back=MINUTE,
                                 interval=(gateway.clock.now(), 5 * MINUTE))  # fmt: skip
    assert sorted(_pending(second)) == ["meta-a", "meta-b"]


async def test_R1_3100_ven_cancels_its_metadata_request(gateway: CertGateway) -> None:
    party = await gateway.party()
    await _ask_metadata(party, "meta-c", granularity=MINUTE, report_back=MINUTE,
                        interval=(gateway.clock.now(), 5 * MINUTE))  # fmt: skip
    body = messages.cancel_report(party.ven.request_id(), party.ven.id, ["meta-c"], False)
    answer = await exchange(party.ven, "EiReport", body, "oadrCanceledReport")
    assert (answer.code, _pending(answer)) == (200, [])


async def test_R1_3120_operator_republishes_metadata(gateway: CertGateway) -> None:
    """P052: the VTN sends its METADATA again; the VEN's oadrRegisteredReport asks for it,
    and it comes a second time."""
    party = await gateway.party()
    await gateway.expect("publish_metadata", {})
    register = await poll_until(party.ven, "oadrRegisterReport", polls=1)
    assert {text(r, "ei:reportRequestID") for r in findall(register.message, "oadr:oadrReport")}
    await _ask_metadata(party, "meta-r")
    await _metadata_report(party, "meta-r")


# --- HISTORY_USAGE and TELEMETRY_USAGE ------------------------------------------------------


async def test_R1_3130_history_usage_power_and_energy(gateway: CertGateway) -> None:
    """P043: HISTORY_USAGE powerReal + energyReal, 0/0, from now, duration 0: exactly those two
    rIDs, dtstart within 2 min, duration 0 or at least 60 min."""
    party = await _with_metadata(gateway, ("history",))
    rid = await _operator_request(gateway, party, report_name="HISTORY_USAGE",
                                  r_ids=["hpower", "henergy"], granularity_seconds=0,
                                  report_back_seconds=0, duration_seconds=0)  # fmt: skip
    request = await _requested(party, rid)
    assert sorted(request.r_ids) == ["henergy", "hpower"]
    assert request.report_interval is not None
    start, length = request.report_interval
    assert abs(start - gateway.clock.now()) <= 2 * MINUTE
    assert length == timedelta() or length >= 60 * MINUTE


async def test_R1_3140_history_usage_energy_for_the_last_half_hour(gateway: CertGateway) -> None:
    """P044: HISTORY_USAGE energyReal from -30 min, 30 min: one rID, dtstart within 2 min."""
    party = await _with_metadata(gateway, ("history",))
    rid = await _operator_request(gateway, party, report_name="HISTORY_USAGE",
                                  r_ids=["henergy"], granularity_seconds=0,
                                  report_back_seconds=0, start=gateway.at(-30).isoformat(),
                                  duration_seconds=1800)  # fmt: skip
    request = await _requested(party, rid)
    assert request.r_ids == ["henergy"]
    assert request.report_interval is not None
    assert abs(request.report_interval[0] - gateway.at(-30)) <= 2 * MINUTE


async def test_R1_3150_one_shot_telemetry_usage(gateway: CertGateway) -> None:
    """P045: TELEMETRY_USAGE powerReal + energyReal once: two rIDs, reportBackDuration 0."""
    party = await _with_metadata(gateway, ("usage",))
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_USAGE",
                                  r_ids=["power", "energy"], granularity_seconds=0,
                                  report_back_seconds=0)  # fmt: skip
    request = await _requested(party, rid)
    assert (sorted(request.r_ids), request.report_back_duration) == (
        ["energy", "power"],
        timedelta(),
    )
    assert (await _update(party, request, gateway, "TELEMETRY_USAGE")).code == 200


async def test_R1_3160_periodic_telemetry_usage(gateway: CertGateway) -> None:
    """P046: powerReal every minute, reportBack 2 min, from +15 s for 10 min: updates at 1
    and 3 min."""
    party = await _with_metadata(gateway, ("usage",))
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_USAGE",
                                  r_ids=["power"], granularity_seconds=60,
                                  report_back_seconds=120, start=gateway.at(0.25).isoformat(),
                                  duration_seconds=600)  # fmt: skip
    request = await _requested(party, rid)
    assert (request.granularity, request.report_back_duration) == (MINUTE, 2 * MINUTE)
    for minutes in (1, 2):
        gateway.clock.advance(minutes=minutes)
        assert (await _update(party, request, gateway, "TELEMETRY_USAGE", 1500.0)).code == 200


async def test_R1_3180_one_shot_status_and_usage(gateway: CertGateway) -> None:
    """P058: one-shot TELEMETRY_STATUS and TELEMETRY_USAGE: one or two oadrCreateReports."""
    party = await _with_metadata(gateway, ("status", "usage"))
    ids = [
        await _operator_request(gateway, party, report_name=name, r_ids=r_ids,
                                granularity_seconds=0, report_back_seconds=0)
        for name, r_ids in (("TELEMETRY_STATUS", ["status"]), ("TELEMETRY_USAGE", ["power"]))
    ]  # fmt: skip
    seen: dict[str, ReportRequest] = {}
    for _ in range(2):
        answer = await party.ven.poll()
        seen |= {r.report_request_id: r for r in await _acknowledge_requests(party, answer)}
    assert set(ids) <= set(seen)


async def test_R1_3190_report_under_an_unknown_report_request_id(gateway: CertGateway) -> None:
    """The request the VTN makes today of TELEMETRY_USAGE power stands in for P019's."""
    party = await gateway.party()
    resource = party.resources[0]
    registered = await party.ven.register_reports(
        [OfferedReport("usage", [OfferedPoint("power", resource, 10 * SECOND, MINUTE)])]
    )
    assert registered.code == 200
    [request] = await _acknowledge_requests(party, await party.ven.poll())
    known = await _update(party, request, gateway, "TELEMETRY_USAGE", 1000.0)
    assert known.code == 200
    stranger = ReportRequest("no-such-request", request.specifier_id, request.granularity,
                             request.report_back_duration, None, request.payloads)  # fmt: skip
    unknown = await _update(party, stranger, gateway, "TELEMETRY_USAGE", 2000.0)
    assert unknown.code == 452


# --- the request's status, whatever order the VEN's answers come in -------------------------


async def _listed_status(gateway: CertGateway, party: Party, report_request_id: str) -> str:
    listed = await gateway.api.get(f"/api/vens/{party.ven.id}/report-requests")
    [found] = [r for r in listed["items"] if r["report_request_id"] == report_request_id]
    return str(found["status"])


async def test_an_oadr_created_report_after_the_cancel_does_not_bring_the_request_back(
    gateway: CertGateway,
) -> None:
    """The VEN polls the request, the operator cancels it, then the VEN's oadrCreatedReport
    arrives: the request stays cancelled (it used to become "created" again)."""
    party = await _with_metadata(gateway)
    rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                  r_ids=["status"], granularity_seconds=60,
                                  report_back_seconds=60, duration_seconds=300)  # fmt: skip
    create = await poll_until(party.ven, "oadrCreateReport", polls=1)
    await gateway.expect("cancel_report_request", {"report_to_follow": False},
                         ven_id=party.ven.id, report_request_id=rid)  # fmt: skip
    assert await _listed_status(gateway, party, rid) == "cancelled"
    assert (await party.ven.created_report(create)).code == 200
    assert await _listed_status(gateway, party, rid) == "cancelled"


async def test_the_requests_a_canceled_report_lists_as_pending_stay_live(
    gateway: CertGateway,
) -> None:
    """oadrCanceledReport's oadrPendingReports are the requests the VEN still serves: the
    other request it lists is not cancelled for it (it used to be)."""
    party = await _with_metadata(gateway)
    ids = []
    for _ in range(2):
        rid = await _operator_request(gateway, party, report_name="TELEMETRY_STATUS",
                                      r_ids=["status"], granularity_seconds=60,
                                      report_back_seconds=60, duration_seconds=300)  # fmt: skip
        await _requested(party, rid)
        ids.append(rid)
    cancelled, kept = ids
    await gateway.expect("cancel_report_request", {"report_to_follow": False},
                         ven_id=party.ven.id, report_request_id=cancelled)  # fmt: skip
    cancel = await poll_until(party.ven, "oadrCancelReport", polls=1)
    await exchange(party.ven, "EiReport", messages.canceled_report(
        party.ven.id, cancel.field("pyld:requestID") or "", [kept]), "oadrResponse")  # fmt: skip
    assert await _listed_status(gateway, party, kept) == "created"
    assert await _listed_status(gateway, party, cancelled) == "cancelled"
