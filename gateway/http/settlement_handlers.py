"""Admin API handlers of meter history (import, read) and event settlement: parse, call the
service, answer JSON (or CSV). The rules are in ``services.meter_history`` and
``services.settlement``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from aiohttp import BodyPartReader, web
from pydantic import AwareDatetime, Field

from gateway.domain.errors import NotFound, ValidationFailed
from gateway.http.handlers import SERVICES
from gateway.http.io import json_items, json_view, read_body, read_query
from gateway.http.schemas import Body, Query, Text
from gateway.services.settlement_views import (
    SettlementNotYet,
    SettlementPending,
    settlement_csv,
)

DEFAULT_HISTORY_DAYS = 1
CSV_TYPES = ("text/csv", "text/plain")


class HistoryImport(Body):
    csv: Text = Field(
        min_length=1,
        description="the CSV text: a header device_id,interval_start,kwh then one row per "
        "interval (or send the file itself as text/csv, or as multipart/form-data)",
    )


class HistoryQuery(Query):
    start: AwareDatetime | None = Field(
        default=None, description="default: a day before end; at most 10,000 intervals listed"
    )
    end: AwareDatetime | None = Field(default=None, description="default: now (exclusive)")


class SettlementQuery(Query):
    version: int | None = Field(default=None, ge=1, description="default: the latest")
    format: Literal["json", "csv"] = "json"


async def _csv_text(request: web.Request) -> str:
    """The CSV from a text/csv body, the first file of a multipart form, or a JSON body."""
    if request.content_type in CSV_TYPES:
        raw = await request.read()
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and not (isinstance(part, BodyPartReader) and part.filename):
            part = await reader.next()
        if not isinstance(part, BodyPartReader):
            raise ValidationFailed.single("file", "the form carries no file")
        raw = bytes(await part.read())
    else:
        return (await read_body(request, HistoryImport)).csv
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.single("file", "is not UTF-8 text") from None
    if "\x00" in text:
        raise ValidationFailed.single("file", "contains U+0000, which cannot be stored")
    return text


async def import_history(request: web.Request) -> web.Response:
    text = await _csv_text(request)
    return json_view(await request.app[SERVICES].meter_history.import_csv(text))


async def device_history(request: web.Request) -> web.Response:
    query = read_query(request, HistoryQuery)
    end = query.end or request.app[SERVICES].clock.now()
    start = query.start or end - timedelta(days=DEFAULT_HISTORY_DAYS)
    history = request.app[SERVICES].meter_history
    return json_items(await history.intervals(request.match_info["device_id"], start, end))


async def get_settlement(request: web.Request) -> web.Response:
    """The settlement; before the first, a 404 that says why while its automatic settlement
    fails (``pending``: the last failure and the next try)."""
    query = read_query(request, SettlementQuery)
    settlement = request.app[SERVICES].settlement
    event_id = request.match_info["event_id"]
    try:
        view = await settlement.get(event_id, query.version)
    except NotFound as err:
        failure = settlement.retries.of(event_id) if query.version is None else None
        if failure is None:
            raise
        body = SettlementNotYet(
            error=err.code, message=err.message, pending=SettlementPending.of(failure)
        )
        return json_view(body, status=404)
    if query.format == "csv":
        return web.Response(text=settlement_csv(view), content_type="text/csv")
    return json_view(view)


async def recompute_settlement(request: web.Request) -> web.Response:
    view, created = await request.app[SERVICES].settlement.recompute(request.match_info["event_id"])
    return json_view(view, status=201 if created else 200)
