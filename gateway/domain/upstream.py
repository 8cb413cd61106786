"""What an upstream (utility) OpenADR event asks of the gateway, and what to answer (pure).

- Event time and duration come from the event's active period.
- The load: a ``LOAD_DISPATCH`` signal gives the kW to shed (its first interval's payload,
  scaled to kW), which over the duration is the invitation's energy (kWh = kW x hours).
  Without one, a ``SIMPLE`` level gives a share to shed: level 1 -> 10 %, 2 -> 25 %,
  3 -> 50 % (level 0, normal operation, asks for nothing).
- Target devices: the configured devices (all when none are configured); when the event
  names resourceIDs, those of them whose resource id it names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

SIMPLE_LEVEL_SHARE = {0: 0.0, 1: 10.0, 2: 25.0, 3: 50.0}
# A LOAD_DISPATCH payload in these scales is turned into kW.
SCALE_TO_KW = {"none": 1e-3, "k": 1.0, "M": 1e3, "G": 1e6}


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
        value = _first_payload(signal)
        if value is None:
            continue
        if name == "LOAD_DISPATCH":
            load_kw = max(load_kw, value * _scale(signal))
        elif name == "SIMPLE":
            share = max(share, SIMPLE_LEVEL_SHARE.get(int(value), 0.0))
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
        cancelled=status == "cancelled",
    )


def _first_payload(signal: Mapping[str, Any]) -> float | None:
    intervals = signal.get("intervals") or []
    for interval in intervals:
        value = interval.get("signal_payload")
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            return float(value)
    return None


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


def opt_for(
    invitation_status: str | None, now: datetime, due_at: datetime, default: Opt
) -> tuple[Opt, str] | None:
    """The answer to send upstream, and why; None while it is not yet time to answer."""
    if invitation_status == "scheduled":
        return Opt.IN, "the devices accepted"
    if invitation_status in ("cancelled", "expired"):
        return Opt.OUT, f"the invitation was {invitation_status}"
    if now >= due_at:
        return default, f"no decision by the response deadline: default {default.value}"
    return None
