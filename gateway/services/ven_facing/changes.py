"""The change feed: which VENs' view changed, said by the code that makes the change.

A change is staged with the dr_events message that announces it (``ServiceContext.announce``,
same outbox row, same transaction), and published on its own channel,
``{prefix}ven_changes``, as the outbox publishes the message; dr_events subscribers see their
message exactly as before. Every transport that caches what its VENs must know (the 2.0b pull
VTN today) reads this feed instead of guessing from dr_events payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ChangeKind(StrEnum):
    INVITATION = "invitation"  # its terms, answers or status: its VENs, and those of device_ids
    EVENT = "event"  # a direct event (no invitation), ``event_id``: the VENs of device_ids
    DEVICE = "device"  # the devices were given to ``ven_id`` (registered)
    VEN = "ven"  # ``ven_id``'s own standing changed: enrolled in a program or removed, or an
    #              operator's request (cancel, re-register) waits for it
    PROGRAM = "program"  # ``program_id``'s terms changed: every VEN holding its events
    ANY = "any"  # an event was cancelled or missed: any VEN may be concerned


@dataclass(frozen=True, slots=True)
class VenChange:
    kind: ChangeKind
    invitation_id: str | None = None
    device_ids: tuple[str, ...] = ()
    ven_id: str | None = None
    program_id: str | None = None
    message_id: str | None = None  # the dr_events message it came with (set by the outbox)
    event_id: str | None = None  # a direct event's (EVENT)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "invitation_id": self.invitation_id,
            "event_id": self.event_id,
            "device_ids": list(self.device_ids),
            "ven_id": self.ven_id,
            "program_id": self.program_id,
        }

    @classmethod
    def decode(cls, data: bytes | str | None) -> VenChange:
        """Raises ``ValueError`` for anything that is not a change this feed publishes."""
        try:
            raw = json.loads(data or b"")
            if not isinstance(raw, dict):
                raise TypeError(type(raw).__name__)
            devices = raw.get("device_ids") or []
            return cls(
                kind=ChangeKind(raw["kind"]),
                invitation_id=_text(raw.get("invitation_id")),
                event_id=_text(raw.get("event_id")),
                device_ids=tuple(str(d) for d in devices),
                ven_id=_text(raw.get("ven_id")),
                program_id=_text(raw.get("program_id")),
                message_id=_text(raw.get("message_id")),
            )
        except (KeyError, TypeError, UnicodeDecodeError) as err:
            raise ValueError(f"not a VEN change: {err!r}") from err


def changes_channel(prefix: str) -> str:
    return f"{prefix}ven_changes"


def _text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    return value
