"""The console's routes: its page and static files (public: they hold no data), the login
check and the VENs' presence (both need the admin token, whatever ``auth_reads`` says: they
are the console's, not the API's).

Presence is computed here with the rule the metrics use (``domain.ven_presence``), so the
console and ``oadr_vens`` never disagree about who is online.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from gateway.domain.ven_presence import ONLINE_POLL_PERIODS, is_online
from gateway.http.auth import check_admin_token
from gateway.http.handlers import SERVICES

CONSOLE_PATH = "/console"
STATIC_PATH = "/console/static"
_ADMIN_TOKEN = web.AppKey("console-admin-token", bytes)


def static_dir() -> Path:
    return Path(str(resources.files("gateway.console") / "static"))


def setup_console(app: web.Application, admin_token: str) -> None:
    app[_ADMIN_TOKEN] = admin_token.encode()
    app.router.add_get(CONSOLE_PATH, index)
    app.router.add_get(CONSOLE_PATH + "/", index)
    app.router.add_static(STATIC_PATH, static_dir(), append_version=False)
    app.router.add_get(CONSOLE_PATH + "/session", session)
    app.router.add_get(CONSOLE_PATH + "/presence", presence)


async def index(request: web.Request) -> web.FileResponse:
    # The page's scripts are modules: a strict policy keeps any injected markup inert.
    return web.FileResponse(
        static_dir() / "index.html",
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'",
            "Cache-Control": "no-cache",
        },
    )


async def session(request: web.Request) -> web.Response:
    """200 when the request carries the admin token (the login page's check), else 401."""
    check_admin_token(request, request.app[_ADMIN_TOKEN])
    settings = request.app[SERVICES].settings
    return web.json_response(
        {"auth_reads": settings.auth_reads, "vtn_enabled": settings.vtn_enabled}
    )


async def presence(request: web.Request) -> web.Response:
    """Each VEN online, offline or unregistered, now (the metrics' rule)."""
    check_admin_token(request, request.app[_ADMIN_TOKEN])
    services = request.app[SERVICES]
    now = services.clock.now()
    default_poll = services.settings.vtn_poll_interval_seconds
    states: dict[str, str] = {}
    for ven in await services.vens.all():
        if not ven.registered:
            states[ven.ven_id] = "unregistered"
        elif is_online(ven.last_seen_at, ven.poll_frequency_seconds, default_poll, now):
            states[ven.ven_id] = "online"
        else:
            states[ven.ven_id] = "offline"
    return web.json_response(
        {
            "now": now.isoformat(),
            "online_poll_periods": ONLINE_POLL_PERIODS,
            "default_poll_seconds": default_poll,
            "vens": states,
        }
    )
