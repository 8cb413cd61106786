"""The VTN while the gateway runs: its caches preloaded, its change feed followed, and its
own port (TLS) when it has one; built by the composition root (``gateway.app``)."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from dataclasses import dataclass

from aiohttp import web

from gateway.oadr20a.endpoint import Vtn20aEndpoint
from gateway.oadr20b.endpoint import VtnEndpoint
from gateway.oadr20b.service import VtnService
from gateway.oadr20b.signing import SigningKey
from gateway.oadr20b.state import VtnState
from gateway.settings import Settings
from gateway.supervisor import TaskSupervisor

logger = logging.getLogger(__name__)

# On shutdown, requests under way on the VTN's own port get this long to finish.
VTN_SHUTDOWN_SECONDS = 1.0


@dataclass
class Vtn:
    endpoint: VtnEndpoint
    state: VtnState
    service: VtnService
    signing_key: SigningKey | None
    endpoint_20a: Vtn20aEndpoint | None = None  # 2.0a VENs, at ``vtn_20a_path``
    runner: web.AppRunner | None = None

    async def start(self, supervisor: TaskSupervisor) -> None:
        if self.signing_key is not None:
            logger.info("VTN certificate fingerprint: %s", self.signing_key.fingerprint)
        try:
            await self.state.load_everything()
        except Exception as err:  # the VENs then load one by one as they poll
            logger.warning("vtn: preload failed (%s)", err)
        supervisor.start(self.state.listen(supervisor.stopping), "vtn-changes")
        supervisor.start(self.state.flush_seen_forever(supervisor.stopping), "vtn-seen")

    async def serve(self, settings: Settings, sock: socket.socket | None = None) -> None:
        """The VTN on its own port (``vtn_port``, or ``sock`` already bound to it), with mutual
        TLS when configured."""
        assert settings.vtn_port is not None
        app = web.Application()
        app.router.add_post(
            f"{settings.vtn_path_prefix.rstrip('/')}/{{service}}", self.endpoint.handle
        )
        if self.endpoint_20a is not None and settings.vtn_20a_path is not None:
            app.router.add_post(settings.vtn_20a_path, self.endpoint_20a.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=VTN_SHUTDOWN_SECONDS)
        await self.runner.setup()
        context = tls_context(settings)
        site: web.BaseSite
        if sock is not None:
            site = web.SockSite(self.runner, sock, ssl_context=context)
        else:
            site = web.TCPSite(self.runner, settings.http_host, settings.vtn_port,
                               ssl_context=context)  # fmt: skip
        await site.start()
        scheme = "https" if settings.vtn_tls else "http"
        logger.info(
            "OpenADR VTN %s on %s://%s:%d%s",
            settings.vtn_id, scheme, settings.http_host, settings.vtn_port,
            settings.vtn_path_prefix,
        )  # fmt: skip

    async def close(self) -> None:
        """Close the listener and the state; the tasks ``start`` began end with the supervisor."""
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
