"""The settlement values an upstream event's final report carries, from the gateway's own
settlement of the event (``services.settlement_auto``).

Per meter interval, over the devices that have a baseline and a measured actual in it: the
baseline, actual and reduction kWh of the part of the interval inside the event (an interval
the event only partly covers is reported as that part, with its real start and duration). An
interval no device was settled in is left out: missing, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from gateway.domain.errors import Conflict, NotFound
from gateway.services.settlement_auto import AutoSettlement
from gateway.services.settlement_views import SettlementView
from gateway.upstream.reports import SettledInterval, SettlementPending, SettlementSource

OK = "ok"


def settled_intervals(view: SettlementView) -> list[SettledInterval]:
    by_start: dict[datetime, list[tuple[float, float, float]]] = {}
    spans: dict[datetime, timedelta] = {}
    for device in view.devices:
        if device.baseline != OK:
            continue
        for i in device.intervals:
            if i.baseline_kwh is None or i.actual_kwh is None or i.reduction_kwh is None:
                continue
            start = max(i.interval_start, view.start_time)
            spans[start] = min(i.interval_end, view.end_time) - start
            by_start.setdefault(start, []).append(
                (i.baseline_kwh * i.event_share, i.actual_kwh * i.event_share, i.reduction_kwh)
            )
    return [
        SettledInterval(
            start=start,
            duration=spans[start],
            baseline_kwh=math.fsum(b for b, _, _ in values),
            actual_kwh=math.fsum(a for _, a, _ in values),
            reduction_kwh=math.fsum(r for _, _, r in values),
        )
        for start, values in sorted(by_start.items())
    ]


def settlement_source(auto: AutoSettlement) -> SettlementSource:
    """The latest version of an event's settlement, version 1 made at once if it is due."""

    async def source(event_id: str) -> Sequence[SettledInterval] | None:
        try:
            view = await auto.when_due(event_id)
        except (Conflict, NotFound):
            return None  # not settled: the final report goes without
        if view is None:
            raise SettlementPending(event_id)
        return settled_intervals(view)

    return source
