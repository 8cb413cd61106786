"""The console in a real browser: Playwright for Python driving Debian's Chromium, against the
gateway of the ``client`` fixture (its own port, database and Redis prefix).

Playwright's own browser download does not work here, so the tests launch
``/usr/bin/chromium`` (or ``GATEWAY_TEST_CHROMIUM``). Without it they skip, saying so, except
under CI (``CI=true``), where a missing browser is a failure: CI installs it (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support import ADMIN_TOKEN

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str | None:
    configured = os.environ.get("GATEWAY_TEST_CHROMIUM")
    for candidate in (configured, "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the console tests (.ci/run installs it)")
    pytest.skip(f"{reason}: the console's browser tests need it")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    executable = chromium_path()
    if executable is None:
        _missing("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Any, client: TestClient[Any, Any]) -> AsyncIterator[Any]:
    """A tab on the gateway; the test fails on any script error the page raises."""
    context = await browser.new_context(
        base_url=str(client.make_url("")).rstrip("/"), viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    # Refused requests (a wrong token's 401, a 422) are the page's to show, not script errors.
    tab.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield tab
    await context.close()
    assert not errors, f"the console raised script errors: {errors}"


async def log_in(page: Any, path: str = "/console") -> None:
    await page.goto(path)
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("form[data-form=login] button")
    await page.wait_for_selector("#nav:not([hidden])")
