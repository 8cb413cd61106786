"""An event's baseline on the 2.0b wire: what its eiEventBaseline says (``distribute_xml``
writes it as the last of the event's eiEventSignals)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.signals import Baseline


@dataclass(frozen=True, slots=True)
class EventBaseline:
    """What goes out for one event: its baseline, for these resources."""

    baseline_id: str
    baseline: Baseline
    resource_ids: tuple[str, ...]


def baselines_of(
    events: Sequence[tuple[str, Baseline | None, tuple[str, ...]]],
) -> dict[str, EventBaseline]:
    """The baselines of (eventID, baseline, resourceIDs) triples that have one."""
    return {
        event_id: EventBaseline(f"{event_id}-baseline", baseline, resources)
        for event_id, baseline, resources in events
        if baseline is not None
    }
