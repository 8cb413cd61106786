"""Logging in, and the overview: what the operator sees first."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.console.conftest import log_in
from tests.support import Api, in_minutes


# With auth_reads on, every read needs the token too: the console sends it with each call.
@pytest.mark.parametrize("settings_overrides", [{}, {"auth_reads": True}])
async def test_a_wrong_token_is_refused_and_the_right_one_opens_the_overview(
    page: Any, api: Api
) -> None:
    await api.device("hvac-1")
    await api.device("hvac-2")
    await api.post("/api/vens", {"name": "site-7", "ven_id": "site-7"}, status=201)
    await api.invite(["hvac-1", "hvac-2"])
    await api.post(
        "/api/events",
        {"start_time": in_minutes(90), "duration_minutes": 30, "devices": ["hvac-1"],
         "target_kw": 2},
        status=201,
    )  # fmt: skip

    await page.goto("/console")
    await page.fill("#token", "not-the-admin-token")
    await page.click("form[data-form=login] button")
    await expect(page.locator("form[data-form=login] .form-error")).to_have_text(
        "That is not the admin token."
    )
    await log_in(page)

    await expect(page.locator("h1")).to_contain_text("Overview")
    await expect(page.locator("[data-card=invitations-waiting] .value")).to_have_text("1")
    await expect(page.locator("[data-card=events] .value")).to_have_text("0 active")
    await expect(page.locator("[data-card=events] .sub")).to_have_text("1 scheduled")
    await expect(page.locator("[data-card=vens-online] .value")).to_have_text("0 / 1")
    await expect(page.locator("[data-card=reduction-today] .value")).to_have_text("0.00 kWh")
    ven_row = page.locator("tr", has_text="site-7")
    await expect(ven_row.locator(".pill")).to_have_text("unregistered")
    # The token stays for the tab: a reload shows the overview again, not the login.
    await page.reload()
    await expect(page.locator("h1")).to_contain_text("Overview")
