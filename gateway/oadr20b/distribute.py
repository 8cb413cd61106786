"""One VEN's oadrDistributeEvent and what it tells the VEN: the same for a poll's answer
(``EventHandlers``) and a push (``gateway.oadr20b_push.distributes``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.oadr20b.baselines import EventBaseline
from gateway.oadr20b.config import VtnConfig
from gateway.oadr20b.distribute_xml import EventOut
from gateway.oadr20b.mapping import OadrEvent, OadrEventStatus, after_delivery, oadr_event
from gateway.oadr20b.payloads import Reply, ok
from gateway.oadr20b.state import VenState


@dataclass(frozen=True, slots=True)
class Distribute:
    """``reply`` lists ``shown``; ``delivered`` is what the VEN knows once it has it, and
    ``note`` its requestID with the events it lists (a VEN's error echoing it names them)."""

    reply: Reply
    delivered: dict[str, Any]
    note: dict[str, Any]


class EventsOut:
    """Each VEN's events as they go out, kept while they stay the same: an event unchanged
    and in the same status goes out as it did (its parts and text made once), so a VEN's
    distribute costs what its changed events cost, not what all of them do. Keyed by the
    event's value (any change of it, its program or its answers is another key) and status;
    an active event with explicit signals is made each time (its current interval moves)."""

    def __init__(self, config: VtnConfig, limit: int = 50_000) -> None:
        self._config = config
        self.vtn_id = config.vtn_id
        self._limit = limit
        self._kept: dict[tuple[OadrEvent, OadrEventStatus], EventOut] = {}

    def __call__(self, event: OadrEvent, now: datetime) -> EventOut:
        status = event.status(now, self._config.near_window)
        if status is OadrEventStatus.ACTIVE and event.terms.explicit:
            return self._made(event, now)
        key = (event, status)
        kept = self._kept.get(key)
        if kept is None:
            if len(self._kept) >= self._limit:
                self._kept.clear()  # ended and changed events' entries go with the rest
            kept = self._kept[key] = self._made(event, now)
        return kept

    def _made(self, event: OadrEvent, now: datetime) -> EventOut:
        baseline = event.terms.baseline
        return EventOut(
            oadr_event(event, now, self._config),
            None if baseline is None else EventBaseline(
                f"{event.event_id}-baseline", baseline, event.resource_ids
            ),
        )  # fmt: skip


def distribute_to(
    ven: VenState,
    shown: list[OadrEvent],
    current: dict[str, list[object]],
    request_id: str | None,
    now: datetime,
    events_out: EventsOut,
) -> Distribute:
    """The distribute of ``shown`` (``current``: their snapshot), answering ``request_id``."""
    delivered = after_delivery(current, ven.record.delivered, {e.event_id for e in ven.events})
    note: dict[str, Any] = {
        "request_id": uuid.uuid4().hex, "event_ids": [e.event_id for e in shown],
    }  # fmt: skip
    reply: Reply = (
        "oadrDistributeEvent",
        {
            "response": ok(request_id),
            "request_id": note["request_id"],
            "vtn_id": events_out.vtn_id,
            "events": [events_out(e, now) for e in shown],
            "sent_at": now,  # each event's modificationDateTime
        },
    )
    return Distribute(reply, delivered, note)
