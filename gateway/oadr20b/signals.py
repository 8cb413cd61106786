"""OpenADR 2.0b's view of an event's explicit signals (``gateway.domain.signals``): each an
eiEventSignal with its intervals (uid 0, 1, ... and no dtstart: they follow from the active
period), its itemBase and the currentValue in force, plus the event-level facts the active
period carries (rampUp, recovery, startafter tolerance). Pure."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import openleadr
from lxml import etree
from openleadr import enums, objects

from gateway.domain.signals import CURRENCY_UNITS, EventSignal, EventTerms, SignalUnit
from gateway.oadr20b import event_parts as parts


# The itemBase each unit goes out as: openleadr's measurement of it (name, description and
# units the 2.0b schema fixes).
def _itembase(known: objects.Measurement) -> parts.Measurement:
    power = known.power_attributes
    return parts.Measurement(
        known.name, known.description, known.unit, known.scale,
        None if power is None else parts.PowerAttributes(power.hertz, power.voltage, power.ac),
        known.pulse_factor,
    )  # fmt: skip


_MEASUREMENTS: dict[SignalUnit, parts.Measurement] = {
    unit: _itembase(known)
    for unit, known in (
        (SignalUnit.POWER_REAL, enums.MEASUREMENTS.POWER_REAL),
        (SignalUnit.POWER_REACTIVE, enums.MEASUREMENTS.POWER_REACTIVE),
        (SignalUnit.POWER_APPARENT, enums.MEASUREMENTS.POWER_APPARENT),
        (SignalUnit.ENERGY_REAL, enums.MEASUREMENTS.ENERGY_REAL),
        (SignalUnit.ENERGY_REACTIVE, enums.MEASUREMENTS.ENERGY_REACTIVE),
        (SignalUnit.ENERGY_APPARENT, enums.MEASUREMENTS.ENERGY_APPARENT),
        (SignalUnit.CURRENT, enums.MEASUREMENTS.CURRENT),
        (SignalUnit.VOLTAGE, enums.MEASUREMENTS.VOLTAGE),
        (SignalUnit.FREQUENCY, enums.MEASUREMENTS.FREQUENCY),
        (SignalUnit.TEMPERATURE, enums.MEASUREMENTS.TEMPERATURE),
        (SignalUnit.THERM, enums.MEASUREMENTS.THERM),
    )
}
# The currency units with an itemBase. Not currencyPerThm: the schema's currencyType takes
# only currency, currencyPerKW and currencyPerKWh as its itemDescription.
_CURRENCY_UNITS = CURRENCY_UNITS - {SignalUnit.CURRENCY_PER_THERM}
_CODE_LIST = "oadr_ISO_ISO3AlphaCurrencyCode_20100407.xsd"


def _schema_currencies() -> frozenset[str]:
    """The ISO 4217 codes the 2.0b schema takes as a currency's itemUnits (its 2010 list)."""
    tree = etree.parse(str(Path(openleadr.__file__).parent / "schema" / _CODE_LIST))
    found = tree.iterfind(".//{http://www.w3.org/2001/XMLSchema}enumeration")
    return frozenset(str(e.get("value")) for e in found)


SCHEMA_CURRENCIES = _schema_currencies()


def measurement(signal: EventSignal) -> parts.Measurement | None:
    """The signal's itemBase. A currency unit has one when its currency is named and the
    2.0b schema's code list has it (a code newer than 2010, such as VES, goes without: the
    itemBase is optional, a made-up currency is not)."""
    if signal.unit in _CURRENCY_UNITS:
        if signal.currency is None or signal.currency not in SCHEMA_CURRENCIES:
            return None
        name = signal.unit.value  # the schema's element and itemDescription
        return parts.Measurement(name, name, signal.currency, "none", None, None)
    base = _MEASUREMENTS.get(signal.unit) if signal.unit is not None else None
    if base is None:
        return None
    scale = signal.scale.value if signal.scale is not None else base.scale
    return dataclasses.replace(base, scale=scale)


def event_signals(
    event_id: str, terms: EventTerms, offset: timedelta | None
) -> tuple[parts.EventSignal, ...]:
    """The eiEventSignals of explicit ``terms``; ``offset``: how far into its active period
    the event is (None unless active), whose interval's value is each currentValue (2.0b
    profile: 0 unless active)."""
    built = []
    for n, signal in enumerate(terms.signals):
        current = signal.value_at(offset) if offset is not None else None
        built.append(
            parts.EventSignal(
                intervals=tuple(parts.Interval(i.duration, i.value) for i in signal.intervals),
                signal_name=signal.kind.value,
                signal_type=signal.type.value,
                signal_id=f"{event_id}-{n}",
                measurement=measurement(signal),
                current_value=float(current) if current is not None else 0.0,
            )
        )
    return tuple(built)


def active_period(start: datetime, duration: timedelta, terms: EventTerms) -> parts.ActivePeriod:
    """The active period with the event's rampUp, recovery and startafter, when it has them."""
    return parts.ActivePeriod(
        dtstart=start,
        duration=duration,
        ramp_up_period=terms.ramp_up or None,
        recovery_period=terms.recovery or None,
        tolerance={"startafter": terms.start_after} if terms.start_after else None,
    )
