"""What a VEN must know of an event, whatever the protocol it speaks (pure: no I/O).

- One event per invitation and VEN; its id is the invitation id, so it is stable across
  restarts and gateway processes, and a VEN's answer names the invitation directly.
- The VEN is asked to shed its devices' share of the invitation's target, split equally over
  the invited devices (``per_device_kw``), and the share of load the invitation gives.
- ``cancelled`` when the invitation or its event was cancelled, declined, expired or missed
  (``event_cancelled``).
- Each event carries its invitation's program: the terms (market context, priority, test
  flag, SIMPLE level table) a transport shows the VEN with it.
- An event scheduled directly (no invitation) reaches the VENs of its devices the same way
  (``direct``; its id is the event's), with its explicit signals and event-level facts
  (``terms``, ``gateway.domain.signals``) when it has them.

How a protocol shows this (OpenADR 2.0b: far/near status, SIMPLE levels, LOAD_DISPATCH) is
its adapter's business (``gateway.oadr20b.mapping`` for 2.0b).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.devices import resource_id_of
from gateway.domain.invitations import per_device_kw
from gateway.domain.lifecycle import EventStatus, InvitationStatus
from gateway.domain.programs import Program
from gateway.domain.signals import NO_TERMS, EventTerms

# An invitation in one of these is off, and so is the event of one in these.
_CANCELLED_INVITATIONS = frozenset({InvitationStatus.CANCELLED, InvitationStatus.EXPIRED})
_CANCELLED_EVENTS = frozenset({EventStatus.CANCELLED, EventStatus.MISSED})


def event_cancelled(invitation: InvitationStatus | None, event: EventStatus | None) -> bool:
    """Whether the VENs must hear the event is off: its invitation was declined, cancelled
    or expired, or its event was cancelled or missed (``event``: None before there is one;
    ``invitation``: None for an event scheduled directly)."""
    return invitation in _CANCELLED_INVITATIONS or event in _CANCELLED_EVENTS


@dataclass(frozen=True, slots=True)
class InvitedDevice:
    device_id: str
    ven_id: str | None
    resource_id: str | None


@dataclass(frozen=True, slots=True)
class InvitationFacts:
    """What a VEN's view needs of an invitation (and of its event, once there is one), or of
    an event scheduled directly (``direct``: ``invitation_id`` is then the event's id).
    ``devices`` may be only those of the VENs asked about; ``invited`` counts every invited
    device (the per-device share), None: as many as ``devices``."""

    invitation_id: str
    created_at: datetime
    event_time: datetime
    duration_minutes: int
    target_kw: float
    load_percentage: float
    modification_number: int
    cancelled: bool
    devices: tuple[InvitedDevice, ...]
    program: Program
    terms: EventTerms = NO_TERMS
    direct: bool = False
    invited: int | None = None


@dataclass(frozen=True, slots=True)
class VenEvent:
    """One VEN's view of one invitation."""

    event_id: str
    ven_id: str
    modification_number: int
    created_at: datetime
    start: datetime
    duration: timedelta
    dispatch_kw: float  # the VEN's devices' share of the target
    load_percentage: float  # the share of load to shed (0: the invitation gives energy only)
    cancelled: bool
    resource_ids: tuple[str, ...]
    device_ids: tuple[str, ...]
    program: Program  # the invitation's: its terms go out with the event
    terms: EventTerms = NO_TERMS  # explicit signals and event-level facts, when it has them
    direct: bool = False  # scheduled without an invitation: event_id is the event's id
    cancel_acknowledged: bool = False  # cancelled, and this VEN acknowledged it (this mod)

    @property
    def end(self) -> datetime:
        return self.start + self.duration


def ven_events(facts: InvitationFacts) -> dict[str, VenEvent]:
    """The event each VEN owning invited devices gets, by venID."""
    by_ven: dict[str, list[InvitedDevice]] = {}
    for device in facts.devices:
        if device.ven_id:
            by_ven.setdefault(device.ven_id, []).append(device)
    invited = len(facts.devices) if facts.invited is None else facts.invited
    per_device = per_device_kw(facts.target_kw, invited)
    return {
        ven_id: VenEvent(
            event_id=facts.invitation_id,
            ven_id=ven_id,
            modification_number=facts.modification_number,
            created_at=facts.created_at,
            start=facts.event_time,
            duration=timedelta(minutes=facts.duration_minutes),
            dispatch_kw=per_device * len(devices),
            load_percentage=facts.load_percentage,
            cancelled=facts.cancelled,
            resource_ids=tuple(resource_id_of(d.device_id, d.resource_id) for d in devices),
            device_ids=tuple(d.device_id for d in devices),
            program=facts.program,
            terms=facts.terms,
            direct=facts.direct,
        )
        for ven_id, devices in by_ven.items()
    }
