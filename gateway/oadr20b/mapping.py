"""OpenADR 2.0b's view of an event a VEN must know (``gateway.domain.ven_events``): the
event status (far, near, active, completed, cancelled) from the clock, SIMPLE levels from the
share of load, the LOAD_DISPATCH signal in kW, what a VEN was last told, scale codes and
sampling periods. Pure.

- Status is recomputed from the clock on every poll: ``far`` until ``near_window`` (or the
  event's rampUp, when longer) before the start, then ``near``, ``active`` during the period,
  ``completed`` after it; ``cancelled`` when the event is off. A cancel whose response is
  required goes out on every poll until the VEN acknowledges it (``awaits_cancel_ack``).
- An event with explicit signals (``gateway.domain.signals``) goes out with those
  (``gateway.oadr20b.signals``) and its own priority, responseRequired, rampUp, recovery and
  startafter; one without (an invitation's) with SIMPLE and LOAD_DISPATCH as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.domain.programs import SimpleLevel
from gateway.domain.signals import ResponseRequired
from gateway.domain.ven_events import InvitationFacts, VenEvent
from gateway.domain.ven_events import ven_events as neutral_ven_events
from gateway.oadr20b import event_parts as parts
from gateway.oadr20b.config import VtnConfig
from gateway.oadr20b.signals import active_period, event_signals

# SI scale codes (OpenADR siScaleCode) of a power value given in W, as factors to kW.
SCALE_TO_KW = {"none": 1e-3, "k": 1.0, "M": 1e3, "G": 1e6}


class OadrEventStatus(StrEnum):
    FAR = "far"
    NEAR = "near"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({OadrEventStatus.COMPLETED, OadrEventStatus.CANCELLED})

# An invitation that gives only energy (kWh, no %) asks for a moderate shed.
SIMPLE_LEVEL_WITHOUT_SHARE = 1


def simple_level(load_percentage: float, levels: Sequence[SimpleLevel]) -> int:
    """The level of the first row of the program's table (``levels``: upper bounds of the
    share of load, inclusive) that covers ``load_percentage``; 1 when no share is given."""
    if load_percentage <= 0:
        return SIMPLE_LEVEL_WITHOUT_SHARE
    for bound, level in levels:
        if load_percentage <= bound:
            return level
    return levels[-1].level


@dataclass(frozen=True, slots=True)
class OadrEvent(VenEvent):
    """A VEN's event as 2.0b shows it: the same facts, with a status and a SIMPLE level."""

    @property
    def priority(self) -> int:
        """Its own, else its program's."""
        own = self.terms.priority
        return self.program.terms.priority if own is None else own

    @property
    def simple_level(self) -> int:
        return simple_level(self.load_percentage, self.program.terms.simple_levels)

    def status(self, now: datetime, near_window: timedelta) -> OadrEventStatus:
        if self.cancelled:
            return OadrEventStatus.CANCELLED
        if now >= self.end:
            return OadrEventStatus.COMPLETED
        if now >= self.start:
            return OadrEventStatus.ACTIVE
        # EPRI's rule: near once now + rampUp reaches the start.
        if now >= self.start - max(near_window, self.terms.ramp_up or timedelta()):
            return OadrEventStatus.NEAR
        return OadrEventStatus.FAR


_VEN_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(VenEvent))


def as_oadr(event: VenEvent) -> OadrEvent:
    return OadrEvent(*(getattr(event, name) for name in _VEN_EVENT_FIELDS))


def ven_events(facts: InvitationFacts) -> dict[str, OadrEvent]:
    """The 2.0b event each VEN owning invited devices gets, by venID."""
    return {ven_id: as_oadr(e) for ven_id, e in neutral_ven_events(facts).items()}


# What a VEN was last told: eventID -> [modificationNumber, status].
Snapshot = Mapping[str, Sequence[object]]


def snapshot(
    events: Sequence[OadrEvent], now: datetime, near_window: timedelta
) -> dict[str, list[object]]:
    return {e.event_id: [e.modification_number, e.status(now, near_window).value] for e in events}


# An ended event stays in the VEN's list this long after its end (EPRI lists completed and
# cancelled events; A_E2_0685 wants the completed one beside an event added after it).
ENDED_LISTED_FOR = timedelta(hours=1)


def visible(
    events: Sequence[OadrEvent], delivered: Snapshot, now: datetime, near_window: timedelta
) -> list[OadrEvent]:
    """The events a distribute lists, in EPRI's order (``_order``): every open one, and ended
    ones the VEN was not yet told.

    Leaving an event out is an implied cancel, so an open event is always listed; an ended one
    until ``ENDED_LISTED_FOR`` after its end, and after that until the VEN was told how it
    ended (when it had heard of it).
    """
    shown = []
    for event in events:
        status = event.status(now, near_window)
        if awaits_cancel_ack(event, now, near_window):
            pass  # told again until the VEN acknowledges it
        elif status in TERMINAL_STATUSES:
            told = delivered.get(event.event_id)
            heard = told is not None and list(told) == [event.modification_number, status.value]
            if now - event.end > ENDED_LISTED_FOR and (heard or told is None):
                continue  # over for long: heard how it ended, or never heard of it
        shown.append(event)
    return sorted(shown, key=lambda e: _order(e, now, near_window))


def awaits_cancel_ack(event: OadrEvent, now: datetime, near_window: timedelta) -> bool:
    """A cancelled event whose response is required, that the VEN has not acknowledged at
    its current modificationNumber: every poll brings it again (EPRI re-sends them)."""
    return (
        event.status(now, near_window) is OadrEventStatus.CANCELLED
        and event.terms.response_required is ResponseRequired.ALWAYS
        and not event.cancel_acknowledged
    )


def _order(event: OadrEvent, now: datetime, near_window: timedelta) -> tuple[int, int, datetime]:
    """EPRI's event order ("statement 15"): active events first, by priority (lower number
    first) then start; then the others by start; completed ones last."""
    status = event.status(now, near_window)
    if status is OadrEventStatus.ACTIVE:
        return 0, event.priority, event.start
    return (2 if status is OadrEventStatus.COMPLETED else 1), 0, event.start


def cancel_unacknowledged(
    shown: Sequence[OadrEvent], now: datetime, near_window: timedelta
) -> bool:
    """Whether a distribute of ``shown`` re-tells a cancel the VEN has not acknowledged: a
    poll then gets one though nothing changed, and a push-mode VEN is pushed it again."""
    return any(awaits_cancel_ack(e, now, near_window) for e in shown)


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


def oadr_event(event: OadrEvent, now: datetime, config: VtnConfig) -> parts.Event:
    """The oadrEvent a distribute carries: its explicit signals, or SIMPLE and LOAD_DISPATCH
    (kW, ``delta``) in one interval over the whole active period; the status from the clock
    (it knows cancellation and the configured near window), and its program's market
    context, test flag and priority (unless the event has its own)."""
    status = event.status(now, config.near_window)
    active = status is OadrEventStatus.ACTIVE
    terms = event.terms
    program = event.program.terms
    if terms.explicit:
        signals = event_signals(event.event_id, terms, now - event.start if active else None)
    else:
        signals = _invitation_signals(event, active)
    return parts.Event(
        event_descriptor=parts.EventDescriptor(
            event_id=event.event_id,
            modification_number=event.modification_number,
            market_context=program.market_context,
            event_status=status.value,
            created_date_time=event.created_at,
            priority=event.priority,
            test_event=program.test_events,
        ),
        active_period=active_period(event.start, event.duration, terms),
        event_signals=signals,
        targets=(
            parts.Target(ven_id=event.ven_id),
            *(parts.Target(resource_id=r) for r in event.resource_ids),
        ),
        response_required=terms.response_required.value,
    )


# LOAD_DISPATCH's itemBase: real power in kW.
_DISPATCH_KW = parts.Measurement(
    name="powerReal", description="RealPower", unit="W", scale="k",
    power_attributes=parts.PowerAttributes(hertz=50, voltage=230, ac=True),
)  # fmt: skip


def _invitation_signals(event: OadrEvent, active: bool) -> tuple[parts.EventSignal, ...]:
    """SIMPLE from the share of load and LOAD_DISPATCH in kW, in one interval each."""

    def interval(value: float) -> tuple[parts.Interval, ...]:
        # 2.0b: an interval has no dtstart of its own; it follows from the active period.
        return (parts.Interval(event.duration, value),)

    dispatch_kw = round(event.dispatch_kw, 6)
    return (
        # currentValue (2.0b profile): 0 unless active, else the one interval's value.
        parts.EventSignal(
            intervals=interval(float(event.simple_level)),
            signal_name="SIMPLE",
            signal_type="level",
            signal_id=f"{event.event_id}-simple",
            current_value=float(event.simple_level) if active else 0.0,
        ),
        parts.EventSignal(
            intervals=interval(dispatch_kw),
            signal_name="LOAD_DISPATCH",
            signal_type="delta",
            signal_id=f"{event.event_id}-dispatch",
            measurement=_DISPATCH_KW,
            current_value=dispatch_kw if active else 0.0,
        ),
    )
