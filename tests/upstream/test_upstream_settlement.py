"""The gateway's settlement of an upstream event goes up in its final report, to the stock
openleadr utility: per 5-minute meter interval, the baseline, actual and reduction kWh. The
final report waits for the settlement, which waits for the last interval to close.

The device draws 10 kW before the event (the executor's baseline: 10 kW x 5 min = 0.8333 kWh
per interval); the meter, imported once the event has ended, reads 0.7 and 0.6 kWh."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.services.container import Services
from gateway.services.settlement_auto import SETTLE_GRACE, AutoSettlement
from gateway.settings import Settings
from gateway.upstream.reports import (
    R_ACTUAL_KWH,
    R_BASELINE_KWH,
    R_SETTLED_KWH,
    reduction_specifier,
)
from tests.support import Api, FakeClock
from tests.upstream import report_xml
from tests.upstream.conftest import Utility
from tests.upstream.test_upstream_reports import Device, _connected, _final_sent, _run_event
from tests.vtn.conftest import VenFactory

BASELINE = 10.0 * 5 / 60


async def _import_meter(api: Api, start: datetime) -> None:
    """The meter's two 5-minute intervals of the event: 0.7 and 0.6 kWh."""
    await api.post(
        "/api/meter-history",
        {"csv": f"device_id,interval_start,kwh\na1,{start.isoformat()},0.7\n"
                f"a1,{(start + timedelta(minutes=5)).isoformat()},0.6\n"},
        status=200,
    )  # fmt: skip


@pytest.fixture
def device(redis: Redis, settings: Settings) -> Device:
    return Device(redis, settings)


@pytest.fixture
def clock() -> FakeClock:
    # On the 5-minute grid, ahead of real time: the event starts 5 minutes later, on it too.
    now = datetime.now(UTC)
    return FakeClock(now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
                     + timedelta(minutes=5))  # fmt: skip


@pytest.fixture
def settings_overrides(upstream_overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        **upstream_overrides, "cadence_seconds": 5.0, "baseline_window_minutes": 5.0,
        "meter_interval_minutes": 5, "meter_sample_seconds": 0,
    }  # fmt: skip


async def test_the_settlement_goes_up_in_the_final_report_once_its_last_interval_closed(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    ven, _ = await _connected(utility, api, make_ven, client)
    await device(clock.now())
    specifier = reduction_specifier("ev-r")
    start = clock.now() + timedelta(minutes=5)

    async def meter_then_close() -> None:
        await asyncio.sleep(1.5)  # the utility polls every second: the final would be up
        assert not await _final_sent(utility, specifier), "sent before it was settled"
        await _import_meter(api, start)
        clock.advance(seconds=SETTLE_GRACE.total_seconds())

    start, _ = await _run_event(
        utility, api, ven, services, clock, device, after_end=meter_then_close
    )

    final = [r for r in report_xml.updates(utility.exchanges) if r.specifier == specifier][-1]
    assert final.report_id == f"{specifier}/final"
    five = timedelta(minutes=5)
    expected = {
        R_BASELINE_KWH: [BASELINE, BASELINE],
        R_ACTUAL_KWH: [0.7, 0.6],
        R_SETTLED_KWH: [BASELINE - 0.7, BASELINE - 0.6],
    }
    for r_id, values in expected.items():
        got = [(i.start, i.duration, i.value) for i in final.intervals if i.r_id == r_id]
        assert got == [
            (start, five, pytest.approx(values[0], abs=1e-6)),
            (start + five, five, pytest.approx(values[1], abs=1e-6)),
        ]
        # And as openleadr parsed it for the utility, under the event's report.
        assert utility.by_report[specifier][r_id] == [
            (start, pytest.approx(values[0], abs=1e-6)),
            (start + five, pytest.approx(values[1], abs=1e-6)),
        ]
    # What went up is the gateway's own settlement, version 1, made for it.
    (event,) = await services.events.find(None, 10)
    settled = await services.settlement.get(event.id)
    assert settled.version == 1
    assert settled.totals.reduction_kwh == pytest.approx(2 * BASELINE - 1.3, abs=1e-9)


async def test_a_final_report_due_before_any_meter_data_makes_no_empty_settlement(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    """Due with no meter data yet, the final report goes up without settlement values and
    leaves version 1 to the automatic settlement, which holds it back for the data: the
    report used to make an empty version 1, and the data that came later then needed the
    operator's recompute."""
    ven, _ = await _connected(utility, api, make_ven, client)
    await device(clock.now())
    specifier = reduction_specifier("ev-r")

    async def close() -> None:
        clock.advance(seconds=SETTLE_GRACE.total_seconds())

    start, _ = await _run_event(utility, api, ven, services, clock, device, after_end=close)
    final = [r for r in report_xml.updates(utility.exchanges) if r.specifier == specifier][-1]
    assert final.report_id == f"{specifier}/final"
    assert not [i for i in final.intervals if i.r_id in (R_ACTUAL_KWH, R_SETTLED_KWH)]
    (event,) = await services.events.find(None, 10)
    await api.get(f"/api/events/{event.id}/settlement", status=404)  # no empty version 1
    await _import_meter(api, start)
    auto = AutoSettlement(
        services.settlement, services.db, services.clock, services.meter_history.grid
    )
    view = await auto.when_due(event.id)  # as the automatic settlement makes it now
    assert view is not None
    assert view.version == 1
    assert view.totals is not None
    assert view.totals.actual_kwh == pytest.approx(1.3, abs=1e-9)
