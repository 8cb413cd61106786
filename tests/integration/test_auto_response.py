"""Auto-response answers for the operator: after its real delay, from measured power only."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from gateway.services.container import Services
from gateway.settings import Settings
from tests.support import Api, MutableClock, in_minutes, power_json


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


async def _configure(api: Api, **fields: object) -> None:
    body = {
        "enabled": True,
        "max_reduction_percentage": 20.0,
        "response_delay_seconds": 0,
        "min_notice_minutes": 60,
    }
    body.update(fields)
    await api.put("/api/auto-response", body, status=200)


async def _power(redis: Redis, settings: Settings, clock: MutableClock, **kw: float) -> None:
    for device, value in kw.items():
        await redis.set(f"{settings.redis_prefix}power:{device}", power_json(value, clock.now()))


async def test_defaults_are_off(api: Api) -> None:
    config = await api.get("/api/auto-response")
    assert config["enabled"] is False
    assert config["max_reduction_percentage"] == 20.0
    assert config["response_delay_seconds"] == 300
    assert config["min_notice_minutes"] == 60


async def test_device_without_reading_is_answered_no_never_a_made_up_number(
    api: Api, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    await api.device("a")
    await api.device("b")
    await _power(redis, settings, clock, a=10.0)
    await _configure(api)
    inv = await api.invite(["a", "b"], event_time=in_minutes(120, clock))
    answers = {a["device_id"]: a for a in inv["answers"]}
    assert answers["a"]["answer"] == "YES"
    assert answers["a"]["committed_kw"] == pytest.approx(2.0)  # 20 % of 10 kW
    assert answers["a"]["source"] == "auto"
    assert answers["b"]["answer"] == "NO"
    assert answers["b"]["committed_kw"] == 0.0
    assert "absent" in answers["b"]["reason"]
    assert inv["status"] == "cancelled"  # policy "all": one NO
    assert inv["auto_response"]["due_at"] is None
    assert "2 device(s)" in inv["auto_response"]["note"]


async def test_response_delay_is_really_applied(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    await api.device("a")
    await api.device("b")
    await _configure(api, response_delay_seconds=300)
    inv = await api.invite(["a", "b"], event_time=in_minutes(180, clock))
    assert inv["answers"] == []
    assert inv["status"] == "pending"
    clock.advance(seconds=299)
    await _power(redis, settings, clock, a=5.0, b=15.0)
    assert await services.auto_response.respond_due() == 0
    assert (await api.get(f"/api/invitations/{inv['id']}"))["answers"] == []
    clock.advance(seconds=1)
    await _power(redis, settings, clock, a=5.0, b=15.0)
    assert await services.auto_response.respond_due() == 1
    done = await api.get(f"/api/invitations/{inv['id']}")
    assert done["status"] == "scheduled"
    assert sorted(a["committed_kw"] for a in done["answers"]) == pytest.approx([1.0, 3.0])
    event = await api.get(f"/api/events/{done['event_id']}")
    assert sum(d["committed_kw"] for d in event["devices"]) == pytest.approx(4.0)
    assert await services.auto_response.respond_due() == 0


async def test_stale_reading_counts_as_missing(
    api: Api, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    await api.device("a")
    clock.advance(minutes=-10)
    await _power(redis, settings, clock, a=10.0)  # written 10 minutes ago
    clock.advance(minutes=10)
    await _configure(api)
    inv = await api.invite(["a"], event_time=in_minutes(120, clock))
    assert inv["answers"][0]["answer"] == "NO"
    assert "stale" in inv["answers"][0]["reason"]


async def test_short_notice_is_left_to_the_operator(
    api: Api, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    await api.device("a")
    await _power(redis, settings, clock, a=10.0)
    await _configure(api, min_notice_minutes=60)
    inv = await api.invite(["a"], event_time=in_minutes(30, clock))
    assert inv["status"] == "pending"
    assert inv["answers"] == []
    assert inv["auto_response"]["due_at"] is None
    assert "below the minimum of 60 min" in inv["auto_response"]["note"]


async def test_disabled_auto_response_records_why(api: Api) -> None:
    await api.device("a")
    inv = await api.invite(["a"])
    assert inv["auto_response"] == {"due_at": None, "note": "auto-response is disabled"}


async def test_manual_answers_before_the_due_time_are_kept(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    await api.device("a")
    await api.device("b")
    await _configure(api, response_delay_seconds=60, max_reduction_percentage=50)
    inv = await api.invite(["a", "b"], event_time=in_minutes(180, clock))
    await api.answer(inv["id"], "a", "YES", 7.5)
    clock.advance(seconds=60)
    await _power(redis, settings, clock, a=100.0, b=4.0)
    assert await services.auto_response.respond_due() == 1
    done = await api.get(f"/api/invitations/{inv['id']}")
    answers = {a["device_id"]: a for a in done["answers"]}
    assert answers["a"]["committed_kw"] == 7.5
    assert answers["a"]["source"] == "admin"
    assert answers["b"]["committed_kw"] == pytest.approx(2.0)
    assert answers["b"]["source"] == "auto"
    assert done["status"] == "scheduled"


async def test_disabling_before_the_due_time_stops_the_pending_answer(
    api: Api, services: Services, clock: MutableClock
) -> None:
    await api.device("a")
    await _configure(api, response_delay_seconds=60)
    inv = await api.invite(["a"], event_time=in_minutes(180, clock))
    await _configure(api, enabled=False)
    clock.advance(seconds=61)
    await services.auto_response.respond_due()
    after = await api.get(f"/api/invitations/{inv['id']}")
    assert after["answers"] == []
    assert after["status"] == "pending"
    assert "disabled" in after["auto_response"]["note"]
