"""Push-mode certification cases of registration's METADATA (N0_5020, N0_5025, N0_5060) and
of reports (R0_8010-R0_8190): the pull twins' checks (``tests/oadr20b/cert``), with what the
VTN would queue for a poll arriving by POST, the VEN's answer to it in the HTTP response, and
the VEN's own messages POSTed as in pull mode. Minutes pass by moving the gateway's clock
ahead (``PushSite.clock``); its push sweep notices what fell due."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from tests.oadr20b import messages
from tests.oadr20b.answers import Answer, ReportRequest
from tests.oadr20b.cert.site import exchange, offered_reports
from tests.oadr20b.messages import Reading
from tests.oadr20b.namespaces import find, findall, text
from tests.push.conftest import PushSite
from tests.push.ven import Pushed, PushVen

MINUTE = timedelta(minutes=1)


async def _pushed(
    ven: PushVen, kind: str, where: Callable[[Pushed], bool] = lambda _p: True,
    within: float = 5.0,
) -> Pushed:  # fmt: skip
    """The first push of ``kind`` that ``where`` accepts (waiting for it)."""
    async with asyncio.timeout(within):
        while True:
            found = [p for p in ven.received if p.answer.message_type == kind and where(p)]
            if found:
                return found[0]
            await asyncio.sleep(0.02)


def _metadata_ids(pushed: Pushed) -> set[str]:
    return {text(r, "ei:reportRequestID") or "" for r in findall(pushed.answer.message,
                                                                 "oadr:oadrReport")}  # fmt: skip


def _check_metadata(pushed: Pushed, report_request_id: str) -> None:
    """The VTN's METADATA as its poll twin has it: reportSpecifierID METADATA, no intervals,
    eiReportID or dtstart, at EiReport."""
    reports = findall(pushed.answer.message, "oadr:oadrReport")
    assert reports, "a METADATA oadrRegisterReport without reports"
    assert pushed.service == "EiReport"
    assert {text(r, "ei:reportRequestID") for r in reports} == {report_request_id}
    assert {text(r, "ei:reportSpecifierID") for r in reports} == {"METADATA"}
    assert all(find(r, "strm:intervals") is None for r in reports)
    assert all(find(r, "ei:eiReportID") is None and find(r, "xcal:dtstart") is None
               for r in reports)  # fmt: skip


async def _answered_in_the_log(site: PushSite, ven: PushVen, answer: str) -> None:
    """The VEN's answer in the HTTP response to a push was taken: its message log has it."""
    from gateway.app import VTN

    path = f"/api/vens/{ven.raw.id}/messages"
    for _ in range(100):
        await site.client.server.app[VTN].state.flush_seen()
        log = (await site.api.get(path))["items"]
        if any((m["direction"], m["message_type"]) == ("from_ven", answer) for m in log):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {answer} from the VEN in its log: {log}")


# --- N0: the METADATA pushed after a registration ---------------------------------------


async def test_N0_5020_register_without_ids_then_metadata_pushed(push_site: PushSite) -> None:
    ven, _ = await push_site.push_ven(register=False)
    ven.raw.ven_id = None  # the VEN registers by its name alone
    answer = await ven.register()
    assert answer.code == 200
    assert answer.field("ei:venID")
    assert answer.field("ei:registrationID")
    assert ven.metadata is not None
    _check_metadata(ven.metadata, "0")  # it answers no request (EPRI rule 306)
    await _answered_in_the_log(push_site, ven, "oadrRegisteredReport")
    assert ven.problems == []


async def test_N0_5025_register_with_a_proposed_ven_id_then_metadata_pushed(
    push_site: PushSite,
) -> None:
    ven, _ = await push_site.push_ven(register=False)
    proposed = ven.raw.id
    answer = await ven.register()
    assert (answer.code, answer.field("ei:venID")) == (200, proposed)
    assert ven.metadata is not None
    _check_metadata(ven.metadata, "0")


async def test_N0_5060_registered_ven_registers_again_without_ids(push_site: PushSite) -> None:
    ven, _ = await push_site.push_ven()
    first, first_metadata = ven.raw.registration_id, ven.metadata
    ven.raw.ven_id, ven.raw.registration_id = None, None
    answer = await ven.register()
    assert answer.code == 200
    assert answer.field("ei:registrationID") not in (None, first)
    assert ven.metadata is not None
    assert ven.metadata is not first_metadata
    _check_metadata(ven.metadata, "0")  # again, for the new registration


# --- R0: the operator's requests ------------------------------------------------------------


async def _offering(site: PushSite, kinds: Sequence[str] = ("status",)) -> PushVen:
    """A registered push VEN that offered TELEMETRY_STATUS (``status``), TELEMETRY_USAGE
    power and energy (``usage``) and HISTORY_USAGE (``history``)."""
    ven, devices = await site.push_ven()
    answer = await ven.raw.register_reports(offered_reports(f"{devices[0]}-r", kinds))
    assert answer.code == 200, answer.description
    return ven


async def _ask(site: PushSite, ven: PushVen, **request: Any) -> str:
    made = await site.api.post(f"/api/vens/{ven.raw.id}/report-requests", request, status=201)
    return str(made["report_request_id"])


async def _requested(ven: PushVen, report_request_id: str) -> ReportRequest:
    """The request as pushed in an oadrCreateReport (the VEN's oadrCreatedReport went back in
    the HTTP response)."""

    def names_it(pushed: Pushed) -> bool:
        return any(r.report_request_id == report_request_id for r in pushed.answer.report_requests)

    create = await _pushed(ven, "oadrCreateReport", names_it)
    assert create.service == "EiReport"
    [request] = [r for r in create.answer.report_requests
                 if r.report_request_id == report_request_id]  # fmt: skip
    return request


async def _update(site: PushSite, ven: PushVen, request: ReportRequest, name: str,
                  value: float = 1.0) -> Answer:  # fmt: skip
    readings = [Reading(r, value, site.clock.now()) for r in request.r_ids]
    return await ven.raw.update_report(request, readings, name=name)


async def _status(site: PushSite, ven: PushVen, report_request_id: str) -> str:
    listed = (await site.api.get(f"/api/vens/{ven.raw.id}/report-requests"))["items"]
    [found] = [r for r in listed if r["report_request_id"] == report_request_id]
    return str(found["status"])


async def test_R0_8010_one_shot_telemetry_status(push_site: PushSite) -> None:
    ven = await _offering(push_site)
    rid = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                     granularity_seconds=0, report_back_seconds=0)  # fmt: skip
    request = await _requested(ven, rid)
    assert (request.granularity, request.report_back_duration) == (timedelta(), timedelta())
    for _ in range(50):  # its oadrCreatedReport, in the HTTP response, was taken
        if await _status(push_site, ven, rid) == "created":
            break
        await asyncio.sleep(0.02)
    assert await _status(push_site, ven, rid) == "created"
    assert (await _update(push_site, ven, request, "TELEMETRY_STATUS")).code == 200
    assert ven.problems == []


async def test_R0_8020_periodic_telemetry_status(push_site: PushSite) -> None:
    ven = await _offering(push_site)
    rid = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                     granularity_seconds=60, report_back_seconds=60,
                     duration_seconds=300)  # fmt: skip
    request = await _requested(ven, rid)
    assert (request.granularity, request.report_back_duration) == (MINUTE, MINUTE)
    assert request.report_interval is not None
    assert request.report_interval[1] == 5 * MINUTE
    for _ in range(2):
        push_site.clock.advance(minutes=1)
        assert (await _update(push_site, ven, request, "TELEMETRY_STATUS")).code == 200


async def test_R0_8025_telemetry_status_on_change_from_later(push_site: PushSite) -> None:
    ven = await _offering(push_site)
    start = (push_site.clock.now() + 2 * MINUTE).replace(microsecond=0)
    rid = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                     granularity_seconds=0, report_back_seconds=60,
                     start=start.isoformat())  # fmt: skip
    request = await _requested(ven, rid)
    assert request.report_interval is not None
    assert request.report_interval[0] == start
    push_site.clock.advance(minutes=3)
    assert (await _update(push_site, ven, request, "TELEMETRY_STATUS")).code == 200


async def test_R0_8027_telemetry_status_every_minute_for_two(push_site: PushSite) -> None:
    ven = await _offering(push_site)
    rid = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                     granularity_seconds=60, report_back_seconds=60,
                     duration_seconds=120)  # fmt: skip
    request = await _requested(ven, rid)
    assert request.report_interval is not None
    assert request.report_interval[1] == 2 * MINUTE
    for _ in range(2):
        push_site.clock.advance(minutes=1)
        assert (await _update(push_site, ven, request, "TELEMETRY_STATUS")).code == 200


async def test_R0_8030_two_requests_both_live(push_site: PushSite) -> None:
    ven = await _offering(push_site)
    first = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                       granularity_seconds=60, report_back_seconds=60,
                       duration_seconds=300)  # fmt: skip
    first_request = await _requested(ven, first)
    later = (push_site.clock.now() + timedelta(seconds=15)).isoformat()
    second = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                        granularity_seconds=60, report_back_seconds=60, duration_seconds=600,
                        start=later)  # fmt: skip
    second_request = await _requested(ven, second)
    push_site.clock.advance(minutes=1)
    for request in (first_request, second_request):
        assert (await _update(push_site, ven, request, "TELEMETRY_STATUS")).code == 200


async def test_R0_8040_cancel_pushed_and_answered_canceled_report(push_site: PushSite) -> None:
    ven = await _offering(push_site)
    rid = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                     granularity_seconds=60, report_back_seconds=60,
                     duration_seconds=300)  # fmt: skip
    await _requested(ven, rid)
    path = f"/api/vens/{ven.raw.id}/report-requests/{rid}/cancel"
    await push_site.api.post(path, {"report_to_follow": False}, status=200)
    cancel = await _pushed(ven, "oadrCancelReport")
    assert cancel.service == "EiReport"
    assert text(cancel.answer.message, "ei:reportRequestID") == rid
    assert text(cancel.answer.message, "pyld:reportToFollow") == "false"
    # Its oadrCanceledReport, in the HTTP response, was taken.
    await _answered_in_the_log(push_site, ven, "oadrCanceledReport")
    for _ in range(50):  # logged as it arrived, taken just after
        if await _status(push_site, ven, rid) == "cancelled":
            break
        await asyncio.sleep(0.02)
    assert await _status(push_site, ven, rid) == "cancelled"
    assert ven.problems == []


async def test_R0_8045_open_ended_request_cancelled_with_report_to_follow(
    push_site: PushSite,
) -> None:
    ven = await _offering(push_site)
    rid = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                     granularity_seconds=60, report_back_seconds=60)  # fmt: skip
    request = await _requested(ven, rid)
    path = f"/api/vens/{ven.raw.id}/report-requests/{rid}/cancel"
    await push_site.api.post(path, {"report_to_follow": True}, status=200)
    cancel = await _pushed(ven, "oadrCancelReport")
    assert text(cancel.answer.message, "pyld:reportToFollow") == "true"
    await _answered_in_the_log(push_site, ven, "oadrCanceledReport")
    assert (await _update(push_site, ven, request, "TELEMETRY_STATUS")).code == 200


async def test_R0_8050_cancel_piggy_backed_in_updated_report(push_site: PushSite) -> None:
    """Not pushed: told in the oadrUpdatedReport answering the VEN's next report."""
    ven = await _offering(push_site)
    rid = await _ask(push_site, ven, report_name="TELEMETRY_STATUS", r_ids=["status"],
                     granularity_seconds=60, report_back_seconds=60,
                     duration_seconds=300)  # fmt: skip
    request = await _requested(ven, rid)
    path = f"/api/vens/{ven.raw.id}/report-requests/{rid}/cancel"
    await push_site.api.post(path, {"report_to_follow": False, "piggy_back": True}, status=200)
    await asyncio.sleep(0.6)  # a sweep of the push outboxes: it is not pushed
    assert [p for p in ven.received if p.answer.message_type == "oadrCancelReport"] == []
    updated = await _update(push_site, ven, request, "TELEMETRY_STATUS")
    assert [text(c, "ei:reportRequestID") for c in
            findall(updated.message, "oadr:oadrCancelReport")] == [rid]  # fmt: skip


async def test_R0_8060_request_piggy_backed_in_registered_report(push_site: PushSite) -> None:
    """The VEN's oadrRegisterReport is its own POST: the oadrRegisteredReport answering it
    carries the one-shot request, as in pull mode."""
    ven, devices = await push_site.push_ven()
    await push_site.api.post(f"/api/vens/{ven.raw.id}/report-requests", {
        "report_name": "TELEMETRY_STATUS", "granularity_seconds": 0, "report_back_seconds": 0,
        "on_registration": True,
    }, status=201)  # fmt: skip
    registered = await ven.raw.register_reports(offered_reports(f"{devices[0]}-r", ["status"]))
    [request] = registered.report_requests
    assert (request.r_ids, request.granularity) == (["status"], timedelta())
    assert (await _update(push_site, ven, request, "TELEMETRY_STATUS")).code == 200


# --- R0: the VTN's METADATA, pushed on request ----------------------------------------------


async def _ask_metadata(ven: PushVen, report_request_id: str, **request: Any) -> list[str]:
    """The VEN's oadrCreateReport for the VTN's METADATA (its own POST); the pending IDs."""
    body = messages.create_report(
        ven.raw.request_id(), ven.raw.id, report_request_id=report_request_id, **request
    )
    answer = await exchange(ven.raw, "EiReport", body, "oadrCreatedReport")
    assert answer.code == 200, answer.description
    pending = findall(answer.message, "oadr:oadrPendingReports/ei:reportRequestID")
    return [e.text or "" for e in pending]


def _metadata_pushes(ven: PushVen, report_request_id: str) -> list[Pushed]:
    return [p for p in ven.received if p.answer.message_type == "oadrRegisterReport"
            and report_request_id in _metadata_ids(p)]  # fmt: skip


async def test_R0_8070_ven_asks_the_vtn_metadata_once(push_site: PushSite) -> None:
    ven, _ = await push_site.push_ven()
    assert await _ask_metadata(ven, "meta-1") == ["meta-1"]
    pushed = await _pushed(ven, "oadrRegisterReport", lambda p: "meta-1" in _metadata_ids(p))
    _check_metadata(pushed, "meta-1")
    await _answered_in_the_log(push_site, ven, "oadrRegisteredReport")
    await asyncio.sleep(0.6)  # a sweep: once is once
    assert len(_metadata_pushes(ven, "meta-1")) == 1
    assert ven.problems == []


async def test_R0_8080_periodic_metadata_request(push_site: PushSite) -> None:
    """Every minute for five: a push now, and one more each minute (the sweep finds it due)."""
    ven, _ = await push_site.push_ven()
    await _ask_metadata(ven, "meta-p", granularity=MINUTE, report_back=MINUTE,
                        interval=(push_site.clock.now(), 5 * MINUTE))  # fmt: skip
    for count in (1, 2):
        await _pushed(ven, "oadrRegisterReport",
                      lambda _p, n=count: len(_metadata_pushes(ven, "meta-p")) >= n)  # fmt: skip
        push_site.clock.advance(minutes=1)
    assert len(_metadata_pushes(ven, "meta-p")) == 2
    assert ven.problems == []


async def test_R0_8090_two_periodic_metadata_requests(push_site: PushSite) -> None:
    ven, _ = await push_site.push_ven()
    span = (push_site.clock.now(), 5 * MINUTE)
    assert await _ask_metadata(ven, "meta-a", granularity=MINUTE, report_back=MINUTE,
                               interval=span) == ["meta-a"]  # fmt: skip
    pending = await _ask_metadata(ven, "meta-b", granularity=MINUTE, report_back=MINUTE,
                                  interval=span)  # fmt: skip
    assert sorted(pending) == ["meta-a", "meta-b"]
    for rid in ("meta-a", "meta-b"):
        _check_metadata(await _pushed(ven, "oadrRegisterReport",
                                      lambda p, r=rid: r in _metadata_ids(p)), rid)  # fmt: skip


async def test_R0_8100_ven_cancels_its_metadata_request(push_site: PushSite) -> None:
    """Answered in the HTTP response to its oadrCancelReport; no copy is pushed after."""
    ven, _ = await push_site.push_ven()
    await _ask_metadata(ven, "meta-c", granularity=MINUTE, report_back=MINUTE,
                        interval=(push_site.clock.now(), 5 * MINUTE))  # fmt: skip
    await _pushed(ven, "oadrRegisterReport", lambda p: "meta-c" in _metadata_ids(p))
    body = messages.cancel_report(ven.raw.request_id(), ven.raw.id, ["meta-c"], False)
    answer = await exchange(ven.raw, "EiReport", body, "oadrCanceledReport")
    assert answer.code == 200
    assert findall(answer.message, "oadr:oadrPendingReports/ei:reportRequestID") == []
    push_site.clock.advance(minutes=1)
    await asyncio.sleep(0.8)  # a sweep after its next time
    assert len(_metadata_pushes(ven, "meta-c")) == 1


async def test_R0_8120_operator_republishes_metadata(push_site: PushSite) -> None:
    """The VTN pushes its METADATA again; the oadrRegisteredReport the VEN answers it with
    (in the HTTP response) asks for it, and it is pushed a second time under that request."""
    ven, _ = await push_site.push_ven()
    ven.ask_metadata_in_answer = "meta-r"
    published = await push_site.api.post("/api/vtn/metadata/publish", {}, status=200)
    assert ven.raw.id in str(published)
    _check_metadata(await _pushed(ven, "oadrRegisterReport"), "0")
    _check_metadata(await _pushed(ven, "oadrRegisterReport",
                                  lambda p: "meta-r" in _metadata_ids(p)), "meta-r")  # fmt: skip
    assert ven.problems == []


# --- R0: HISTORY_USAGE, TELEMETRY_USAGE, and a report under an unknown request --------------


async def test_R0_8130_history_usage_power_and_energy(push_site: PushSite) -> None:
    ven = await _offering(push_site, ("history",))
    rid = await _ask(push_site, ven, report_name="HISTORY_USAGE", r_ids=["hpower", "henergy"],
                     granularity_seconds=0, report_back_seconds=0,
                     duration_seconds=0)  # fmt: skip
    request = await _requested(ven, rid)
    assert sorted(request.r_ids) == ["henergy", "hpower"]
    assert request.report_interval is not None
    start, length = request.report_interval
    assert abs(start - push_site.clock.now()) <= 2 * MINUTE
    assert length == timedelta() or length >= 60 * MINUTE


async def test_R0_8140_history_usage_energy_for_the_last_half_hour(push_site: PushSite) -> None:
    ven = await _offering(push_site, ("history",))
    start = push_site.clock.now() - 30 * MINUTE
    rid = await _ask(push_site, ven, report_name="HISTORY_USAGE", r_ids=["henergy"],
                     granularity_seconds=0, report_back_seconds=0, start=start.isoformat(),
                     duration_seconds=1800)  # fmt: skip
    request = await _requested(ven, rid)
    assert request.r_ids == ["henergy"]
    assert request.report_interval is not None
    assert abs(request.report_interval[0] - start) <= 2 * MINUTE


async def test_R0_8150_one_shot_telemetry_usage(push_site: PushSite) -> None:
    ven = await _offering(push_site, ("usage",))
    rid = await _ask(push_site, ven, report_name="TELEMETRY_USAGE", r_ids=["power", "energy"],
                     granularity_seconds=0, report_back_seconds=0)  # fmt: skip
    request = await _requested(ven, rid)
    assert (sorted(request.r_ids), request.report_back_duration) == (
        ["energy", "power"], timedelta(),
    )  # fmt: skip
    assert (await _update(push_site, ven, request, "TELEMETRY_USAGE")).code == 200


async def test_R0_8160_periodic_telemetry_usage(push_site: PushSite) -> None:
    ven = await _offering(push_site, ("usage",))
    later = (push_site.clock.now() + timedelta(seconds=15)).isoformat()
    rid = await _ask(push_site, ven, report_name="TELEMETRY_USAGE", r_ids=["power"],
                     granularity_seconds=60, report_back_seconds=120, start=later,
                     duration_seconds=600)  # fmt: skip
    request = await _requested(ven, rid)
    assert (request.granularity, request.report_back_duration) == (MINUTE, 2 * MINUTE)
    for minutes in (1, 2):
        push_site.clock.advance(minutes=minutes)
        assert (await _update(push_site, ven, request, "TELEMETRY_USAGE", 1500.0)).code == 200


async def test_R0_8180_one_shot_status_and_usage(push_site: PushSite) -> None:
    ven = await _offering(push_site, ("status", "usage"))
    ids = [
        await _ask(push_site, ven, report_name=name, r_ids=r_ids, granularity_seconds=0,
                   report_back_seconds=0)
        for name, r_ids in (("TELEMETRY_STATUS", ["status"]), ("TELEMETRY_USAGE", ["power"]))
    ]  # fmt: skip
    for rid in ids:  # in one push or two
        await _requested(ven, rid)
    assert ven.problems == []


async def test_R0_8190_report_under_an_unknown_report_request_id(push_site: PushSite) -> None:
    ven = await _offering(push_site, ("usage",))
    rid = await _ask(push_site, ven, report_name="TELEMETRY_USAGE", r_ids=["power"],
                     granularity_seconds=0, report_back_seconds=0)  # fmt: skip
    request = await _requested(ven, rid)
    assert (await _update(push_site, ven, request, "TELEMETRY_USAGE", 1000.0)).code == 200
    stranger = ReportRequest("no-such-request", request.specifier_id, request.granularity,
                             request.report_back_duration, None, request.payloads)  # fmt: skip
    assert (await _update(push_site, ven, stranger, "TELEMETRY_USAGE", 2000.0)).code == 452
