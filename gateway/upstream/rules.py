"""What an upstream (utility) OpenADR event asks of the gateway, and what to answer (pure).

- Event time and duration come from the event's active period.
- The load: a ``LOAD_DISPATCH`` signal of type ``delta`` gives the kW to shed (its largest
  interval payload, scaled to kW; a ``setpoint`` is refused), which over the duration is
  the invitation's energy (kWh = kW x hours).
  Without one, a ``SIMPLE`` level gives a share to shed: level 1 -> 10 %, 2 -> 25 %,
  3 -> 50 % (level 0, normal operation, asks for nothing).
- Target devices: the configured devices (all when none are configured); when the event
  names resourceIDs, those of them whose resource id it names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from gateway.domain.lifecycle import InvitationStatus
from gateway.oadr20b.mapping import SCALE_TO_KW, OadrEventStatus

SIMPLE_LEVEL_SHARE = {0: 0.0, 1: 10.0, 2: 25.0, 3: 50.0}


class Opt(StrEnum):
    IN = "optIn"
    OUT = "optOut"


@dataclass(frozen=True)
class UpstreamTerms:
    event_id: str
    modification_number: int
    start: datetime
    duration: timedelta
    load_kw: float  # 0 when the event gives a share only
    load_percentage: float
    resource_ids: tuple[str, ...]
    test_event: bool
    cancelled: bool

    @property
    def duration_minutes(self) -> int:
        return max(1, round(self.duration.total_seconds() / 60))

    @property
    def load_kwh(self) -> float:
        return self.load_kw * self.duration_minutes / 60.0

    @property
    def asks_for_nothing(self) -> bool:
        return self.load_kw <= 0 and self.load_percentage <= 0


class UnusableEvent(ValueError):
    """The event cannot become an invitation; the reason goes with the answer."""


def read_event(event: Mapping[str, Any]) -> UpstreamTerms:
    """The terms of an event as openleadr parses it; ``UnusableEvent`` when it has none."""
    descriptor = event.get("event_descriptor") or {}
    period = event.get("active_period") or {}
    event_id = descriptor.get("event_id")
    start, duration = period.get("dtstart"), period.get("duration")
    if not isinstance(event_id, str) or not event_id:
        raise UnusableEvent("the event has no eventID")
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise UnusableEvent("the event has no active period start")
    if not isinstance(duration, timedelta) or duration <= timedelta(0):
        raise UnusableEvent("the event's active period has no duration")
    signals = event.get("event_signals") or []
    if isinstance(signals, Mapping):
        signals = signals.get("event_signals") or []
    load_kw, share = 0.0, 0.0
    for signal in signals:
        name = signal.get("signal_name")
        value = _largest_payload(signal)
        if value is None:
            continue
        if name == "LOAD_DISPATCH":
            kind = str(signal.get("signal_type") or "delta")
            if kind != "delta":
                # A setpoint is the load to run at, not an amount to shed: without a
                # baseline of its own the gateway cannot turn it into a reduction.
                raise UnusableEvent(f"LOAD_DISPATCH of type {kind} is not supported (delta is)")
            load_kw = max(load_kw, value * _scale(signal))
        elif name == "SIMPLE":
            share = max(share, SIMPLE_LEVEL_SHARE.get(round(value), 0.0))
    if not (0 <= load_kw < 1e9):
        raise UnusableEvent(f"the load to shed ({load_kw} kW) is out of range")
    targets = event.get("targets_by_type") or {}
    resources = targets.get("resource_id") or []
    if isinstance(resources, str):
        resources = [resources]
    status = str(descriptor.get("event_status") or "").lower()
    return UpstreamTerms(
        event_id=event_id,
        modification_number=int(descriptor.get("modification_number") or 0),
        start=start,
        duration=duration,
        load_kw=load_kw,
        load_percentage=share if load_kw <= 0 else 0.0,
        resource_ids=tuple(str(r) for r in resources),
        test_event=bool(descriptor.get("test_event")),
        cancelled=status == OadrEventStatus.CANCELLED,
    )


def _largest_payload(signal: Mapping[str, Any]) -> float | None:
    """The most the signal asks over its intervals (a ramp [0, 5] asks for 5)."""
    values = [
        float(i.get("signal_payload"))
        for i in signal.get("intervals") or []
        if isinstance(i.get("signal_payload"), int | float)
        and not isinstance(i.get("signal_payload"), bool)
        and math.isfinite(i.get("signal_payload"))
    ]
    return max(values) if values else None


def _scale(signal: Mapping[str, Any]) -> float:
    for key in ("powerReal", "measurement"):
        item = signal.get(key)
        if isinstance(item, Mapping):
            scale = item.get("si_scale_code") or item.get("scale")
            return SCALE_TO_KW.get(str(scale), 1.0)
    return 1.0  # no item base: kW, as LOAD_DISPATCH deltas are given by this gateway


def target_devices(
    configured: Sequence[str], all_devices: Mapping[str, str | None], resource_ids: Sequence[str]
) -> list[str]:
    """The devices an event is for: ``all_devices`` maps device id -> resource id."""
    pool = [d for d in configured if d in all_devices] if configured else sorted(all_devices)
    if not resource_ids:
        return pool
    wanted = set(resource_ids)
    return [d for d in pool if all_devices.get(d) in wanted or d in wanted]


# Status -> opt, the one place: an invitation the devices accepted goes up as optIn, one
# that was cancelled or expired as optOut; a pending one has no opt yet.
OPT_OF_STATUS: dict[InvitationStatus, Opt] = {
    InvitationStatus.SCHEDULED: Opt.IN,
    InvitationStatus.CANCELLED: Opt.OUT,
    InvitationStatus.EXPIRED: Opt.OUT,
}


def opt_of(invitation_status: InvitationStatus | None) -> Opt | None:
    """The opt an invitation's status stands for; None while it is undecided (or unknown)."""
    return None if invitation_status is None else OPT_OF_STATUS.get(invitation_status)


def opt_for(
    invitation_status: InvitationStatus | None, now: datetime, due_at: datetime, default: Opt
) -> tuple[Opt, str] | None:
    """The answer to send upstream, and why; None while it is not yet time to answer."""
    opt = opt_of(invitation_status)
    if opt is Opt.IN:
        return opt, "the devices accepted"
    if opt is not None:
        return opt, f"the invitation was {invitation_status}"
    if now >= due_at:
        return default, f"no decision by the response deadline: default {default.value}"
    return None
