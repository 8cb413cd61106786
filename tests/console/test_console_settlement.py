"""The event page follows an event to its end, then shows its settlement once the gateway has
settled it (no operator call), with the CSV; an operator's recompute after late meter data
shows version 2.

The gateway runs on a clock that moves only when its executor sleeps (the event runs in
moments); the numbers are those of ``tests.settlement.test_settlement_api``: 2.5 kWh of
baseline per 15-minute interval, 1.0 and 1.2 kWh metered."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import expect
from redis.asyncio import Redis

from gateway.app import build_executor
from gateway.services.container import Services
from gateway.services.settlement_auto import SETTLE_GRACE
from gateway.settings import Settings
from gateway.workers import BackgroundWorker
from tests.console.conftest import log_in
from tests.settlement.test_settlement_api import START, _csv, _device
from tests.support import Api, FakeClock


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cadence_seconds": 30.0, "meter_sample_seconds": 0}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START - timedelta(minutes=16))


async def test_the_event_page_shows_the_settlement_once_settled_and_recomputes_it(
    page: Any, api: Api, services: Services, redis: Redis, settings: Settings, clock: FakeClock
) -> None:
    await _device(api, redis, settings, clock, "s1")
    event = await api.post(
        "/api/events",
        {"start_time": START.isoformat(), "duration_minutes": 30, "target_kw": 8.0,
         "devices": ["s1"]},
        status=201,
    )  # fmt: skip
    await log_in(page, f"/console#/events/{event['id']}")
    await expect(page.locator("h1 .pill")).to_have_text("scheduled")
    await expect(page.locator("[data-settlement]")).to_have_count(0)  # not ended: no panel

    executor = build_executor(services)
    clock.advance(minutes=1)
    await executor.tick()
    await asyncio.gather(*executor.runs.values())
    await expect(page.locator("h1 .pill")).to_have_text("completed", timeout=10_000)
    pending = page.locator("[data-settlement=pending]")
    await expect(pending).to_contain_text("Not settled yet")

    # The meter's data arrives; the last interval closes; the worker settles it.
    await api.post("/api/meter-history", {"csv": _csv("s1")}, status=200)
    clock.advance(seconds=SETTLE_GRACE.total_seconds())
    await BackgroundWorker(services).run_once()
    settled = page.locator("[data-settlement='1']")
    await expect(settled).to_be_visible(timeout=10_000)  # the page looked again by itself
    await expect(settled.locator("h2")).to_have_text("Settlement · version 1")
    await expect(settled.locator("[data-settlement-method]")).to_have_text("mean_before_event")
    await expect(settled.locator("[data-settlement-total=reduction_kwh]")).to_have_text("2.80 kWh")
    await expect(settled.locator("[data-settlement-total=measured_share]")).to_have_text("100.0 %")
    # The direct event's 8 kW target is its one device's commitment; 2.8 kWh over 0.5 h.
    await expect(settled.locator("[data-settlement-total=delivered_kw]")).to_have_text(
        "8.00 kW · 5.60 kW"
    )
    row = settled.locator("tr", has_text="s1")
    for text in ("5.00 kWh", "2.20 kWh", "2.80 kWh", "100.0 %", "5.60 kW"):
        await expect(row).to_contain_text(text)

    async with page.expect_download() as downloading:
        await settled.locator("button[data-download=settlement]").click()
    download = await downloading.value
    assert download.suggested_filename == f"event-{event['id']}-settlement-v1.csv"
    text = (await download.path()).read_text()
    assert text.splitlines()[-1].startswith(f"{event['id']},1,,event_total,")

    # Late meter data: the operator's recompute stores version 2 and the page shows it.
    late = _csv("s1").replace(f"{(START + timedelta(minutes=15)).isoformat()},1.2",
                              f"{(START + timedelta(minutes=15)).isoformat()},0.7")  # fmt: skip
    await api.post("/api/meter-history", {"csv": late}, status=200)
    await settled.locator("form[data-form=recompute-settlement] button").click()
    again = page.locator("[data-settlement='2']")
    await expect(again.locator("h2")).to_have_text("Settlement · version 2")
    await expect(again.locator("[data-settlement-total=reduction_kwh]")).to_have_text("3.30 kWh")
    assert await services.settlement.versions(event["id"]) == 2
