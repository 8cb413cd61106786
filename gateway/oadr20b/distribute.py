"""One VEN's oadrDistributeEvent and what it tells the VEN: the same for a poll's answer
(``EventHandlers``) and a push (``gateway.oadr20b_push.distributes``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.oadr20b.baselines import baselines_of
from gateway.oadr20b.config import VtnConfig
from gateway.oadr20b.mapping import OadrEvent, after_delivery, oadr_event
from gateway.oadr20b.payloads import Reply, ok
from gateway.oadr20b.state import VenState


@dataclass(frozen=True, slots=True)
class Distribute:
    """``reply`` lists ``shown``; ``delivered`` is what the VEN knows once it has it, and
    ``note`` its requestID with the events it lists (a VEN's error echoing it names them)."""

    reply: Reply
    delivered: dict[str, Any]
    note: dict[str, Any]


def distribute_to(
    ven: VenState,
    shown: list[OadrEvent],
    current: dict[str, list[object]],
    request_id: str | None,
    now: datetime,
    config: VtnConfig,
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
            "vtn_id": config.vtn_id,
            "events": [oadr_event(e, now, config) for e in shown],
            "baselines": baselines_of(
                [(e.event_id, e.terms.baseline, e.resource_ids) for e in shown]
            ),
        },
    )
    return Distribute(reply, delivered, note)
