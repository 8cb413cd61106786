"""The console's own routes, without a browser: the page and its files are public and hold no
data; the login check and the VENs' presence need the admin token; the package ships every
static file (package data)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.console.routes import static_dir
from tests.support import ADMIN_TOKEN, Api

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_the_page_and_its_modules_are_served_with_a_strict_policy(
    client: TestClient[Any, Any],
) -> None:
    page = await client.get("/console")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<script type="module" src="/console/static/js/app.js">' in await page.text()
    module = await client.get("/console/static/js/app.js")
    assert module.status == 200
    assert module.content_type in ("application/javascript", "text/javascript")
    assert (await client.get("/console/static/../routes.py")).status in (403, 404)


@pytest.mark.parametrize("settings_overrides", [{"auth_reads": False}, {"auth_reads": True}])
@pytest.mark.parametrize("path", ["/console/session", "/console/presence"])
async def test_its_data_routes_need_the_token_whatever_auth_reads_says(
    client: TestClient[Any, Any], path: str
) -> None:
    assert (await client.get(path)).status == 401
    wrong = await client.get(path, headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status == 401
    assert (await client.get(path, headers=BEARER)).status == 200


async def test_presence_says_who_is_online_by_the_metrics_rule(
    client: TestClient[Any, Any], api: Api
) -> None:
    await api.post("/api/vens", {"name": "quiet", "ven_id": "quiet"}, status=201)
    body = await (await client.get("/console/presence", headers=BEARER)).json()
    assert body["vens"] == {"quiet": "unregistered"}
    assert body["online_poll_periods"] == 3.0


def test_the_package_data_takes_every_static_file() -> None:
    pyproject = tomllib.loads(Path("pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["gateway"]
    root = static_dir().parents[1]  # gateway/
    shipped = [p for p in static_dir().rglob("*") if p.is_file()]
    assert shipped
    for path in shipped:
        relative = path.relative_to(root).as_posix()
        assert any(_glob_matches(relative, pattern) for pattern in patterns), relative


def _glob_matches(path: str, pattern: str) -> bool:
    """setuptools' glob: each ``*`` stays within one directory."""
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(map(fnmatch.fnmatchcase, parts, wanted))
