"""Mounts the 3.x API under ``oadr3_base_path`` of the admin port (called by ``gateway.app``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.http.handlers import SERVICES
from gateway.oadr3 import token_endpoint
from gateway.oadr3.auth import AUTHORITY, CLIENTS, PRINCIPALS, Principal
from gateway.oadr3.clients import ClientStore
from gateway.oadr3.event_cache import VenEventsCache, concerns_readers, listen
from gateway.oadr3.events import EVENTS_CACHE, add_event_routes
from gateway.oadr3.notify.engine import NOTIFY
from gateway.oadr3.notify.handlers import add_routes as notify_routes
from gateway.oadr3.principal_cache import PrincipalCache
from gateway.oadr3.problems import problem_middleware
from gateway.oadr3.programs import add_program_routes
from gateway.oadr3.reports import add_report_routes
from gateway.oadr3.resources import add_resource_routes
from gateway.oadr3.tokens import TokenAuthority
from gateway.oadr3.vens import add_ven_routes
from gateway.settings import Settings
from gateway.supervisor import end_tasks


def add_auth_routes(api: web.Application) -> None:
    api.router.add_get("/auth/server", token_endpoint.auth_server)
    api.router.add_post("/auth/token", token_endpoint.auth_token)


# Each adds its routes to the 3.x sub-application, where ``problem_middleware`` answers every
# failure (a ``Problem`` from ``auth.principal_of`` too) as the spec's problem body. The
# notifications (``gateway.oadr3.notify``) add theirs here.
ROUTE_TABLES: tuple[Callable[[web.Application], None], ...] = (
    add_auth_routes,
    add_program_routes,
    add_ven_routes,
    add_resource_routes,
    add_event_routes,
    add_report_routes,
    notify_routes,
)


def build_oadr3_app(settings: Settings) -> web.Application:
    api = web.Application(client_max_size=settings.max_body_bytes, middlewares=[problem_middleware])
    for add_routes in ROUTE_TABLES:
        add_routes(api)
    return api


def setup_oadr3(app: web.Application, settings: Settings) -> None:
    """The token authority now (its key is read or made at build time, like the admin token);
    the client store once the services exist (a cleanup context after theirs). Served on the
    admin port, or with ``oadr3_port`` on its own (same host), then not on the admin port."""
    if not settings.oadr3_enabled:
        return
    authority = TokenAuthority(settings)
    app[AUTHORITY] = authority

    async def clients(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        channel = services.settings.dr_events_channel
        store = ClientStore(services.db, services.clock, channel, services.publisher)
        app[CLIENTS] = store
        cache = VenEventsCache(monotonic=services.clock.monotonic)
        principals = PrincipalCache[Principal](monotonic=services.clock.monotonic)

        def published(batch: list[tuple[str, str]]) -> None:
            if any(c == channel and concerns_readers(p) for c, p in batch):
                cache.clear()
                principals.clear()

        services.publisher.on_published.append(published)
        store.on_deleted.append(principals.clear)
        app[EVENTS_CACHE], app[PRINCIPALS] = cache, principals
        stopping = asyncio.Event()
        listening = asyncio.create_task(
            listen(cache, services.redis, channel, stopping, principals), name="oadr3-cache"
        )
        try:
            yield
        finally:
            stopping.set()
            await end_tasks({listening}, grace_seconds=2.0, cancel_seconds=1.0)

    app.cleanup_ctx.append(clients)
    if settings.oadr3_port is None:
        app.add_subapp(settings.oadr3_base_path, build_oadr3_app(settings))
        return
    own = web.Application(client_max_size=settings.max_body_bytes)
    own.add_subapp(settings.oadr3_base_path, build_oadr3_app(settings))

    async def own_port(app: web.Application) -> AsyncIterator[None]:
        own[SERVICES], own[AUTHORITY], own[CLIENTS] = app[SERVICES], authority, app[CLIENTS]
        own[EVENTS_CACHE], own[PRINCIPALS] = app[EVENTS_CACHE], app[PRINCIPALS]
        if NOTIFY in app:  # subscriptions and notifiers are served on this port too
            own[NOTIFY] = app[NOTIFY]
        runner = web.AppRunner(own, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.http_host, settings.oadr3_port).start()
            yield
        finally:
            await runner.cleanup()

    app.cleanup_ctx.append(own_port)
