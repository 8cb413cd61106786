"""Screenshots of the console's main pages, for the README (``docs/console/*.png``).

Usage (from the repository root, in the project's venv; needs Redis at 127.0.0.1:6379 and
Debian's Chromium at /usr/bin/chromium)::

    python scripts/console_screenshots.py [--out docs/console]

It starts a gateway on a free port (a fresh SQLite database in a temporary directory, the
executor at a 1 s cadence), makes its data through the admin API and the OpenADR VTN (the raw
test VEN registers, polls and reports an error), lets an event run for real on synthetic
meters, and photographs the pages with Chromium at 1280 px wide (the overview at 390 px too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import async_playwright
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.app import build_app
from gateway.settings import Settings
from tests.console.conftest import CHROMIUM_ARGS, chromium_path
from tests.oadr20b.ven import RawVen, RawVens, raw_vens

TOKEN = "console-screenshots-" + uuid.uuid4().hex[:8]
REDIS_URL = "redis://127.0.0.1:6379/15"
DEVICES = {"hvac-north": 7.5, "hvac-south": 6.0, "chiller-1": 11.0, "pump-2": 3.2}


class Admin:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            data = await response.json()
            assert response.status < 300, (path, response.status, data)
            return data


async def meters(redis: Redis, prefix: str, shed_from: datetime) -> None:
    """Each device near its nominal kW with a little wobble, shedding 40 % from the start;
    pump-2 goes silent for a while (a gap, shown as such)."""
    tick = 0
    while True:
        now = datetime.now(UTC)
        for i, (device, kw) in enumerate(DEVICES.items()):
            if device == "pump-2" and 20 <= tick % 60 < 32:
                await redis.delete(f"{prefix}power:{device}")
                continue
            level = kw * (0.6 if now >= shed_from else 1.0)
            level *= 1 + 0.04 * math.sin(tick / 3 + i)
            reading = {"kw": round(level, 3), "ts": now.isoformat(), "source": "demo"}
            await redis.set(f"{prefix}power:{device}", json.dumps(reading))
        tick += 1
        await asyncio.sleep(0.5)


async def keep_polling(ven: RawVen) -> None:
    """The VEN polls every few seconds, as a live one does (it shows online)."""
    while True:
        await asyncio.sleep(4)
        await ven.poll()


async def make_data(admin: Admin, vens: RawVens) -> tuple[dict[str, str], RawVen]:
    await admin.call(
        "POST", "/api/programs",
        {"id": "peak", "name": "Peak saver", "market_context": "oadr://utility/peak",
         "description": "Weekday evening peaks"},
    )  # fmt: skip
    for name, ven_id in (("Site 7 — warehouse", "site-7"), ("Site 9 — offices", "site-9")):
        await admin.call("POST", "/api/vens", {"name": name, "ven_id": ven_id})
    for i, device in enumerate(DEVICES):
        ven_id = "site-7" if i < 2 else "site-9"
        await admin.call(
            "POST", "/api/devices",
            {"id": device, "timezone": "Europe/Paris", "ven_id": ven_id,
             "resource_id": f"meter-{i + 1}"},
        )  # fmt: skip
    await admin.call("PUT", "/api/programs/peak/vens/site-7")
    ven = vens("site-7", ven_id="site-7")
    await ven.register()
    await ven.respond(await ven.poll(), 469, "relay 2 did not switch", "EiEvent")
    soon = datetime.now(UTC).replace(microsecond=0)
    invitation = await admin.call(
        "POST", "/api/invitations",
        {"event_time": (soon + timedelta(hours=3)).isoformat(), "duration_minutes": 90,
         "load_kwh": 12, "devices": list(DEVICES)},
    )  # fmt: skip
    await admin.call(
        "POST", f"/api/invitations/{invitation['id']}/answers",
        {"device_id": "hvac-north", "answer": "YES", "committed_kw": 3},
    )  # fmt: skip
    await admin.call(
        "POST", f"/api/invitations/{invitation['id']}/answers",
        {"device_id": "pump-2", "answer": "NO"},
    )  # fmt: skip
    await admin.call(
        "POST", "/api/events",
        {"start_time": (soon + timedelta(hours=26)).isoformat(), "duration_minutes": 60,
         "devices": ["chiller-1"], "target_kw": 4},
    )  # fmt: skip
    event = await admin.call(
        "POST", "/api/events",
        {"start_time": (soon + timedelta(seconds=25)).isoformat(), "duration_minutes": 5,
         "devices": list(DEVICES), "target_kw": 10},
    )  # fmt: skip
    return {"invitation": invitation["id"], "event": event["id"], "ven": "site-7"}, ven


async def shoot(base: str, ids: dict[str, str], out: Path) -> None:
    executable = chromium_path()
    assert executable, "no Chromium at /usr/bin/chromium"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, device_scale_factor=1
        )
        page = await context.new_page()
        await page.goto(f"{base}/console")
        await page.screenshot(path=out / "login.png")
        await page.fill("#token", TOKEN)
        await page.click("form[data-form=login] button")
        await page.wait_for_selector("[data-card=programs]")
        await page.screenshot(path=out / "overview.png", full_page=True)
        for name, hash_ in (
            ("event", f"#/events/{ids['event']}"),
            ("invitation", f"#/invitations/{ids['invitation']}"),
            ("ven", f"#/vens/{ids['ven']}"),
        ):
            await page.goto(f"{base}/console{hash_}")
            await page.wait_for_selector("h1 .pill")
            await page.wait_for_timeout(500)
            await page.screenshot(path=out / f"{name}.png", full_page=True)
        phone = await browser.new_context(viewport={"width": 390, "height": 844})
        small = await phone.new_page()
        await small.goto(f"{base}/console")
        await small.evaluate(f"sessionStorage.setItem('oadr-gateway-console-token', '{TOKEN}')")
        await small.goto(f"{base}/console#/")
        await small.reload()
        await small.wait_for_selector("[data-card=programs]")
        await small.screenshot(path=out / "overview-phone.png", full_page=True)
        await browser.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = f"screens:{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="console-shots-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data", database_url=f"sqlite+aiosqlite:///{tmp}/gateway.db",
            redis_url=REDIS_URL, redis_prefix=prefix, admin_token=TOKEN, cadence_seconds=1.0,
            baseline_window_minutes=0.3, flexibility_snapshot_interval_seconds=0,
        )  # fmt: skip
        runner = web.AppRunner(build_app(settings, admin_token=TOKEN))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        redis = Redis.from_url(REDIS_URL)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=25)
        tasks = [asyncio.create_task(meters(redis, prefix, start))]
        try:
            async with (
                aiohttp.ClientSession() as http,
                raw_vens(f"{base}/OpenADR2/Simple/2.0b") as vens,
            ):
                ids, ven = await make_data(Admin(http, base), vens)
                tasks.append(asyncio.create_task(keep_polling(ven)))
                print("  letting the event run for 70 s", file=sys.stderr)
                await asyncio.sleep(70)
                await shoot(base, ids, args.out)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
            await runner.cleanup()
    print(
        f"screenshots in {args.out}: " + ", ".join(sorted(p.name for p in args.out.glob("*.png")))
    )


if __name__ == "__main__":
    asyncio.run(main())
