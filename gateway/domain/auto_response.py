"""Auto-response: answer invitations for the operator, by rules, after a real delay.

Rules: with auto-response enabled, an invitation whose notice (time until the event) is at least
``min_notice_minutes`` is answered ``response_delay_seconds`` after it was created. Each device
commits its current power x ``max_reduction_percentage``; a device with no usable reading is
answered NO with the reason, because a commitment must come from a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.errors import FieldError, raise_if_any
from gateway.domain.invitations import Answer, AnswerSource, DeviceAnswer
from gateway.domain.power import MissingReading, Reading

MAX_RESPONSE_DELAY_SECONDS = 86_400
MAX_MIN_NOTICE_MINUTES = 10_080


@dataclass(frozen=True, slots=True)
class AutoResponseConfig:
    enabled: bool = False
    max_reduction_percentage: float = 20.0
    response_delay_seconds: int = 300
    min_notice_minutes: int = 60

    def validate(self) -> None:
        errors: list[FieldError] = []
        pct = self.max_reduction_percentage
        if not math.isfinite(pct) or not 0 < pct <= 100:
            errors.append(FieldError("max_reduction_percentage", "must be > 0 and <= 100"))
        if not 0 <= self.response_delay_seconds <= MAX_RESPONSE_DELAY_SECONDS:
            errors.append(
                FieldError(
                    "response_delay_seconds",
                    f"must be between 0 and {MAX_RESPONSE_DELAY_SECONDS}",
                )
            )
        if not 0 <= self.min_notice_minutes <= MAX_MIN_NOTICE_MINUTES:
            errors.append(
                FieldError("min_notice_minutes", f"must be between 0 and {MAX_MIN_NOTICE_MINUTES}")
            )
        raise_if_any(errors)


@dataclass(frozen=True, slots=True)
class AutoResponsePlan:
    """When to answer an invitation automatically (``due_at``), or why not (``skip_reason``)."""

    due_at: datetime | None
    skip_reason: str | None


def notice_problem(config: AutoResponseConfig, event_time: datetime, at: datetime) -> str | None:
    notice = event_time - at
    needed = timedelta(minutes=config.min_notice_minutes)
    if notice < needed:
        minutes = notice.total_seconds() / 60
        return (
            f"notice of {minutes:.1f} min at answer time is below the minimum of "
            f"{config.min_notice_minutes} min"
        )
    return None


def plan_auto_response(
    config: AutoResponseConfig, event_time: datetime, created_at: datetime
) -> AutoResponsePlan:
    if not config.enabled:
        return AutoResponsePlan(None, "auto-response is disabled")
    due_at = created_at + timedelta(seconds=config.response_delay_seconds)
    problem = notice_problem(config, event_time, due_at)
    if problem is not None:
        return AutoResponsePlan(None, problem)
    return AutoResponsePlan(due_at, None)


def auto_answers(
    readings: Iterable[Reading], max_reduction_percentage: float
) -> list[DeviceAnswer]:
    answers = []
    for reading in readings:
        if isinstance(reading, MissingReading):
            answers.append(
                DeviceAnswer(
                    reading.device_id,
                    Answer.NO,
                    0.0,
                    AnswerSource.AUTO,
                    f"no usable power reading ({reading.reason})",
                )
            )
        elif reading.kw <= 0:
            answers.append(
                DeviceAnswer(
                    reading.device_id,
                    Answer.NO,
                    0.0,
                    AnswerSource.AUTO,
                    f"device draws {reading.kw:.3f} kW: nothing to shed",
                )
            )
        else:
            committed = reading.kw * max_reduction_percentage / 100.0
            answers.append(
                DeviceAnswer(
                    reading.device_id,
                    Answer.YES,
                    committed,
                    AnswerSource.AUTO,
                    f"{max_reduction_percentage:g} % of {reading.kw:.3f} kW measured at "
                    f"{reading.ts.isoformat()}",
                )
            )
    return answers
