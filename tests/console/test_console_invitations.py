"""An operator's day with invitations, in the browser: create one, modify it, answer for a
device (a refused answer shows why), and cancel it; every value shown as text."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.console.conftest import log_in
from tests.support import Api


async def test_create_modify_answer_and_cancel_an_invitation(page: Any, api: Api) -> None:
    await api.device("hvac-1")
    await api.device("hvac-2")
    await log_in(page, "/console#/invitations")

    new = page.locator("form[data-form=new-invitation]")
    await new.locator("input[name=event_time]").fill("2031-03-04T17:00")
    await new.locator("input[name=duration_minutes]").fill("60")
    await new.locator("input[name=load_kwh]").fill("6")
    await new.locator("input[value=hvac-1]").check()
    await new.locator("input[value=hvac-2]").check()
    await new.locator("button").click()

    await expect(page.locator("h1 .pill").first).to_have_text("pending")
    invitation_id = await page.locator("h1 .mono").text_content()
    stored = await api.get(f"/api/invitations/{invitation_id}")
    assert (stored["duration_minutes"], stored["load_kwh"], stored["devices"]) == (
        60, 6.0, ["hvac-1", "hvac-2"])  # fmt: skip
    await expect(page.locator("dd", has_text="6.00 kWh")).to_be_visible()
    await expect(page.locator("dd", has_text="6.00 kW").first).to_be_visible()

    await page.locator("details summary").click()
    modify = page.locator("form[data-form=modify-invitation]")
    await modify.locator("input[name=duration_minutes]").fill("120")
    await modify.locator("button").click()
    await expect(page.locator("dd", has_text="120 min")).to_be_visible()
    assert (await api.get(f"/api/invitations/{invitation_id}"))["duration_minutes"] == 120

    answer = page.locator("form[data-form=answer]")
    await answer.locator("select[name=device_id]").select_option("hvac-1")
    await answer.locator("select[name=answer]").select_option("YES")
    await answer.locator("button").click()  # YES without committed kW: the API refuses
    await expect(answer.locator("[data-error-for=committed_kw]")).not_to_be_empty()
    await answer.locator("input[name=committed_kw]").fill("2.5")
    await answer.locator("button").click()
    answered = page.locator("tr", has_text="hvac-1")
    await expect(answered.locator(".pill")).to_have_text("YES")
    await expect(answered).to_contain_text("2.50 kW")
    await expect(answered).to_contain_text("admin")

    cancel = page.locator("form[data-form=cancel-invitation]")
    await cancel.locator("input[name=reason]").fill("<b>grid</b> recovered")
    await cancel.locator("button").click()
    await expect(page.locator("h1 .pill").first).to_have_text("cancelled")
    stored = await api.get(f"/api/invitations/{invitation_id}")
    assert stored["status"] == "cancelled"
    await expect(page.locator("dd", has_text="<b>grid</b> recovered")).to_be_visible()
