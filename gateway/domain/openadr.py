"""How an invitation looks to one VEN as an OpenADR 2.0b event (pure: no I/O, no openleadr).

- One event per invitation and VEN; its eventID is the invitation id, so it is stable across
  restarts and gateway processes, and a VEN's answer names the invitation directly.
- ``LOAD_DISPATCH`` (signalType ``delta``, kW): the VEN's share of the invitation's target,
  split equally over the invited devices (the VEN gets its devices' count of shares).
- ``SIMPLE`` (level 0-3) from the share of load to shed, see ``simple_level``.
- One interval covering the whole active period.
- Status is recomputed from the clock on every poll: ``far`` until ``near_window`` before the
  start, then ``near``, ``active`` during the period, ``completed`` after it; ``cancelled``
  when the invitation or its event was cancelled, declined, expired or missed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.domain.devices import resource_id_of
from gateway.domain.invitations import per_device_kw

# SI scale codes (OpenADR siScaleCode) of a power value given in W, as factors to kW.
SCALE_TO_KW = {"none": 1e-3, "k": 1.0, "M": 1e3, "G": 1e6}


class OadrEventStatus(StrEnum):
    FAR = "far"
    NEAR = "near"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({OadrEventStatus.COMPLETED, OadrEventStatus.CANCELLED})

# SIMPLE levels by share of load to shed (%): upper bounds, inclusive.
SIMPLE_LEVELS: tuple[tuple[float, int], ...] = ((0.0, 0), (15.0, 1), (40.0, 2), (100.0, 3))
# An invitation that gives only energy (kWh, no %) asks for a moderate shed.
SIMPLE_LEVEL_WITHOUT_SHARE = 1


def simple_level(load_percentage: float) -> int:
    """0 for no shed, 1 up to 15 %, 2 up to 40 %, 3 above 40 %; 1 when no share is given."""
    if load_percentage <= 0:
        return SIMPLE_LEVEL_WITHOUT_SHARE
    for bound, level in SIMPLE_LEVELS:
        if load_percentage <= bound:
            return level
    return SIMPLE_LEVELS[-1][1]


@dataclass(frozen=True, slots=True)
class InvitedDevice:
    device_id: str
    ven_id: str | None
    resource_id: str | None


@dataclass(frozen=True, slots=True)
class InvitationFacts:
    """What the VTN needs of an invitation (and of its event, once there is one)."""

    invitation_id: str
    created_at: datetime
    event_time: datetime
    duration_minutes: int
    target_kw: float
    load_percentage: float
    modification_number: int
    cancelled: bool
    devices: tuple[InvitedDevice, ...]


@dataclass(frozen=True, slots=True)
class VenEvent:
    """One VEN's view of one invitation."""

    event_id: str
    ven_id: str
    modification_number: int
    created_at: datetime
    start: datetime
    duration: timedelta
    dispatch_kw: float
    simple_level: int
    cancelled: bool
    resource_ids: tuple[str, ...]
    device_ids: tuple[str, ...]

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    def status(self, now: datetime, near_window: timedelta) -> OadrEventStatus:
        if self.cancelled:
            return OadrEventStatus.CANCELLED
        if now >= self.end:
            return OadrEventStatus.COMPLETED
        if now >= self.start:
            return OadrEventStatus.ACTIVE
        if now >= self.start - near_window:
            return OadrEventStatus.NEAR
        return OadrEventStatus.FAR


def ven_events(facts: InvitationFacts) -> dict[str, VenEvent]:
    """The event each VEN owning invited devices gets, by venID."""
    by_ven: dict[str, list[InvitedDevice]] = {}
    for device in facts.devices:
        if device.ven_id:
            by_ven.setdefault(device.ven_id, []).append(device)
    if not facts.devices:
        return {}
    per_device = per_device_kw(facts.target_kw, len(facts.devices))
    level = simple_level(facts.load_percentage)
    return {
        ven_id: VenEvent(
            event_id=facts.invitation_id,
            ven_id=ven_id,
            modification_number=facts.modification_number,
            created_at=facts.created_at,
            start=facts.event_time,
            duration=timedelta(minutes=facts.duration_minutes),
            dispatch_kw=per_device * len(devices),
            simple_level=level,
            cancelled=facts.cancelled,
            resource_ids=tuple(resource_id_of(d.device_id, d.resource_id) for d in devices),
            device_ids=tuple(d.device_id for d in devices),
        )
        for ven_id, devices in by_ven.items()
    }


# What a VEN was last told: eventID -> [modificationNumber, status].
Snapshot = Mapping[str, Sequence[object]]


def snapshot(
    events: Sequence[VenEvent], now: datetime, near_window: timedelta
) -> dict[str, list[object]]:
    return {e.event_id: [e.modification_number, e.status(now, near_window).value] for e in events}


def visible(
    events: Sequence[VenEvent], delivered: Snapshot, now: datetime, near_window: timedelta
) -> list[VenEvent]:
    """The events a distribute lists: every open one, and ended ones the VEN was not yet told.

    Leaving an event out is an implied cancel, so an open event is always listed; an ended one
    is listed until the VEN has been told how it ended.
    """
    shown = []
    for event in events:
        status = event.status(now, near_window)
        if status in TERMINAL_STATUSES:
            told = delivered.get(event.event_id)
            if told is not None and list(told) == [event.modification_number, status.value]:
                continue
            if told is None and now - event.end > timedelta(hours=1):
                continue  # ended long before this VEN ever heard of it
        shown.append(event)
    return shown


def needs_distribute(current: Mapping[str, Sequence[object]], delivered: Snapshot) -> bool:
    """Whether the VEN must be told: an event is new, modified, changed status, or vanished.

    An event that vanished while the VEN thinks it open (its devices were taken out of the
    invitation) is news; one dropping out after its end was delivered is not.
    """
    if any(delivered.get(k) is None or list(delivered[k]) != list(v) for k, v in current.items()):
        return True
    return any(
        k not in current and str(v[1]) not in TERMINAL_STATUSES for k, v in delivered.items()
    )


def after_delivery(
    current: Mapping[str, Sequence[object]], delivered: Snapshot, known: set[str]
) -> dict[str, list[object]]:
    """What the VEN knows once ``current`` reached it; ended events stay while still loaded."""
    kept = {
        k: list(v)
        for k, v in delivered.items()
        if k in known and k not in current and str(v[1]) in TERMINAL_STATUSES
    }
    return kept | {k: list(v) for k, v in current.items()}


def sampling_period(
    wanted: timedelta, offered_min: timedelta | None, offered_max: timedelta | None
) -> timedelta:
    """The sampling period to ask of a VEN's report point: ``wanted`` moved into the range the
    VEN offered (its oadrMinPeriod to oadrMaxPeriod), which is the nearest to it the VEN takes.

    A bound that is missing or not positive bounds nothing; when the minimum exceeds the
    maximum the minimum wins (never sample faster than the VEN can).
    """
    period = wanted
    if offered_max is not None and offered_max > timedelta() and period > offered_max:
        period = offered_max
    if offered_min is not None and offered_min > timedelta() and period < offered_min:
        period = offered_min
    return period
