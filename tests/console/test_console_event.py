"""The event page while its event runs: power drawn from the stored samples, updating live,
then cancelled from the page with its results. A device that never reads stays missing."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect
from redis.asyncio import Redis

from gateway.app import build_executor
from gateway.services.container import Services
from gateway.settings import Settings
from tests.console.conftest import log_in
from tests.realtime_events import play_drop
from tests.support import Api


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cadence_seconds": 0.25, "baseline_window_minutes": 0.02, "progress_every_samples": 1}


async def _samples_shown(page: Any) -> int:
    return int(await page.locator("[data-samples]").get_attribute("data-samples"))


async def test_the_event_page_follows_a_running_event_and_cancels_it(
    page: Any, api: Api, services: Services, redis: Redis, settings: Settings
) -> None:
    await api.device("shed-1")
    await api.device("silent-1")  # never reads: no baseline, no reduction, never 0
    start = datetime.now(UTC) + timedelta(seconds=3)
    executor = build_executor(services)
    running = asyncio.create_task(executor.run())
    meter = asyncio.create_task(play_drop(redis, f"{settings.redis_prefix}power:shed-1", start))
    try:
        event = await api.post(
            "/api/events",
            {"start_time": start.isoformat(), "duration_minutes": 10,
             "devices": ["shed-1", "silent-1"], "target_kw": 4},
            status=201,
        )  # fmt: skip
        await log_in(page, f"/console#/events/{event['id']}")
        await expect(page.locator("h1 .pill")).to_have_text("scheduled")

        await expect(page.locator("h1 .pill")).to_have_text("active", timeout=10_000)
        await expect(page.locator("[data-live=on]")).to_be_visible()
        first = await _samples_shown(page)
        await expect(page.locator("[data-samples]")).not_to_have_attribute(
            "data-samples", str(first), timeout=8_000
        )  # a later poll brought newer samples
        assert await _samples_shown(page) > first
        actual = await page.locator("path[data-series=Actual]").get_attribute("d")
        assert actual is not None
        assert "L" in actual  # a line through the samples, not a single point
        shed = page.locator("tr", has_text="shed-1")
        await expect(shed).to_contain_text("10.00 kW")  # its baseline
        await expect(shed).to_contain_text("6.00 kW")  # its last reading
        silent = page.locator("tr", has_text="silent-1")
        await expect(silent).to_contain_text("no baseline reading")
        await expect(silent.locator("td").nth(3)).to_have_text("—")  # missing, not 0 kW

        cancel = page.locator("form[data-form=cancel-event]")
        await cancel.locator("input[name=reason]").fill("operator test")
        await cancel.locator("button").click()
        await expect(page.locator("h1 .pill")).to_have_text("cancelled")
    finally:
        meter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await meter
        # stop, not cancel: a run cancelled inside a database call can be left hanging.
        await executor.stop(running)
    stored = await api.get(f"/api/events/{event['id']}")
    assert stored["status"] == "cancelled"
    await page.reload()
    await expect(page.locator("[data-result=average_reduction_kw]")).to_have_text(
        f"{stored['results']['average_reduction_kw']:.2f} kW"
    )
    assert stored["results"]["average_reduction_kw"] == pytest.approx(4.0, abs=0.01)
    coverage = f"{stored['results']['coverage'] * 100:.1f} %"
    await expect(page.locator("[data-result=coverage]")).to_contain_text(coverage)
    await expect(page.locator("dd", has_text="operator test")).to_be_visible()
