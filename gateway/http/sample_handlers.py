"""``GET /api/events/{id}/samples``: each device's power at each stored sample, its baseline
and reduction, a page of devices at a time, as JSON or as a streamed CSV.

The JSON page is written from plain lists (``EventSamplesView`` documents its shape, and the
tests hold the answer to it): a page of 1,000 devices x 720 samples is 720,000 values, and
building a model per value would cost more than reading them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from gateway.domain.lifecycle import EventStatus
from gateway.http.handlers import SERVICES
from gateway.http.io import read_query
from gateway.http.schemas import Query
from gateway.services.event_samples import (
    DevicePage,
    PageSample,
    SamplePhase,
    device_page,
    page_samples,
)
from gateway.services.views import View

DEFAULT_JSON_DEVICES = 100
MAX_PAGE_DEVICES = 1_000  # a JSON page of 1,000 devices x 720 samples is ~30 MB
CSV_CHUNK_DEVICES = 1_000  # a CSV of every device is read this many devices at a time
MAX_INDEX = 2**31 - 1  # positions and sample indices are 32-bit integer columns
CSV_HEADER = "device_id,phase,sample_index,sampled_at,power_kw,baseline_kw,reduction_kw\r\n"


class SamplesQuery(Query):
    phase: SamplePhase = Field(
        default=SamplePhase.EVENT, description="event (default) or baseline-window samples"
    )
    cursor: int | None = Field(
        default=None,
        ge=0,
        le=MAX_INDEX,
        description="the next_cursor of the previous page (default: first)",
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PAGE_DEVICES,
        description=f"devices per page (JSON default {DEFAULT_JSON_DEVICES}; CSV default: "
        "every device, streamed)",
    )
    after_index: int = Field(
        default=-1,
        ge=-1,
        le=MAX_INDEX,
        description="only samples with a larger sample_index (live polling)",
    )
    format: Literal["json", "csv"] | None = Field(
        default=None, description="csv, or json; default from the Accept header, else json"
    )


class SampleInstantView(View):
    index: int
    at: AwareDatetime


class DeviceSamplesView(View):
    device_id: str
    baseline_kw: float | None = Field(
        description="mean of its baseline-window samples; null: never measured there"
    )
    power_kw: list[float | None] = Field(description="at each of samples; null: missing")
    reduction_kw: list[float | None] = Field(
        description="baseline_kw - power_kw at each of samples; null when either is missing"
    )


class EventSamplesView(View):
    event_id: str
    status: EventStatus
    phase: SamplePhase
    total_devices: int
    count: int = Field(description="devices on this page")
    next_cursor: int | None = Field(description="cursor of the next page; null: last page")
    samples: list[SampleInstantView]
    devices: list[DeviceSamplesView]


def _wants_csv(request: web.Request, query: SamplesQuery) -> bool:
    if query.format is not None:
        return query.format == "csv"
    return "text/csv" in request.headers.get("Accept", "")


async def event_samples(request: web.Request) -> web.StreamResponse:
    query = read_query(request, SamplesQuery)
    if _wants_csv(request, query):
        return await _csv(request, query)
    db = request.app[SERVICES].db
    first = query.cursor or 0
    async with db.read() as session:
        page = await device_page(
            session, request.match_info["event_id"], first, query.limit or DEFAULT_JSON_DEVICES
        )
        instants: list[dict[str, object]] = []
        power: list[list[float | None]] = [[] for _ in page.device_ids]
        reduction: list[list[float | None]] = [[] for _ in page.device_ids]
        async for sample in page_samples(session, page, query.phase, query.after_index):
            instants.append({"index": sample.index, "at": sample.at.isoformat()})
            for i, (p, r) in enumerate(
                zip(sample.power_kw, sample.reductions_kw(page.baselines_kw), strict=True)
            ):
                power[i].append(p)
                reduction[i].append(r)
    body = {
        "event_id": page.event_id,
        "status": page.status.value,
        "phase": query.phase.value,
        "total_devices": page.total_devices,
        "count": len(page.device_ids),
        "next_cursor": page.next_position,
        "samples": instants,
        "devices": [
            {"device_id": d, "baseline_kw": b, "power_kw": p, "reduction_kw": r}
            for d, b, p, r in zip(page.device_ids, page.baselines_kw, power, reduction, strict=True)
        ],
    }
    return web.json_response(text=json.dumps(body, allow_nan=False))


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _csv_lines(page: DevicePage, phase: SamplePhase, sample: PageSample) -> str:
    at = sample.at.isoformat()
    head = f"{phase.value},{sample.index},{at}"
    return "".join(
        f"{d},{head},{_cell(p)},{_cell(b)},{_cell(r)}\r\n"
        for d, p, b, r in zip(
            page.device_ids,
            sample.power_kw,
            page.baselines_kw,
            sample.reductions_kw(page.baselines_kw),
            strict=True,
        )
    )


async def _csv_pages(
    request: web.Request, query: SamplesQuery
) -> AsyncGenerator[tuple[DevicePage, AsyncIterator[PageSample]]]:
    """One page (``limit`` given) or every device, a chunk at a time, each in its own read."""
    db = request.app[SERVICES].db
    event_id = request.match_info["event_id"]
    position: int | None = query.cursor or 0
    size = query.limit or CSV_CHUNK_DEVICES
    while position is not None:
        async with db.read() as session:
            page = await device_page(session, event_id, position, size)
            yield page, page_samples(session, page, query.phase, query.after_index)
        position = None if query.limit is not None else page.next_position


async def _csv(request: web.Request, query: SamplesQuery) -> web.StreamResponse:
    pages = _csv_pages(request, query)
    # The first page is read before the answer starts, so an unknown event is a 404 and a
    # database that is down a 503, not a cut stream.
    page, samples = await anext(pages)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="event-{page.event_id}-samples.csv"',
        }
    )
    if query.limit is not None and page.next_position is not None:
        response.headers["X-Next-Cursor"] = str(page.next_position)
    try:
        await response.prepare(request)
        await response.write(CSV_HEADER.encode())
        while True:
            async for sample in samples:
                await response.write(_csv_lines(page, query.phase, sample).encode())
            try:
                page, samples = await anext(pages)
            except StopAsyncIteration:
                break
    finally:
        await pages.aclose()  # a client gone mid-stream: the read ends here
    await response.write_eof()
    return response
