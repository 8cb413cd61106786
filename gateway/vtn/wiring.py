"""Builds the VTN from settings and services, and serves it (same port or its own, TLS)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from gateway.services.container import Services
from gateway.settings import Settings
from gateway.vtn.codec import Encoder
from gateway.vtn.endpoint import VtnEndpoint
from gateway.vtn.service import VtnConfig, VtnService
from gateway.vtn.signing import ReplayGuard, SigningKey
from gateway.vtn.state import VtnState
from gateway.vtn.store import VtnStore

logger = logging.getLogger(__name__)


@dataclass
class Vtn:
    endpoint: VtnEndpoint
    state: VtnState
    service: VtnService
    signing_key: SigningKey | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        try:
            await self.state.load_everything()
        except Exception as err:  # the VENs then load one by one as they poll
            logger.warning("vtn: preload failed (%s)", err)
        self.tasks.append(asyncio.create_task(self.state.listen(), name="vtn-changes"))
        self.tasks.append(asyncio.create_task(self.state.flush_seen_forever(), name="vtn-seen"))

    async def serve(self, settings: Settings) -> None:
        """The VTN on its own port (``vtn_port``), with mutual TLS when configured."""
        assert settings.vtn_port is not None
        app = web.Application()
        app.router.add_post(
            f"{settings.vtn_path_prefix.rstrip('/')}/{{service}}", self.endpoint.handle
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(
            self.runner, settings.http_host, settings.vtn_port, ssl_context=tls_context(settings)
        )
        await site.start()
        scheme = "https" if settings.vtn_tls else "http"
        logger.info(
            "OpenADR VTN %s on %s://%s:%d%s",
            settings.vtn_id, scheme, settings.http_host, settings.vtn_port,
            settings.vtn_path_prefix,
        )  # fmt: skip

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
        await self.state.close()
        if self.runner is not None:
            await self.runner.cleanup()
        with contextlib.suppress(Exception):
            await self.state.flush_seen()


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    cert, key, ca = settings.vtn_tls_cert, settings.vtn_tls_key, settings.vtn_tls_ca
    if cert is None or key is None or ca is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def build_vtn(settings: Settings, services: Services) -> Vtn:
    files = settings.vtn_signing_files
    signing_key = SigningKey.load(*files) if files is not None else None
    config = VtnConfig(
        vtn_id=settings.vtn_id,
        poll_interval=timedelta(seconds=settings.vtn_poll_interval_seconds),
        near_window=timedelta(minutes=settings.vtn_near_minutes),
        market_context=settings.vtn_market_context,
        priority=settings.vtn_priority,
        test_events=settings.vtn_test_events,
        report_sampling=timedelta(seconds=settings.vtn_report_sampling_seconds),
        open_enrollment=settings.open_enrollment,
    )
    store = VtnStore(services.db)
    state = VtnState(store, services.redis, settings.redis_prefix, services.clock)
    services.publisher.on_published.append(state.published)
    service = VtnService(
        config, store, state, services.invitations, services.redis, settings.redis_prefix,
        services.clock,
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
    )
    return Vtn(endpoint, state, service, signing_key)


async def vtn_lifecycle(settings: Settings, services: Services) -> AsyncIterator[Vtn]:
    vtn = build_vtn(settings, services)
    if vtn.signing_key is not None:
        logger.info("VTN certificate fingerprint: %s", vtn.signing_key.fingerprint)
    await vtn.start()
    try:
        if settings.vtn_port is not None:
            await vtn.serve(settings)
        yield vtn
    finally:
        await vtn.close()
