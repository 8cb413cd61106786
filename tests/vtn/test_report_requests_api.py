"""The operator's report requests of a VEN are refused, naming why, unless the VEN is
registered and offered the points asked for; a request reaches the VEN as an oadrCreateReport
of exactly those points (the raw-XML VEN checks it against the XSD and the profile)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.oadr20b.messages import OfferedPoint, OfferedReport
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api, MutableClock
from tests.vtn.raw_ven import registered

MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def vens(vtn_url: str, clock: MutableClock) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url, clock.now) as made:
        yield made


async def test_a_report_request_is_refused_unless_the_ven_offered_it(
    api: Api, vens: RawVens
) -> None:
    ask = {"report_name": "TELEMETRY_STATUS"}
    await api.post("/api/vens/nobody/report-requests", ask, status=404)
    await api.post("/api/vens", {"name": "ven-idle", "ven_id": "ven-idle"}, status=201)
    await api.post("/api/vens/ven-idle/report-requests", ask, status=409)  # not registered
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    refused = await api.post("/api/vens/ven-a/report-requests", ask, status=422)
    assert [f["field"] for f in refused["fields"]] == ["r_ids"]
    point = OfferedPoint(
        "st", "ra1", MINUTE, MINUTE, measurement=None,
        report_type="x-resourceStatus", reading_type="x-notApplicable",
    )  # fmt: skip
    offered = OfferedReport("status", [point], name="METADATA_TELEMETRY_STATUS")
    assert (await ven.register_reports([offered])).code == 200
    first = await ven.poll()  # the VTN's own request of the points offered
    if first.message_type == "oadrCreateReport":
        assert (await ven.created_report(first)).code == 200
    wrong = await api.post(
        "/api/vens/ven-a/report-requests", {**ask, "r_ids": ["nope"]}, status=422
    )
    assert "nope" in wrong["fields"][0]["message"]
    made = await api.post("/api/vens/ven-a/report-requests", ask, status=201)
    create = await ven.poll()
    assert create.message_type == "oadrCreateReport"
    [request] = create.report_requests
    assert (request.report_request_id, request.r_ids) == (made["report_request_id"], ["st"])
    cancel = f"/api/vens/ven-a/report-requests/{made['report_request_id']}/cancel"
    await api.post(cancel, {}, status=200)
    await api.post(cancel, {}, status=409)  # cancelled already
    await api.post("/api/vens/ven-a/report-requests/no-such/cancel", {}, status=404)
    assert (await ven.poll()).message_type == "oadrCancelReport"
