"""Admin API handlers provisioning the 3.x API's OAuth2 clients (behind the admin token)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.domain.errors import NotFound
from gateway.http.io import json_items, json_view, read_body
from gateway.http.schemas import Body
from gateway.oadr3.auth import CLIENTS
from gateway.oadr3.clients import CLIENT_ID_PATTERN, Client, ClientStore
from gateway.oadr3.scopes import Role, Scope


class ClientCreate(Body):
    client_id: Annotated[str, Field(pattern=CLIENT_ID_PATTERN.pattern)] | None = None
    role: Role
    # Unset: the role's default scopes (VEN: read_targets read_ven_objects write_reports
    # write_subscriptions write_vens; BL: read_all write_programs write_events
    # write_subscriptions write_vens).
    # Checked by the client store, so that an unknown scope or one the role may not hold
    # (ALLOWED_SCOPES) is refused naming ``scopes``; the document lists the known ones.
    scopes: (
        list[Annotated[str, Field(json_schema_extra={"enum": [s.value for s in Scope]})]] | None
    ) = None


class ClientView(BaseModel):
    client_id: str
    role: Role
    scopes: list[str]
    created_at: datetime

    @classmethod
    def of(cls, client: Client) -> ClientView:
        return cls(
            client_id=client.client_id,
            role=client.role,
            scopes=sorted(client.scopes),
            created_at=client.created_at,
        )


class ClientCreated(ClientView):
    client_secret: str  # shown this once; only its hash is kept


def _clients(request: web.Request) -> ClientStore:
    store = request.config_dict.get(CLIENTS)
    if store is None:
        raise NotFound("the OpenADR 3 API is not enabled (oadr3_enabled)")
    return store


async def create_client(request: web.Request) -> web.Response:
    body = await read_body(request, ClientCreate)
    client, secret = await _clients(request).create(body.client_id, body.role, body.scopes)
    view = ClientCreated(**ClientView.of(client).model_dump(), client_secret=secret)
    return json_view(view, status=201)


async def list_clients(request: web.Request) -> web.Response:
    return json_items([ClientView.of(c) for c in await _clients(request).all()])


async def delete_client(request: web.Request) -> web.Response:
    client = await _clients(request).delete(request.match_info["client_id"])
    return json_view(ClientView.of(client))
