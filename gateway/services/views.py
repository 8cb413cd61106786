"""What the services return: read models, serialised as the admin API's JSON."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import AwareDatetime, Field
from sqlalchemy import inspect as sa_inspect

from gateway.db.models import (
    AutoResponseConfigRow,
    DeviceAnswerRow,
    DeviceRow,
    EventRow,
    InvitationRow,
)
from gateway.domain.invitations import Answer, AnswerSource, Response
from gateway.domain.lifecycle import EventStatus, InvitationStatus
from gateway.domain.programs import DEFAULT_PROGRAM_ID
from gateway.services.signal_views import TermsView
from gateway.services.ven_views import (
    SchemaDeviationView,
    VenErrorsSummary,
    VenErrorView,
    VenPowerView,
    VenPushView,
    VenView,
)
from gateway.services.view_base import View

# Also named here, where importers have always found them (the VEN's live in ven_views).
__all__ = [
    "SchemaDeviationView", "VenErrorView", "VenErrorsSummary", "VenPowerView", "VenPushView",
    "VenView", "View",
]  # fmt: skip


class DeviceView(View):
    id: str
    ven_id: str | None
    resource_id: str | None
    timezone: str
    created_at: AwareDatetime

    @classmethod
    def of(cls, row: DeviceRow) -> DeviceView:
        return cls(
            id=row.id,
            ven_id=row.ven_id,
            resource_id=row.resource_id,
            timezone=row.timezone,
            created_at=row.created_at,
        )


class AnswerView(View):
    device_id: str
    answer: Answer
    committed_kw: float
    source: AnswerSource
    reason: str | None
    answered_at: AwareDatetime

    @classmethod
    def of(cls, row: DeviceAnswerRow) -> AnswerView:
        return cls(
            device_id=row.device_id,
            answer=Answer(row.answer),
            committed_kw=row.committed_kw,
            source=AnswerSource(row.source),
            reason=row.reason,
            answered_at=row.answered_at,
        )


class AutoResponseState(View):
    due_at: AwareDatetime | None
    note: str | None


class InvitationView(View):
    id: str
    # A default: views cached before programs were wired still read back.
    program_id: str = Field(default=DEFAULT_PROGRAM_ID, description="the program it belongs to")
    created_at: AwareDatetime
    event_time: AwareDatetime
    end_time: AwareDatetime
    duration_minutes: int
    load_kwh: float
    load_percentage: float
    target_kw: float
    status: InvitationStatus
    response: Response
    answer_policy: str
    decided_at: AwareDatetime | None
    decision_reason: str | None
    devices: list[str]
    answers: list[AnswerView]
    auto_response: AutoResponseState
    event_id: str | None
    # A default: views cached before VEN errors were shown still read back.
    ven_errors: list[VenErrorView] = Field(
        default_factory=list, description="errors its VENs reported for it"
    )

    @classmethod
    def of(cls, row: InvitationRow) -> InvitationView:
        return cls(
            id=row.id,
            program_id=row.program_id,
            created_at=row.created_at,
            event_time=row.event_time,
            end_time=row.event_time + timedelta(minutes=row.duration_minutes),
            duration_minutes=row.duration_minutes,
            load_kwh=row.load_kwh,
            load_percentage=row.load_percentage,
            target_kw=row.target_kw,
            status=InvitationStatus(row.status),
            response=Response(row.response),
            answer_policy=row.answer_policy,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            devices=[d.device_id for d in row.devices],
            answers=[AnswerView.of(a) for a in row.answers],
            auto_response=AutoResponseState(
                due_at=row.auto_response_due_at, note=row.auto_response_note
            ),
            event_id=row.event_id,
            ven_errors=[VenErrorView.of(e) for e in row.ven_errors],
        )


class EventDeviceView(View):
    device_id: str
    committed_kw: float | None
    baseline_kw: float | None
    average_reduction_kw: float | None
    energy_reduction_kwh: float | None
    coverage: float | None
    note: str | None
    opt: str | None = Field(
        default=None, description="its VEN's optIn/optOut of an event scheduled directly"
    )


class EventResults(View):
    average_reduction_kw: float | None
    energy_reduction_kwh: float | None
    coverage: float | None
    gap_seconds: float | None


class EventView(View):
    id: str
    invitation_id: str | None
    program_id: str = Field(description="the program it belongs to (its invitation's)")
    status: EventStatus
    start_time: AwareDatetime
    end_time: AwareDatetime
    duration_minutes: float
    target_kw: float
    target_kwh: float
    devices: list[EventDeviceView]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    started_at: AwareDatetime | None
    ended_at: AwareDatetime | None
    late_start_seconds: float | None
    cancel_reason: str | None
    results: EventResults
    live: dict[str, Any] | None = None
    ven_errors: list[VenErrorView] = Field(
        description="errors VENs reported for its OpenADR event (its invitation's, or its own)"
    )
    modification_number: int = Field(
        default=0, description="OpenADR's, of an event scheduled directly (+1 per change)"
    )
    terms: TermsView = Field(description="its explicit signals and OpenADR event-level facts")

    @classmethod
    def of(cls, row: EventRow, live: dict[str, Any] | None = None) -> EventView:
        # The OpenADR eventID a VEN names is the invitation's, or a direct event's own; an
        # event just made has none and none loaded.
        name = "ven_errors" if row.invitation_id is not None else "direct_ven_errors"
        errors = [] if name in sa_inspect(row).unloaded else getattr(row, name)
        return cls(
            id=row.id,
            invitation_id=row.invitation_id,
            program_id=row.program_id,
            status=EventStatus(row.status),
            start_time=row.start_time,
            end_time=row.end_time,
            duration_minutes=(row.end_time - row.start_time).total_seconds() / 60,
            target_kw=row.target_kw,
            target_kwh=row.target_kwh,
            devices=[
                EventDeviceView(
                    device_id=d.device_id,
                    committed_kw=d.committed_kw,
                    baseline_kw=d.baseline_kw,
                    average_reduction_kw=d.average_reduction_kw,
                    energy_reduction_kwh=d.energy_reduction_kwh,
                    coverage=d.coverage,
                    note=d.note,
                    opt=d.ven_opt,
                )
                for d in row.devices
            ],
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            late_start_seconds=row.late_start_seconds,
            cancel_reason=row.cancel_reason,
            results=EventResults(
                average_reduction_kw=row.average_reduction_kw,
                energy_reduction_kwh=row.energy_reduction_kwh,
                coverage=row.coverage,
                gap_seconds=row.gap_seconds,
            ),
            live=live,
            ven_errors=[VenErrorView.of(e) for e in errors],
            modification_number=row.modification_number,
            terms=TermsView.of(row.terms),
        )


class AutoResponseConfigView(View):
    enabled: bool
    max_reduction_percentage: float
    response_delay_seconds: int
    min_notice_minutes: int
    updated_at: AwareDatetime | None

    @classmethod
    def of(cls, row: AutoResponseConfigRow) -> AutoResponseConfigView:
        return cls(
            enabled=row.enabled,
            max_reduction_percentage=row.max_reduction_percentage,
            response_delay_seconds=row.response_delay_seconds,
            min_notice_minutes=row.min_notice_minutes,
            updated_at=row.updated_at,
        )


class AnalyticsView(View):
    period_days: int
    period_start: AwareDatetime
    events_by_status: dict[str, int]
    completed_events: int
    events_with_results: int
    total_energy_reduction_kwh: float
    total_target_kwh: float
    energy_achievement_rate: float | None
    average_reduction_kw: float | None
    average_target_kw: float | None
    power_achievement_rate: float | None
    average_duration_minutes: float | None
    average_coverage: float | None
