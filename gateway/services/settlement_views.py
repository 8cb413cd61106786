"""An event's settlement as the admin API shows it (JSON) and as CSV; computed by
``services.settlement``. kWh are energies per interval, kW are powers: never mixed."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from gateway.domain.baselines import AdjustmentKind, BaselineMethod, DayType
from gateway.services.settlement_retry import Failure
from gateway.services.views import View


class SettlementInterval(View):
    interval_start: AwareDatetime
    interval_end: AwareDatetime
    event_share: float = Field(description="share of the interval inside the event (0-1]")
    baseline_kwh: float | None = Field(description="whole interval; null: no baseline")
    actual_kwh: float | None = Field(description="whole interval; null: not measured")
    reduction_kwh: float | None = Field(
        description="(baseline - actual) x event_share; null when either is missing"
    )
    measured_share: float = Field(description="share of the interval measured (0: missing)")


class DeviceSettlement(View):
    device_id: str
    committed_kw: float | None
    baseline: str = Field(description="'ok', or why there is no baseline")
    baseline_day_type: DayType | None = None
    baseline_days: list[date] = Field(default_factory=list, description="the days averaged")
    adjustment: AdjustmentKind | None = None
    adjustment_value: float | None = Field(
        default=None, description="kWh per interval (additive) or the factor (multiplicative)"
    )
    intervals: list[SettlementInterval]
    baseline_kwh: float | None = Field(description="over the intervals settled")
    actual_kwh: float | None
    reduction_kwh: float | None
    settled_hours: float = Field(description="event time with both baseline and actual")
    measured_share: float = Field(description="share of the event's time measured")
    delivered_kw: float | None = Field(description="reduction_kwh / settled_hours")


class SettlementTotals(View):
    baseline_kwh: float
    actual_kwh: float
    reduction_kwh: float
    committed_kw: float | None = Field(
        description="sum of the committed kW of the devices that committed; null when none did"
    )
    devices_committed: int | None = Field(
        default=None,
        description="how many devices have a committed kW; null in a version stored before "
        "it was counted",
    )
    delivered_kw: float = Field(description="sum of the devices' delivered kW")
    measured_share: float = Field(description="mean over the devices")
    devices_settled: int
    devices_without_baseline: int


class SettlementView(View):
    event_id: str
    version: int = Field(description="1, 2, ...: each recomputation that changed is kept")
    computed_at: AwareDatetime
    digest: str = Field(description="sha256 of what it was computed from and its numbers")
    program_id: str
    baseline_method: BaselineMethod
    baseline_parameters: dict[str, Any] | None = Field(
        description="every day-matching parameter in force; null for mean_before_event"
    )
    interval_minutes: int
    start_time: AwareDatetime
    end_time: AwareDatetime = Field(description="the event's end, or its cancel once started")
    devices: list[DeviceSettlement]
    totals: SettlementTotals


class SettlementPending(View):
    """Why an ended event has no settlement yet: its automatic settlement failed, and when
    this gateway tries again (``services.settlement_retry``)."""

    state: Literal["retrying", "waiting"] = Field(
        description="retrying: after a database or Redis outage; waiting: after a refusal"
    )
    last_failure: str = Field(description="why the last try failed")
    last_failure_at: AwareDatetime
    next_try_at: AwareDatetime
    failures: int = Field(description="tries that failed in a row")

    @classmethod
    def of(cls, failure: Failure) -> SettlementPending:
        return cls(
            state="retrying" if failure.transient else "waiting",
            last_failure=failure.reason,
            last_failure_at=failure.failed_at,
            next_try_at=failure.next_try_at,
            failures=failure.failures,
        )


class SettlementNotYet(View):
    """The 404 of an event without a settlement, with why while its settlement is failing."""

    error: str
    message: str
    pending: SettlementPending | None = Field(
        default=None, description="set while this gateway's automatic settlement of it fails"
    )


CSV_HEADER = (
    "event_id", "version", "device_id", "row", "interval_start", "interval_end", "event_share",
    "baseline_kwh", "actual_kwh", "reduction_kwh", "measured_share", "committed_kw",
    "delivered_kw", "baseline", "baseline_method", "baseline_parameters",
)  # fmt: skip


def settlement_csv(view: SettlementView) -> str:
    """One row per device and interval, a ``device_total`` row per device and an
    ``event_total`` row; empty cells are missing values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    parameters = json.dumps(view.baseline_parameters, sort_keys=True)
    common = (view.baseline_method.value, parameters)
    for device in view.devices:
        for i in device.intervals:
            writer.writerow((
                view.event_id, view.version, device.device_id, "interval",
                i.interval_start.isoformat(), i.interval_end.isoformat(), i.event_share,
                _cell(i.baseline_kwh), _cell(i.actual_kwh), _cell(i.reduction_kwh),
                i.measured_share, _cell(device.committed_kw), "", device.baseline, *common,
            ))  # fmt: skip
        writer.writerow((
            view.event_id, view.version, device.device_id, "device_total",
            view.start_time.isoformat(), view.end_time.isoformat(), "",
            _cell(device.baseline_kwh), _cell(device.actual_kwh), _cell(device.reduction_kwh),
            device.measured_share, _cell(device.committed_kw), _cell(device.delivered_kw),
            device.baseline, *common,
        ))  # fmt: skip
    t = view.totals
    writer.writerow((
        view.event_id, view.version, "", "event_total", view.start_time.isoformat(),
        view.end_time.isoformat(), "", t.baseline_kwh, t.actual_kwh, t.reduction_kwh,
        t.measured_share, _cell(t.committed_kw), t.delivered_kw, "", *common,
    ))  # fmt: skip
    return out.getvalue()


def _cell(value: float | None) -> str | float:
    return "" if value is None else value
