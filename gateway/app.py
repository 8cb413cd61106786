"""The composition root: ``build_app(settings)`` wires database, Redis, services, workers, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis

from gateway.bus.cache import ViewCache
from gateway.bus.connection import open_redis
from gateway.bus.outbox import OutboxPublisher
from gateway.bus.power import RedisPowerReader
from gateway.bus.power_bridge import PowerChannelBridge
from gateway.clock import Clock, SystemClock
from gateway.db import migrate
from gateway.db.engine import Database
from gateway.domain.invitations import AnswerPolicy
from gateway.executor.run import ExecutorConfig
from gateway.executor.scheduler import Executor
from gateway.http.auth import auth_middleware
from gateway.http.errors import error_middleware
from gateway.http.handlers import SERVICES
from gateway.http.routes import setup_routes
from gateway.services.analytics import AnalyticsService
from gateway.services.auto_response import AutoResponseService
from gateway.services.container import Services
from gateway.services.context import ServiceContext
from gateway.services.devices import DeviceService
from gateway.services.events import EventService
from gateway.services.flexibility import FlexibilityService
from gateway.services.invitations import InvitationService
from gateway.services.vens import VenService
from gateway.settings import Settings
from gateway.upstream.runner import UpstreamRunner
from gateway.vtn.wiring import Vtn, vtn_lifecycle
from gateway.workers import BackgroundWorker

logger = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin_token"
EXECUTOR = web.AppKey("executor", Executor)


def resolve_admin_token(settings: Settings) -> str:
    """The configured token, else the one in ``{data_dir}/admin_token``, made on first start."""
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    path = settings.data_dir / ADMIN_TOKEN_FILE
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    logger.warning("no admin_token configured: generated one in %s", path)
    return token


def wire_services(settings: Settings, db: Database, redis: Redis, clock: Clock) -> Services:
    publisher = OutboxPublisher(db, redis)
    ctx = ServiceContext(db, clock, settings.dr_events_channel, publisher)
    power = RedisPowerReader(
        redis, settings.redis_prefix, timedelta(seconds=settings.power_max_age_seconds)
    )
    events = EventService(ctx, redis, settings.redis_prefix, settings.cadence_seconds)
    invitations = InvitationService(
        ctx,
        AnswerPolicy(settings.answer_policy, settings.partial_min_share),
        ViewCache(redis, settings.redis_prefix, settings.invitation_cache_ttl_seconds),
        events,
    )
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        redis=redis,
        publisher=publisher,
        devices=DeviceService(ctx),
        invitations=invitations,
        events=events,
        auto_response=AutoResponseService(ctx, invitations, power),
        flexibility=FlexibilityService(ctx, power),
        analytics=AnalyticsService(ctx),
        vens=VenService(ctx),
    )


def build_executor(services: Services, owner: str | None = None) -> Executor:
    settings = services.settings
    ctx = ServiceContext(
        services.db, services.clock, settings.dr_events_channel, services.publisher
    )
    power = RedisPowerReader(
        services.redis,
        settings.redis_prefix,
        timedelta(seconds=settings.executor_stale_after_seconds),
    )
    config = ExecutorConfig(
        cadence_seconds=settings.cadence_seconds,
        baseline_window=timedelta(minutes=settings.baseline_window_minutes),
        progress_every=settings.progress_every_samples,
    )
    return Executor(ctx, power, services.redis, settings.redis_prefix, config, owner)


VTN = web.AppKey("vtn", Vtn)
UPSTREAM = web.AppKey("upstream", UpstreamRunner)


async def _vtn_handler(request: web.Request) -> web.StreamResponse:
    return await request.app[VTN].endpoint.handle(request)


def build_app(
    settings: Settings,
    *,
    admin_token: str,
    clock: Clock | None = None,
    run_workers: bool = True,
) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[error_middleware, auth_middleware(admin_token, settings.auth_reads)],
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url)
        redis = None
        worker: asyncio.Task[None] | None = None
        executor: Executor | None = None
        executor_task: asyncio.Task[None] | None = None
        bridge_task: asyncio.Task[None] | None = None
        upstream_task: asyncio.Task[None] | None = None
        vtn_context: AsyncIterator[Vtn] | None = None
        try:
            await migrate.upgrade(db)
            redis = await open_redis(settings.redis_url, Path(settings.data_dir))
            services = wire_services(settings, db, redis.client, clock or SystemClock())
            app[SERVICES] = services
            logger.info("database %s, Redis %s", db.describe(), redis.description)
            if run_workers:
                worker = asyncio.create_task(BackgroundWorker(services).run(), name="workers")
            if run_workers:
                bridge = PowerChannelBridge(redis.client, settings.redis_prefix)
                bridge_task = asyncio.create_task(bridge.run(), name="power-channel")
            if settings.vtn_enabled:
                vtn_context = vtn_lifecycle(settings, services)
                app[VTN] = await anext(vtn_context)
            if settings.upstream is not None:
                upstream = UpstreamRunner(settings.upstream, services)
                app[UPSTREAM] = upstream
                upstream_task = asyncio.create_task(upstream.run(), name="upstream")
            if run_workers and settings.executor_enabled:
                executor = build_executor(services)
                app[EXECUTOR] = executor
                executor_task = asyncio.create_task(executor.run(), name="executor")
            yield
        finally:
            if upstream_task is not None:
                upstream_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upstream_task
            if vtn_context is not None:
                with contextlib.suppress(StopAsyncIteration):
                    await anext(vtn_context)
            if bridge_task is not None:
                bridge_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bridge_task
            if executor is not None and executor_task is not None:
                await executor.stop(executor_task)
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            if redis is not None:
                await redis.close()
            await db.dispose()

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    if settings.vtn_enabled and settings.vtn_port is None:
        path = f"{settings.vtn_path_prefix.rstrip('/')}/{{service}}"
        app.router.add_post(path, _vtn_handler)
    return app
