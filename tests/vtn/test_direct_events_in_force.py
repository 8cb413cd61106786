"""A direct event in force gets a new end (``PUT /api/events/{id}`` with ``duration_minutes``):
the last interval of its signals takes the difference, its VENs get it as modificationNumber
+ 1, still active with the value in force; nothing else of it changes, and never into the
past. Checked with the raw-XML VEN of ``tests.oadr20b``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.oadr20b.messages import EventReply
from tests.oadr20b.ven import RawVen, RawVens, raw_vens
from tests.support import Api, MutableClock, in_minutes
from tests.vtn.raw_ven import registered

MINUTE = timedelta(minutes=1)


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def vens(vtn_url: str, clock: MutableClock) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url, clock.now) as made:
        yield made


async def _in_force(api: Api, clock: MutableClock, ven: RawVen, device: str) -> Any:
    """Two 10-min price intervals (0.2, then 0.3) from a minute on; 6 minutes later, in
    force, and its VEN told so."""
    signal = {
        "name": "ELECTRICITY_PRICE", "type": "price", "units": "currencyPerKWh",
        "intervals": [{"duration_minutes": 10, "value": v} for v in (0.2, 0.3)],
    }  # fmt: skip
    body = {"start_time": in_minutes(1, clock), "duration_minutes": 20, "devices": [device],
            "signals": [signal]}  # fmt: skip
    created = await api.post("/api/events", body, status=201)
    clock.advance(minutes=6)
    event = (await ven.poll()).event(created["id"])
    assert (event.status, event.modification_number) == ("active", 0)
    return created


@pytest.mark.parametrize(("minutes", "last"), [(15, 5), (30, 20)])
async def test_an_event_in_force_gets_a_new_end_in_its_last_interval(
    api: Api, vens: RawVens, clock: MutableClock, minutes: int, last: int
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    created = await _in_force(api, clock, ven, "a1")
    url = f"/api/events/{created['id']}"
    changed = await api.put(url, {"duration_minutes": minutes}, status=200)
    start = datetime.fromisoformat(created["start_time"])
    assert changed["modification_number"] == 1
    assert datetime.fromisoformat(changed["end_time"]) == start + minutes * MINUTE
    assert datetime.fromisoformat(changed["start_time"]) == start
    answer = await ven.poll()
    event = answer.event(created["id"])
    assert (event.status, event.modification_number) == ("active", 1)
    assert (event.start, event.duration) == (start, minutes * MINUTE)
    price = event.signal("ELECTRICITY_PRICE")
    assert [i.duration for i in price.intervals] == [10 * MINUTE, last * MINUTE]
    assert [i.values for i in price.intervals] == [(0.2,), (0.3,)]
    assert price.current_value == 0.2  # the value in force, five minutes in
    reply = await ven.answer_events(answer, [EventReply(created["id"], 1, "optOut")])
    assert reply.code == 200


async def test_an_event_in_force_changes_only_its_end_and_not_into_the_past(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    created = await _in_force(api, clock, ven, "a1")  # began 5 min ago, ends in 15
    url = f"/api/events/{created['id']}"
    before = await api.get(url)
    for minutes in (3, 5):  # ended 2 min ago; ends now (that is the cancel)
        refused = await api.put(url, {"duration_minutes": minutes}, status=422)
        assert [f["field"] for f in refused["fields"]] == ["duration_minutes"]
        assert "cancel it" in refused["message"]
    into_first = await api.put(url, {"duration_minutes": 8}, status=422)  # last would be -2 min
    assert "before its last interval begins" in into_first["message"]
    moved = await api.put(url, {"start_time": in_minutes(2, clock), "duration_minutes": 30})
    assert [f["field"] for f in moved["fields"]] == ["start_time"]
    no_duration = await api.put(url, {"priority": 1}, status=422)
    assert [f["field"] for f in no_duration["fields"]] == ["duration_minutes"]
    for changes in ({"priority": 1}, {"target_kw": 3.0}, {"response_required": "never"}):
        refused = await api.put(url, {"duration_minutes": 30, **changes}, status=409)
        assert "only its duration can change" in refused["message"], changes
    assert await api.get(url) == before
    assert (await ven.poll()).message_type == "oadrResponse"  # nothing new for the VEN


async def test_a_cancelled_or_completed_event_cannot_be_modified(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    cancelled = await _in_force(api, clock, ven, "a1")
    await api.post(f"/api/events/{cancelled['id']}/cancel", {}, status=200)
    refused = await api.put(f"/api/events/{cancelled['id']}", {"duration_minutes": 30})
    assert (refused["error"], "cancelled: it cannot be modified" in refused["message"]) == (
        "conflict", True,
    )  # fmt: skip
    over = await _in_force(api, clock, ven, "a1")
    clock.advance(minutes=20)  # its window is over, the executor not yet told
    refused = await api.put(f"/api/events/{over['id']}", {"duration_minutes": 60}, status=409)
    assert "its window ended" in refused["message"]
