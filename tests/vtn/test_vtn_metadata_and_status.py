"""The VTN's own METADATA report (after registration, on a VEN's request, republished by the
operator) never holds up a VEN's events; and the TELEMETRY_STATUS a VEN sends is kept per rID
and shown at ``GET /api/vens/{id}/status``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gateway.oadr20b.vtn_metadata import MAX_LIVE_REQUESTS
from tests.oadr20b import messages
from tests.oadr20b.answers import ReportRequest
from tests.oadr20b.messages import OfferedPoint, OfferedReport, Status
from tests.oadr20b.namespaces import findall, text
from tests.oadr20b.ven import RawVen, RawVens, raw_vens
from tests.support import Api
from tests.vtn.raw_ven import registered
from tests.vtn.test_ven_flow import provision

MINUTE = timedelta(minutes=1)


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """Each test on SQLite and on PostgreSQL."""
    return any_database_url


@pytest.fixture
async def vens(vtn_url: str) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url) as made:
        yield made


def _status_point(r_id: str, resource: str) -> OfferedPoint:
    return OfferedPoint(r_id, resource, MINUTE, MINUTE, measurement=None,
                        report_type="x-resourceStatus", reading_type="x-notApplicable")  # fmt: skip


async def _status_request(ven: RawVen, resource: str) -> ReportRequest:
    offered = OfferedReport("status", [_status_point("st", resource)],
                            name="METADATA_TELEMETRY_STATUS")  # fmt: skip
    assert (await ven.register_reports([offered])).code == 200
    create = await ven.poll()
    assert create.message_type == "oadrCreateReport", create.body[:300]
    assert (await ven.created_report(create)).code == 200
    [request] = create.report_requests
    return request


async def _send(ven: RawVen, request: ReportRequest, *statuses: Status) -> int | None:
    body = messages.status_report(
        ven.request_id(), ven.id, report_request_id=request.report_request_id,
        specifier_id=request.specifier_id, statuses=statuses, created=datetime.now(UTC),
    )  # fmt: skip
    return (await ven.send(body)).code


async def test_telemetry_status_is_kept_per_rid_and_shown(api: Api, vens: RawVens) -> None:
    ven = await registered(api, vens, "ven-s", {"s1": "rs1"})
    assert await api.get("/api/vens/ven-s/status") == {"count": 0, "items": []}
    request = await _status_request(ven, "rs1")
    now = datetime.now(UTC).replace(microsecond=0)

    assert await _send(ven, request, Status("st", True, False, now, level_offset=1.5)) == 200
    [shown] = (await api.get("/api/vens/ven-s/status"))["items"]
    assert {k: v for k, v in shown.items() if k != "received_at"} == {
        "r_id": "st", "resource_id": "rs1", "online": True, "manual_override": False,
        "load_control": {"level_offset": {"current": 1.5}},
        "report_request_id": request.report_request_id,
        "measured_at": now.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip

    # An older value does not replace a newer one; a newer one does.
    assert await _send(ven, request, Status("st", False, True, now - MINUTE)) == 200
    assert (await api.get("/api/vens/ven-s/status"))["items"][0]["online"] is True
    assert await _send(ven, request, Status("st", False, True, now + MINUTE)) == 200
    [later] = (await api.get("/api/vens/ven-s/status"))["items"]
    assert (later["online"], later["manual_override"], later["load_control"]) == (
        False, True, None,
    )  # fmt: skip


async def test_a_refused_status_report_changes_nothing(api: Api, vens: RawVens) -> None:
    ven = await registered(api, vens, "ven-r", {"r1": "rr1"})
    request = await _status_request(ven, "rr1")
    now = datetime.now(UTC)
    code = await _send(
        ven, request, Status("st", True, False, now), Status("nope", True, False, now)
    )
    assert code == 452  # an rID it never offered: none of the message is taken
    assert (await api.get("/api/vens/ven-r/status"))["count"] == 0


async def test_status_of_an_unknown_ven_is_404(api: Api) -> None:
    await api.get("/api/vens/nobody/status", status=404)


async def test_a_ven_that_never_answers_the_metadata_still_gets_its_events(
    api: Api, vens: RawVens
) -> None:
    await provision(api, "ven-q", {"q1": "rq1"})
    ven = vens("ven-q", ven_id="ven-q")
    assert (await ven.register()).code == 200
    invitation = await api.invite(["q1"])
    first = await ven.poll()  # the event first: the METADATA waits for an idle poll
    assert first.message_type == "oadrDistributeEvent"
    assert [e.event_id for e in first.events] == [invitation["id"]]
    assert (await ven.poll()).message_type == "oadrRegisterReport"  # left unanswered
    assert (await ven.poll()).message_type == "oadrResponse"  # owed once, not re-sent
    await api.post(f"/api/invitations/{invitation['id']}/cancel", {}, status=200)
    cancelled = await ven.poll()
    assert cancelled.message_type == "oadrDistributeEvent"
    assert [e.status for e in cancelled.events] == ["cancelled"]


async def test_the_metadata_report_is_the_empty_one_the_profile_asks(
    api: Api, vens: RawVens
) -> None:
    await provision(api, "ven-m", {})
    ven = vens("ven-m", ven_id="ven-m")
    assert (await ven.register()).code == 200
    register = await ven.take_vtn_metadata()
    [report] = findall(register.message, "oadr:oadrReport")
    assert (text(report, "ei:reportSpecifierID"), text(report, "ei:reportRequestID")) == (
        "METADATA", "0",
    )  # fmt: skip
    assert text(report, "ei:eiReportID") is None
    assert findall(report, "oadr:oadrReportDescription") == []
    assert text(report, "ei:createdDateTime")


async def test_only_the_metadata_report_is_served_and_unknown_cancels_are_refused(
    api: Api, vens: RawVens
) -> None:
    ven = await registered(api, vens, "ven-v", {})
    other = messages.create_report(
        ven.request_id(), ven.id, report_request_id="h1", specifier_id="HISTORY"
    )
    refused = await ven.send(other, answers="oadrCreatedReport")
    assert refused.code == 461
    assert (await ven.poll()).message_type == "oadrResponse"  # nothing was taken
    cancel = messages.cancel_report(ven.request_id(), ven.id, ["never"], False)
    assert (await ven.send(cancel, answers="oadrCanceledReport")).code == 452


async def test_the_operator_republishes_the_metadata_to_polling_vens(
    api: Api, vens: RawVens
) -> None:
    ven = await registered(api, vens, "ven-p", {})
    await provision(api, "ven-u", {})  # provisioned, never registered: not sent it
    published = await api.post("/api/vtn/metadata/publish", None, status=200)
    assert published == {"ven_ids": ["ven-p"]}
    assert (await ven.take_vtn_metadata()).message_type == "oadrRegisterReport"
    assert (await ven.poll()).message_type == "oadrResponse"


async def test_a_ven_may_keep_only_so_many_metadata_requests(api: Api, vens: RawVens) -> None:
    ven = await registered(api, vens, "ven-n", {})

    async def ask(report_request_id: str) -> tuple[int | None, int]:
        body = messages.create_report(
            ven.request_id(), ven.id, report_request_id=report_request_id,
            granularity=MINUTE, report_back=MINUTE,
        )  # fmt: skip
        answer = await ven.send(body, answers="oadrCreatedReport")
        pending = findall(answer.message, "oadr:oadrPendingReports/ei:reportRequestID")
        return answer.code, len(pending)

    for n in range(1, MAX_LIVE_REQUESTS + 1):
        assert await ask(f"m{n}") == (200, n)
    assert (await ask("one-too-many"))[0] == 451
    cancel = messages.cancel_report(ven.request_id(), ven.id, ["m1"], False)
    assert (await ven.send(cancel, answers="oadrCanceledReport")).code == 200
    assert await ask("one-too-many") == (200, MAX_LIVE_REQUESTS)  # the refused one left none
