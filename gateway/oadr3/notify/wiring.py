"""What the composition root calls: the engine in the app's resources (its routes are on the
3.x sub-application, ``gateway.oadr3.wiring.ROUTE_TABLES``)."""

from __future__ import annotations

from aiohttp import web

from gateway.oadr3.notify.engine import NOTIFY, build_notify, close_notify, start_notify
from gateway.observability.metrics import METRICS
from gateway.services.container import Services
from gateway.supervisor import TaskSupervisor

__all__ = ["start", "stop"]


async def start(app: web.Application, services: Services, supervisor: TaskSupervisor) -> None:
    settings = services.settings
    if not (settings.oadr3_enabled and settings.oadr3_notify_enabled):
        return
    metrics = app.get(METRICS)  # an app without observability counts nothing
    notify = build_notify(services, registry=None if metrics is None else metrics.registry)
    app[NOTIFY] = notify
    await start_notify(notify, supervisor)


async def stop(app: web.Application) -> None:
    notify = app.get(NOTIFY)
    if notify is not None:
        await close_notify(notify)
