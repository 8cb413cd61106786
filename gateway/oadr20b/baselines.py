"""An event's baseline on the 2.0b wire: what its eiEventBaseline says (``distribute_xml``
writes it as the last of the event's eiEventSignals)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.signals import Baseline


@dataclass(frozen=True, slots=True)
class EventBaseline:
    """What goes out for one event: its baseline, for these resources."""

    baseline_id: str
    baseline: Baseline
    resource_ids: tuple[str, ...]
