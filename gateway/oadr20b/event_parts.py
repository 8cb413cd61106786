"""An oadrEvent as ``distribute_xml`` writes it: its descriptor, active period, signals and
targets, named as openleadr's ``objects`` name them (the upstream VEN still uses those).

Plain dataclasses: openleadr's objects check their signal names and types against its
enums on every construction (recomputing each enum's values), which cost more than writing
the XML for each VEN of a push. What they checked is checked where events are made. Not
frozen either (made, written and dropped, never changed): a frozen dataclass's ``__init__``
sets each field through ``object.__setattr__``, five times as slow, and a push makes a dozen
of them for each VEN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(slots=True)
class PowerAttributes:
    hertz: int = 50
    voltage: int = 230
    ac: bool = True


@dataclass(slots=True)
class Measurement:
    """A signal's itemBase: ``name`` is the schema's element (powerReal, energyReal, ...)."""

    name: str
    description: str
    unit: str
    scale: str | None = None
    power_attributes: PowerAttributes | None = None
    pulse_factor: int | None = None


@dataclass(slots=True)
class Interval:
    duration: timedelta
    signal_payload: float
    dtstart: datetime | None = None  # 2.0b: none; an interval follows the one before it


@dataclass(slots=True)
class EventSignal:
    intervals: tuple[Interval, ...]
    signal_name: str
    signal_type: str
    signal_id: str
    measurement: Measurement | None = None
    current_value: float | None = None


@dataclass(slots=True)
class ActivePeriod:
    dtstart: datetime
    duration: timedelta
    tolerance: dict[str, timedelta] | None = None  # {"startafter": ...}
    notification_period: timedelta | None = None
    ramp_up_period: timedelta | None = None
    recovery_period: timedelta | None = None


@dataclass(slots=True)
class EventDescriptor:
    event_id: str
    modification_number: int
    market_context: str
    event_status: str
    created_date_time: datetime
    modification_date_time: datetime | None = None
    modification_reason: str | None = None
    priority: int | None = 0
    test_event: bool | None = False
    vtn_comment: str | None = None


@dataclass(slots=True)
class Target:
    ven_id: str | None = None
    resource_id: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    party_id: str | None = None


@dataclass(slots=True)
class Event:
    event_descriptor: EventDescriptor
    active_period: ActivePeriod
    event_signals: tuple[EventSignal, ...]
    targets: tuple[Target, ...]
    response_required: str = "always"
