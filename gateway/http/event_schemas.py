"""Request body of ``POST /api/events``: an event directly, with explicit signals and its
OpenADR event-level facts or with a target in kW only (``gateway.domain.signals`` checks
the rules and names every bad field)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, ConfigDict, Field

from gateway.domain.invitations import MAX_DURATION_MINUTES, MAX_POWER_KW
from gateway.domain.programs import DEFAULT_PROGRAM_ID, MAX_PRIORITY
from gateway.domain.signals import (
    MAX_INTERVALS,
    MAX_SIGNALS,
    Baseline,
    EventSignal,
    EventTerms,
    Interval,
    ResponseRequired,
    ScaleCode,
    SignalKind,
    SignalType,
    SignalUnit,
)
from gateway.http.schemas import Body, DeviceList, JsonInt, Minutes, ProgramId, Stated, Text

# Bounded here, not only stated: minutes beyond these make no time span at all.
OffsetMinutes = Annotated[float, Field(ge=0, le=MAX_DURATION_MINUTES)]
MAX_BASELINE_OFFSET_MINUTES = 366 * 24 * 60


class IntervalBody(Body):
    duration_minutes: Annotated[float, Field(gt=0, le=MAX_DURATION_MINUTES)] = Field(
        description="how long its value is in force, right after the interval before it"
    )
    value: float = Field(description="SIMPLE: a level 0-3; otherwise in the signal's units")

    def interval(self) -> Interval:
        return Interval(timedelta(minutes=self.duration_minutes), self.value)


Intervals = Annotated[list[IntervalBody], Stated(minItems=1, maxItems=MAX_INTERVALS)]


class SignalBody(Body):
    name: SignalKind = Field(description="the 2.0b signal name (OpenADR 3 payload types map here)")
    type: SignalType = Field(description="the 2.0b signalType; each name allows some")
    units: SignalUnit | None = Field(default=None, description="what its values measure")
    scale: ScaleCode | None = Field(default=None, description="SI prefix of the units")
    currency: str | None = Field(
        default=None, max_length=3,
        description="ISO 4217 code (USD, EUR, ...) of a currency unit's prices",
    )  # fmt: skip
    intervals: Intervals = Field(description="from the event's start, covering all of it")

    def signal(self) -> EventSignal:
        return EventSignal(
            kind=self.name, type=self.type, unit=self.units, scale=self.scale,
            currency=self.currency, intervals=tuple(i.interval() for i in self.intervals),
        )  # fmt: skip


class BaselineBody(Body):
    start_time: AwareDatetime | None = Field(
        default=None, description="when the baseline starts (or give start_in_minutes)"
    )
    start_in_minutes: (
        Annotated[float, Field(ge=-MAX_BASELINE_OFFSET_MINUTES, le=MAX_BASELINE_OFFSET_MINUTES)]
        | None
    ) = Field(default=None, description="when it starts, in minutes from now (negative: past)")
    name: Text = Field(default="baseline", min_length=1, max_length=128)
    units: SignalUnit | None = None
    intervals: Intervals

    def baseline(self, now: datetime, event_start: datetime) -> Baseline:
        start = self.start_time
        if start is None:
            start = (
                now + timedelta(minutes=self.start_in_minutes)
                if self.start_in_minutes is not None
                else event_start
            )
        return Baseline(
            start=start, name=self.name, unit=self.units,
            intervals=tuple(i.interval() for i in self.intervals),
        )  # fmt: skip


class EventCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={  # the service's rule: an event without signals needs a target
            "if": {"not": {"properties": {"signals": {"minItems": 1}}, "required": ["signals"]}},
            "then": {"required": ["target_kw"], "properties": {"target_kw": {"type": "number"}}},
        }
    )

    start_time: AwareDatetime = Field(description="in the future, at most 10 years ahead")
    duration_minutes: Minutes | None = None
    devices: DeviceList = Field(description="registered devices, each once")
    target_kw: Annotated[float, Stated(minimum=0, maximum=MAX_POWER_KW)] | None = Field(
        default=None,
        description="power to shed during the event, kW; needed unless it has signals (0 then)",
    )
    program_id: ProgramId = Field(
        default=DEFAULT_PROGRAM_ID,
        description="the program it belongs to; every device must take part in it",
    )
    signals: Annotated[list[SignalBody], Stated(maxItems=MAX_SIGNALS)] = Field(
        default_factory=list,
        description="explicit signals its VENs get; none: SIMPLE and LOAD_DISPATCH from target_kw",
    )
    priority: Annotated[JsonInt, Stated(minimum=0, maximum=MAX_PRIORITY)] | None = Field(
        default=None, description="0 is the highest; none: its program's"
    )
    response_required: ResponseRequired = Field(
        default=ResponseRequired.ALWAYS, description="whether each VEN must answer"
    )
    ramp_up_minutes: OffsetMinutes | None = None
    recovery_minutes: OffsetMinutes | None = None
    start_after_minutes: OffsetMinutes | None = Field(
        default=None, description="tolerance: each VEN starts up to this late, at random"
    )
    baseline: BaselineBody | None = None

    def terms(self, now: datetime) -> EventTerms:
        return EventTerms(
            signals=tuple(s.signal() for s in self.signals),
            priority=self.priority,
            ramp_up=_minutes(self.ramp_up_minutes),
            recovery=_minutes(self.recovery_minutes),
            start_after=_minutes(self.start_after_minutes),
            response_required=self.response_required,
            baseline=(
                None if self.baseline is None else self.baseline.baseline(now, self.start_time)
            ),
        )


def _minutes(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(minutes=value)


class EventModify(Body):
    """New terms for an event scheduled directly: the fields given replace its own (a null
    priority or rampUp clears it), the others stay; each change is a new modificationNumber."""

    start_time: AwareDatetime | None = None
    duration_minutes: Minutes | None = None
    target_kw: Annotated[float, Stated(minimum=0, maximum=MAX_POWER_KW)] | None = None
    signals: Annotated[list[SignalBody], Stated(maxItems=MAX_SIGNALS)] | None = None
    priority: Annotated[JsonInt, Stated(minimum=0, maximum=MAX_PRIORITY)] | None = None
    response_required: ResponseRequired | None = None
    ramp_up_minutes: OffsetMinutes | None = None
    recovery_minutes: OffsetMinutes | None = None
    start_after_minutes: OffsetMinutes | None = None
    baseline: BaselineBody | None = None

    def term_changes(self, now: datetime, event_start: datetime) -> dict[str, Any]:
        """The ``EventTerms`` fields this body replaces, by name."""
        given = self.model_fields_set
        changes: dict[str, Any] = {}
        if "signals" in given:
            changes["signals"] = tuple(s.signal() for s in self.signals or [])
        if "priority" in given:
            changes["priority"] = self.priority
        if "response_required" in given and self.response_required is not None:
            changes["response_required"] = self.response_required
        for name, value in (
            ("ramp_up", self.ramp_up_minutes),
            ("recovery", self.recovery_minutes),
            ("start_after", self.start_after_minutes),
        ):
            if f"{name}_minutes" in given:
                changes[name] = _minutes(value)
        if "baseline" in given:
            changes["baseline"] = (
                None if self.baseline is None else self.baseline.baseline(now, event_start)
            )
        return changes


class EventCancel(Body):
    reason: Text | None = Field(default=None, max_length=500)
    response_required: ResponseRequired | None = Field(
        default=None, description="how its VENs are told of the cancel; none: as before"
    )
