"""A VEN's page shows its resources' TELEMETRY_STATUS, its opt schedules and its last 2.0b
messages (a raw-XML VEN's, flushed as the VTN flushes them), and says so when there is none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from gateway.app import VTN
from tests.console.conftest import log_in
from tests.oadr20b import messages
from tests.oadr20b.messages import Status
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api
from tests.vtn.conftest import VTN_PATH
from tests.vtn.raw_ven import registered
from tests.vtn.test_vtn_metadata_and_status import _send, _status_request


@pytest.fixture
async def vens(client: TestClient[Any, Any]) -> AsyncIterator[RawVens]:
    async with raw_vens(str(client.make_url(VTN_PATH))) as made:
        yield made


def _panel(page: Any, title: str) -> Any:
    return page.locator("section.panel", has=page.locator("h2", has_text=title))


async def test_the_ven_page_shows_status_opts_and_last_messages(
    page: Any, api: Api, vens: RawVens, client: TestClient[Any, Any]
) -> None:
    await api.post("/api/vens", {"name": "quiet", "ven_id": "ven-quiet"}, status=201)
    await log_in(page, "/console#/vens/ven-quiet")
    empty = _panel(page, "Resource status")
    await expect(empty).to_contain_text("No TELEMETRY_STATUS reported yet.")
    await expect(_panel(page, "Opt schedules (0)")).to_contain_text("No opt sent yet.")
    await expect(_panel(page, "Last messages (0)")).to_contain_text("No message yet.")

    ven = await registered(api, vens, "ven-act", {"d1": "rs1"})
    request = await _status_request(ven, "rs1")
    now = datetime.now(UTC).replace(microsecond=0)
    assert await _send(ven, request, Status("st", True, True, now, level_offset=1.5)) == 200
    start = datetime(2030, 5, 2, 14, 0, tzinfo=UTC)
    opt = messages.create_opt(
        "opt-req-1", ven.id, opt_id="opt-<1>", opt_type="optOut", created=datetime.now(UTC),
        opt_reason="notParticipating", availability=[(start, timedelta(hours=2))],
        resource_ids=["rs1"],
    )  # fmt: skip
    assert (await ven.send(opt)).code == 200
    refused = await ven.post("OadrPoll", ven.serialize(messages.request_event("wrong-1", ven.id)))
    assert refused.code == 459
    await client.server.app[VTN].state.flush_seen()

    await page.goto("/console#/vens/ven-act")
    status = _panel(page, "Resource status").locator("tbody tr")
    await expect(status).to_have_count(1)
    await expect(status).to_contain_text("rs1")
    await expect(status.locator(".pill")).to_have_text("online")
    await expect(status).to_contain_text("level_offset: current 1.50")
    [stored] = (await api.get("/api/vens/ven-act/status"))["items"]
    measured = datetime.fromisoformat(stored["measured_at"])
    await expect(status).to_contain_text(f"{measured:%Y-%m-%d %H:%M:%S} UTC")

    opts = _panel(page, "Opt schedules (1)").locator("tbody tr")
    await expect(opts).to_contain_text("opt-<1>")  # as text
    await expect(opts.locator(".pill")).to_have_text("optOut")
    await expect(opts).to_contain_text("notParticipating")
    await expect(opts).to_contain_text("2030-05-02 14:00:00 UTC, 120 min")

    shown = (await api.get("/api/vens/ven-act/messages"))["count"]
    last = _panel(page, f"Last messages ({shown})").locator("tbody tr")
    await expect(last).to_have_count(shown)
    await expect(last.nth(0)).to_contain_text("to VEN")
    await expect(last.nth(0)).to_contain_text("oadrDistributeEvent")
    await expect(last.nth(0).locator(".pill")).to_have_text("459")
    await expect(last.nth(1)).to_contain_text("from VEN")
    await expect(last.nth(1)).to_contain_text("wrong-1")
    await expect(last.nth(1)).to_contain_text("not taken at OadrPoll")
    await expect(page.locator("tr", has_text="oadrCreateOpt")).to_contain_text("opt-req-1")
