"""One log line per admin write, carrying the ids of what it was about.

The ids in the path (``ven_id``, ``event_id``, ``invitation_id``) are bound for the whole
request, so every line logged while it is handled (a decision, a refusal, a dependency down)
carries them too; the ids a write answers with (the invitation it created, the event it
scheduled) are added to its own line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.observability.logs import CONTEXT_FIELDS, log_context

logger = logging.getLogger("gateway.http.admin")

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What the "id" of an answer is, by the path's first segment under /api.
ANSWERED_ID = {"invitations": "invitation_id", "events": "event_id", "vens": "ven_id"}


@web.middleware
async def action_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ids = {name: value for name, value in request.match_info.items() if name in CONTEXT_FIELDS}
    if not ids and not request.path.startswith("/api/"):
        return await handler(request)  # a VEN's message and the like: nothing to add here
    with log_context(**ids):
        response = await handler(request)
        if request.method in WRITES and request.path.startswith("/api/"):
            named = {**_answered_ids(request, response), **ids}
            logger.info(
                "admin %s %s: %d", request.method, request.path, response.status, extra=named
            )
    return response


def _answered_ids(request: web.Request, response: web.StreamResponse) -> dict[str, str]:
    if not isinstance(response, web.Response) or response.status >= 300:
        return {}
    if response.content_type != "application/json" or not isinstance(response.body, bytes):
        return {}
    try:
        body: Any = json.loads(response.body)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    found = {name: body[name] for name in CONTEXT_FIELDS if isinstance(body.get(name), str)}
    segment = request.path.split("/")[2] if request.path.count("/") >= 2 else ""
    if segment in ANSWERED_ID and isinstance(body.get("id"), str):
        found.setdefault(ANSWERED_ID[segment], body["id"])
    return found
