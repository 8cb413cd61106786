"""Invitations, device answers and the answer policies that decide them.

An invitation asks devices to shed load during ``[event_time, event_time + duration)``. Its
energy target is ``load_kwh`` (kWh); the matching power target is that energy spread over the
event, ``target_kw = load_kwh / duration_hours`` (kW). The two are never used in place of each
other.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.domain.errors import FieldError, raise_if_any
from gateway.domain.programs import DEFAULT_PROGRAM_ID

MIN_DURATION_MINUTES = 1
MAX_DURATION_MINUTES = 1440
MAX_DEVICES_PER_INVITATION = 10_000
# Scheduling further ahead than this is a typo, not a program; it also keeps end times in range.
MAX_NOTICE = timedelta(days=3653)
# 1 TWh / 1 TW: far above any real program, low enough that derived targets stay finite.
MAX_ENERGY_KWH = 1e9
MAX_POWER_KW = 1e9


class Answer(StrEnum):
    YES = "YES"
    NO = "NO"


class Response(StrEnum):
    """The invitation's overall response, as the reference service reports it."""

    WAITING = "WAITING"
    YES = "YES"
    NO = "NO"


class AnswerSource(StrEnum):
    ADMIN = "admin"
    AUTO = "auto"
    VEN = "ven"


@dataclass(frozen=True, slots=True)
class InvitationRequest:
    event_time: datetime
    duration_minutes: int
    load_kwh: float
    load_percentage: float
    device_ids: tuple[str, ...]
    program_id: str = DEFAULT_PROGRAM_ID  # a modification keeps the invitation's own

    @property
    def end_time(self) -> datetime:
        return self.event_time + timedelta(minutes=self.duration_minutes)

    @property
    def target_kw(self) -> float:
        return target_kw(self.load_kwh, self.duration_minutes)


def target_kw(load_kwh: float, duration_minutes: int) -> float:
    """Average power (kW) that sheds ``load_kwh`` (kWh) over the event."""
    return load_kwh / (duration_minutes / 60.0)


def per_device_kw(target_kw: float, devices: int) -> float:
    """Each invited device's equal share of the invitation's target (what it commits by
    saying yes, and what its VEN is asked to shed for it)."""
    return target_kw / devices if devices else 0.0


def validate_invitation(
    request: InvitationRequest, now: datetime, known_devices: Collection[str]
) -> None:
    """Raise ``ValidationFailed`` naming every field that breaks a rule."""
    errors = check_event_window("event_time", request.event_time, request.duration_minutes, now)
    errors.extend(check_amount("load_kwh", request.load_kwh, MAX_ENERGY_KWH))
    if not math.isfinite(request.load_percentage) or not 0 <= request.load_percentage <= 100:
        errors.append(FieldError("load_percentage", "must be between 0 and 100"))
    if request.load_kwh == 0 and request.load_percentage == 0:
        errors.append(FieldError("load_kwh", "load_kwh or load_percentage must be greater than 0"))
    errors.extend(check_device_list("devices", request.device_ids, known_devices))
    raise_if_any(errors)


def check_event_window(
    field: str, start: datetime, duration_minutes: int, now: datetime
) -> list[FieldError]:
    """The start is aware, in the future and within MAX_NOTICE; the duration 1-1440 min."""
    errors: list[FieldError] = []
    if start.tzinfo is None:
        errors.append(FieldError(field, "must include a time zone offset"))
    elif start <= now:
        errors.append(FieldError(field, "must be in the future"))
    elif start - now > MAX_NOTICE:
        errors.append(FieldError(field, f"must be within {MAX_NOTICE.days} days from now"))
    if not MIN_DURATION_MINUTES <= duration_minutes <= MAX_DURATION_MINUTES:
        errors.append(
            FieldError(
                "duration_minutes",
                f"must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES}",
            )
        )
    return errors


def check_amount(field: str, value: float, maximum: float) -> list[FieldError]:
    if not math.isfinite(value) or not 0 <= value <= maximum:
        return [FieldError(field, f"must be a number from 0 to {maximum:g}")]
    return []


def check_device_list(
    field: str, device_ids: Sequence[str], known_devices: Collection[str]
) -> list[FieldError]:
    if not device_ids:
        return [FieldError(field, "must name at least one device")]
    if len(device_ids) > MAX_DEVICES_PER_INVITATION:
        return [FieldError(field, f"must name at most {MAX_DEVICES_PER_INVITATION} devices")]
    errors: list[FieldError] = []
    duplicates = sorted(d for d, n in Counter(device_ids).items() if n > 1)
    if duplicates:
        errors.append(FieldError(field, f"lists devices more than once: {', '.join(duplicates)}"))
    unknown = sorted(set(device_ids) - set(known_devices))
    if unknown:
        errors.append(FieldError(field, f"unknown devices: {', '.join(unknown)}"))
    return errors


@dataclass(frozen=True, slots=True)
class DeviceAnswer:
    device_id: str
    answer: Answer
    committed_kw: float
    source: AnswerSource = AnswerSource.ADMIN
    reason: str | None = None


def validate_answer(
    answer: DeviceAnswer, invited_devices: Collection[str], field_prefix: str = ""
) -> None:
    errors: list[FieldError] = []
    if answer.device_id not in invited_devices:
        errors.append(
            FieldError(f"{field_prefix}device_id", "device is not invited to this invitation")
        )
    errors.extend(check_amount(f"{field_prefix}committed_kw", answer.committed_kw, MAX_POWER_KW))
    if answer.answer is Answer.NO and answer.committed_kw > 0:
        errors.append(FieldError(f"{field_prefix}committed_kw", "must be 0 when the answer is NO"))
    raise_if_any(errors)


class DecisionOutcome(StrEnum):
    SCHEDULE = "schedule"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: DecisionOutcome
    participants: tuple[DeviceAnswer, ...]
    committed_kw: float
    reason: str


@dataclass(frozen=True, slots=True)
class AnswerPolicy:
    """``all``: every device must say YES. ``partial``: the YES devices go ahead when their
    committed kW reaches ``min_share`` of the invitation's kW target (and at least one said YES).
    """

    name: str = "all"
    min_share: float = 0.8

    def __post_init__(self) -> None:
        if self.name not in ("all", "partial"):
            raise ValueError(f"unknown answer policy {self.name!r}")
        if not 0 < self.min_share <= 1:
            raise ValueError("min_share must be in (0, 1]")


def decide(
    invited: Sequence[str],
    answers: Mapping[str, DeviceAnswer],
    invitation_target_kw: float,
    policy: AnswerPolicy,
) -> Decision | None:
    """The invitation's decision once every invited device has answered, else ``None``."""
    if any(device not in answers for device in invited):
        return None
    yes = tuple(answers[d] for d in invited if answers[d].answer is Answer.YES)
    committed = sum(a.committed_kw for a in yes)
    if policy.name == "all":
        if len(yes) == len(invited):
            return Decision(DecisionOutcome.SCHEDULE, yes, committed, "every device said YES")
        no = [d for d in invited if answers[d].answer is Answer.NO]
        return Decision(DecisionOutcome.CANCEL, (), 0.0, f"policy 'all': NO from {', '.join(no)}")
    needed = policy.min_share * invitation_target_kw
    if yes and committed + 1e-9 >= needed:
        return Decision(
            DecisionOutcome.SCHEDULE,
            yes,
            committed,
            f"policy 'partial': {committed:.3f} kW committed >= {needed:.3f} kW needed",
        )
    return Decision(
        DecisionOutcome.CANCEL,
        (),
        0.0,
        f"policy 'partial': {committed:.3f} kW committed by {len(yes)} device(s), "
        f"{needed:.3f} kW needed",
    )
