"""The VTN state's cache against reads under way: a VEN told of its events while its entry is
being read again keeps what it was told (the read began before it was stored), and the push
sender hears of every VEN a change made stale."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from gateway.clock import SystemClock
from gateway.oadr20b.state import VtnState
from gateway.oadr20b.store import VenRecord, VenSnapshot
from gateway.services.ven_facing.changes import ChangeKind, VenChange, changes_channel


class SlowStore:
    """Answers a VEN's read with what the database held when the read began, once let go."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}
        self.let_go = asyncio.Event()

    async def load(self, ven_id: str, _now: datetime) -> VenSnapshot:
        held = dict(self.stored)  # read at the start, as a transaction would
        await self.let_go.wait()
        return VenSnapshot(VenRecord(ven_id, ven_id, None, "reg-1", held), [], 0)


class QuietRedis:
    async def publish(self, _channel: str, _message: str) -> int:
        return 0


async def test_a_read_under_way_does_not_undo_what_the_ven_was_told() -> None:
    store = SlowStore()
    state = VtnState(store, QuietRedis(), "t:", SystemClock())  # type: ignore[arg-type]
    store.let_go.set()
    assert (await state.get("v1")) is not None
    store.let_go.clear()
    state.invalidate("v1")
    reading = asyncio.ensure_future(state.reload("v1"))
    await asyncio.sleep(0)  # the read has begun, with nothing told yet
    told = {"e1": [0, "near"]}
    store.stored = told  # stored, then noted (EventHandlers.note_told)
    await state.delivered("v1", told)
    store.let_go.set()
    await reading
    entry = await state.get("v1")
    assert entry is not None
    assert entry.record.delivered == told


async def test_the_push_sender_hears_which_vens_a_change_made_stale() -> None:
    store = SlowStore()
    store.let_go.set()
    state = VtnState(store, QuietRedis(), "t:", SystemClock())  # type: ignore[arg-type]
    heard: list[object] = []
    state.on_change(lambda vens: heard.append(None if vens is None else sorted(vens)))
    for ven_id in ("v1", "v2"):
        await state.get(ven_id)
    state.invalidate("v1")
    change = VenChange(ChangeKind.DEVICE, ven_id="v2", device_ids=("d9",))
    state.published([(changes_channel("t:"), json.dumps(change.to_json()))])
    state.invalidate()
    assert heard == [["v1"], ["v2"], None]
    await state.settled()


async def test_reads_of_one_stale_ven_at_once_share_one_reload() -> None:
    store = SlowStore()
    store.let_go.set()
    state = VtnState(store, QuietRedis(), "t:", SystemClock())  # type: ignore[arg-type]
    await state.get("v1")
    store.let_go.clear()
    state.invalidate("v1")
    before = state.reloads
    # A poll and the push sender, say, reading the VEN while its reload is under way.
    both = asyncio.gather(state.get("v1"), state.get("v1"))
    await asyncio.sleep(0)
    store.let_go.set()
    first, second = await both
    assert first is second
    assert state.reloads == before + 1
    assert (await state.get("v1")) is first
