"""Admin API of the 2.0b VTN's own reports: its METADATA report republished to every VEN,
the TELEMETRY_STATUS each VEN reported, and the last messages exchanged with each VEN."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.http.handlers import SERVICES, message_log
from gateway.http.io import json_items, json_view
from gateway.oadr20b.message_log import MessageView
from gateway.oadr20b.status_store import ResourceStatusView, StatusStore
from gateway.oadr20b.vtn_metadata import MetadataStore
from gateway.services.context import ServiceContext
from gateway.services.ven_facing.changes import ChangeKind, VenChange


class MetadataPublished(BaseModel):
    """What ``POST /api/vtn/metadata/publish`` did."""

    ven_ids: list[str] = Field(
        description="the registered polling VENs sent the METADATA report on their next poll "
        "with nothing else for them"
    )


async def publish_vtn_metadata(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ctx = ServiceContext(
        services.db, services.clock, services.settings.dr_events_channel, services.publisher,
        services.ven_facing.changes_channel,
    )  # fmt: skip

    def announce(session: AsyncSession, ven_ids: list[str]) -> None:
        for ven_id in ven_ids:
            ctx.announce(
                session, "vtn_metadata_published", ven_id=ven_id,
                change=VenChange(ChangeKind.VEN, ven_id=ven_id),
            )  # fmt: skip

    ven_ids = await MetadataStore(services.db).send_unasked(None, services.clock.now(), announce)
    await services.publisher.flush()
    return json_view(MetadataPublished(ven_ids=ven_ids))


async def ven_status(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ven_id = request.match_info["ven_id"]
    await services.vens.get(ven_id)  # 404 for no such VEN
    return json_items(await StatusStore(services.db).of_ven(ven_id))


async def ven_messages(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ven_id = request.match_info["ven_id"]
    await services.vens.get(ven_id)  # 404 for no such VEN
    return json_items(await message_log(services).last(ven_id))


__all__ = [
    "MessageView", "MetadataPublished", "ResourceStatusView", "publish_vtn_metadata",
    "ven_messages", "ven_status",
]  # fmt: skip
