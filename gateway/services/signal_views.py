"""How the admin API shows an event's explicit signals and OpenADR event-level facts: in the
shape ``POST /api/events`` takes them, so a view can be sent back as it reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.domain.signals import (
    EventTerms,
    Interval,
    ResponseRequired,
    ScaleCode,
    SignalKind,
    SignalType,
    SignalUnit,
    terms_from_json,
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class SignalIntervalView(_View):
    duration_minutes: float
    value: float


class SignalView(_View):
    name: SignalKind
    type: SignalType
    units: SignalUnit | None
    scale: ScaleCode | None
    currency: str | None
    intervals: list[SignalIntervalView]


class BaselineView(_View):
    start_time: AwareDatetime
    name: str
    units: SignalUnit | None
    intervals: list[SignalIntervalView]


class TermsView(_View):
    signals: list[SignalView] = Field(
        description="its explicit signals; none: its VENs get SIMPLE and LOAD_DISPATCH"
    )
    priority: int | None = Field(description="0 is the highest; null: its program's")
    response_required: ResponseRequired
    ramp_up_minutes: float | None
    recovery_minutes: float | None
    start_after_minutes: float | None
    baseline: BaselineView | None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> TermsView:
        terms: EventTerms = terms_from_json(stored)
        baseline = terms.baseline
        return cls(
            signals=[
                SignalView(
                    name=s.kind, type=s.type, units=s.unit, scale=s.scale,
                    currency=s.currency, intervals=_intervals(s.intervals),
                )
                for s in terms.signals
            ],
            priority=terms.priority,
            response_required=terms.response_required,
            ramp_up_minutes=_minutes(terms.ramp_up),
            recovery_minutes=_minutes(terms.recovery),
            start_after_minutes=_minutes(terms.start_after),
            baseline=None if baseline is None else BaselineView(
                start_time=baseline.start, name=baseline.name, units=baseline.unit,
                intervals=_intervals(baseline.intervals),
            ),
        )  # fmt: skip


def _intervals(intervals: Sequence[Interval]) -> list[SignalIntervalView]:
    return [SignalIntervalView(duration_minutes=_minutes(i.duration) or 0.0, value=i.value)
            for i in intervals]  # fmt: skip


def _minutes(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 60
