"""VEN pages in the browser: provision a VEN, see it register and poll (a raw-XML VEN, not
the gateway's code), the error it sends, its devices, and enrol it in a program. What a VEN
or an operator typed is shown as text, never run as markup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from tests.console.conftest import log_in
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api

HOSTILE_NAME = "<img src=x onerror=\"document.title='owned'\">"


@pytest.fixture
async def vens(client: TestClient[Any, Any]) -> AsyncIterator[RawVens]:
    async with raw_vens(str(client.make_url("/OpenADR2/Simple/2.0b"))) as made:
        yield made


async def _until_seen(api: Api, ven_id: str) -> None:
    for _ in range(100):  # last contact is stored every few seconds
        if (await api.get(f"/api/vens/{ven_id}"))["last_seen_at"] is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{ven_id} never seen")


async def test_provision_register_and_enrol_a_ven(page: Any, api: Api, vens: RawVens) -> None:
    await api.post(
        "/api/programs",
        {"id": "peak", "name": "Peak saver", "market_context": "oadr://utility/peak"},
        status=201,
    )
    await log_in(page, "/console#/vens")
    provision = page.locator("form[data-form=provision-ven]")
    await provision.locator("input[name=name]").fill(HOSTILE_NAME)
    await provision.locator("input[name=ven_id]").fill("site-7")
    await provision.locator("button").click()
    await expect(page.locator("h1")).to_contain_text(HOSTILE_NAME)  # as text
    await expect(page.locator("h1 .pill")).to_have_text("unregistered")
    assert await page.locator("main img").count() == 0

    await api.device("hvac-7", ven_id="site-7", resource_id="meter-1")
    ven = vens(HOSTILE_NAME, ven_id="site-7")
    assert (await ven.register()).code == 200
    await ven.respond(await ven.poll(), 469, "relay <stuck>", "EiEvent")
    await _until_seen(api, "site-7")

    await page.reload()
    await expect(page.locator("h1 .pill")).to_have_text("online")
    await expect(page.locator("dd", has_text=ven.registration_id or "?")).to_be_visible()
    await expect(
        page.locator("section", has_text="Errors and refusals it sent (1)")
    ).to_contain_text("relay <stuck>")
    await expect(page.locator("tr", has_text="hvac-7")).to_contain_text("meter-1")

    enrol = page.locator("form[data-form=enrol-ven]")
    await enrol.locator("select[name=program_id]").select_option("peak")
    await enrol.locator("button").click()
    await expect(page.locator("tr", has_text="Peak saver")).to_contain_text("enrolled")
    assert (await api.get("/api/programs/peak"))["vens"] == ["site-7"]
    assert await page.title() != "owned"
