"""An automatic settlement that fails is tried again without a restart: on a capped back-off
after a refusal (no meter data in the event yet), soon after a database outage; the API says
why an event is not settled yet and when the next try is.

The event and meter history are those of ``test_settlement_api`` (2.5 kWh of baseline per
interval, the meter reading 1.0 and 1.2 kWh: 2.8 kWh of reduction).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.exc import OperationalError

from gateway.error_chain import is_unavailable
from gateway.services.container import Services
from gateway.services.settlement_auto import DATA_WAIT, SETTLE_GRACE
from gateway.services.settlement_retry import (
    FIRST_RETRY,
    MAX_RETRY,
    TRANSIENT_RETRY,
    SettlementRetries,
    refusal_delay,
)
from gateway.settings import Settings
from gateway.workers import BackgroundWorker
from tests.settlement.test_settlement_api import START, _csv, _device, _run_event
from tests.support import Api, FakeClock

END = START + timedelta(minutes=30)
DUE = END + SETTLE_GRACE  # the last interval closed, plus the grace
LOGGER = "gateway.services.settlement_auto"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cadence_seconds": 30.0, "meter_sample_seconds": 0}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START - timedelta(minutes=16))


def _at(clock: FakeClock, when: datetime) -> None:
    clock.advance(seconds=(when - clock.now()).total_seconds())


async def _pending(api: Api, event_id: str) -> Any:
    body = await api.get(f"/api/events/{event_id}/settlement", status=404)
    assert body["error"] == "not_found"
    assert "has no settlement yet" in body["message"]
    return body["pending"]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]


def test_the_back_off_of_a_refusal_doubles_from_a_minute_to_an_hour() -> None:
    assert refusal_delay(1) == FIRST_RETRY
    minutes = [refusal_delay(n) / timedelta(minutes=1) for n in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert refusal_delay(10_000) == MAX_RETRY


def test_a_transient_failure_is_retried_soon_and_does_not_grow_the_back_off() -> None:
    retries = SettlementRetries()
    now = datetime(2030, 7, 18, tzinfo=UTC)
    first, news = retries.failed("e", "no data", transient=False, now=now)
    assert (first.next_try_at - now, first.refusals, news) == (FIRST_RETRY, 1, True)
    assert not retries.may_try("e", now + FIRST_RETRY - timedelta(seconds=1))
    assert retries.may_try("e", now + FIRST_RETRY)
    down, news = retries.failed("e", "database down", transient=True, now=now)
    assert (down.next_try_at - now, down.refusals, down.failures, news) == (
        TRANSIENT_RETRY, 1, 2, True,
    )  # fmt: skip
    again, news = retries.failed("e", "database down", transient=True, now=now)
    assert (again.failures, news) == (3, False)  # the same outage: logged once
    refused, news = retries.failed("e", "no data", transient=False, now=now)
    assert (refused.next_try_at - now, refused.refusals, news) == (2 * FIRST_RETRY, 2, True)
    assert retries.settled("e") == refused
    assert retries.of("e") is None
    assert retries.may_try("e", now)


def test_only_an_outage_of_the_database_or_redis_is_unavailable() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    assert is_unavailable(OperationalError("SELECT 1", {}, refused))
    assert is_unavailable(refused)
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = refused  # raise ... from refused
    assert is_unavailable(wrapped)
    assert not is_unavailable(KeyError("s1"))
    assert not is_unavailable(FileNotFoundError("meter.csv"))


async def test_a_settlement_waiting_for_meter_data_is_made_once_it_arrives_without_a_restart(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger=LOGGER)
    await _device(api, redis, settings, clock, "s1")
    event = await _run_event(api, services, clock, devices=["s1"])  # no meter data yet
    auto = BackgroundWorker(services).settlement

    _at(clock, DUE)
    assert await auto.settle_due() == []
    pending = await _pending(api, event["id"])
    assert pending["state"] == "waiting"
    assert "no meter data yet in its intervals" in pending["last_failure"]
    assert datetime.fromisoformat(pending["last_failure_at"]) == DUE
    assert datetime.fromisoformat(pending["next_try_at"]) == DUE + FIRST_RETRY
    assert pending["failures"] == 1
    assert await services.settlement.versions(event["id"]) == 0

    # Rounds before the next try do not try (nor log) again.
    _at(clock, DUE + FIRST_RETRY - timedelta(seconds=1))
    assert await auto.settle_due() == []
    assert (await _pending(api, event["id"]))["failures"] == 1
    _at(clock, DUE + FIRST_RETRY)
    assert await auto.settle_due() == []
    second = await _pending(api, event["id"])
    assert second["failures"] == 2
    assert datetime.fromisoformat(second["next_try_at"]) == DUE + 3 * FIRST_RETRY  # +2 min

    # The meter's data arrives late: the next try settles it.
    await api.post("/api/meter-history", {"csv": _csv("s1")}, status=200)
    assert await auto.settle_due() == []  # not before its next try
    _at(clock, DUE + 3 * FIRST_RETRY)
    assert await auto.settle_due() == [event["id"]]
    settled = await api.get(f"/api/events/{event['id']}/settlement")
    assert settled["version"] == 1
    (s1,) = settled["devices"]
    assert [(i["baseline_kwh"], i["actual_kwh"]) for i in s1["intervals"]] == [
        (2.5, 1.0), (2.5, 1.2),
    ]  # fmt: skip
    assert settled["totals"]["reduction_kwh"] == pytest.approx(2.8, abs=1e-9)
    assert services.settlement.retries.of(event["id"]) is None
    assert len(_warnings(caplog)) == 2  # one per back-off step
    settled_log = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert f"event {event['id']}: settled (version 1) after 2 failed tries" in settled_log


async def test_the_back_off_grows_to_its_cap_and_the_worker_settles_without_data_at_last(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger=LOGGER)
    await _device(api, redis, settings, clock, "s1")
    event = await _run_event(api, services, clock, devices=["s1"])
    auto = BackgroundWorker(services).settlement
    _at(clock, DUE)
    delays = []
    for _ in range(9):
        assert await auto.settle_due() == []
        pending = await _pending(api, event["id"])
        last, after = (
            datetime.fromisoformat(pending[k]) for k in ("last_failure_at", "next_try_at")
        )
        assert last == clock.now()
        delays.append((after - last) / timedelta(minutes=1))
        _at(clock, after - timedelta(seconds=1))  # a round just before: nothing tried
        assert await auto.settle_due() == []
        assert (await _pending(api, event["id"]))["failures"] == len(delays)
        _at(clock, after)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert len(_warnings(caplog)) == 7  # once per step: the tries at the cap say nothing new

    # A day after it was due, the worker stops waiting and settles on what there is: nothing.
    _at(clock, DUE + DATA_WAIT)
    assert await auto.settle_due() == [event["id"]]
    settled = await api.get(f"/api/events/{event['id']}/settlement")
    assert settled["version"] == 1
    (s1,) = settled["devices"]
    assert [i["actual_kwh"] for i in s1["intervals"]] == [None, None]
    assert (s1["measured_share"], s1["reduction_kwh"]) == (0.0, None)


async def test_a_database_outage_is_retried_within_a_minute_and_logged_once(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: FakeClock,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger=LOGGER)
    await _device(api, redis, settings, clock, "s1")
    event = await _run_event(api, services, clock, devices=["s1"])
    await api.post("/api/meter-history", {"csv": _csv("s1")}, status=200)
    auto = BackgroundWorker(services).settlement
    down = OperationalError("SELECT", {}, ConnectionRefusedError(111, "Connection refused"))

    # The database is down when the round lists the events: two rounds, one warning.
    async def unreachable(now: datetime) -> list[Any]:
        raise down

    _at(clock, DUE)
    with monkeypatch.context() as patched:
        patched.setattr(auto, "_unsettled", unreachable)
        assert await auto.settle_due() == []
        assert await auto.settle_due() == []
    assert len(_warnings(caplog)) == 1
    assert "the database is unavailable" in _warnings(caplog)[0]

    # It fails again while the event is settled: retried within a minute, not backed off.
    real = services.settlement.settle_first
    tries: list[datetime] = []

    async def flaky(event_id: str, **options: Any) -> Any:
        tries.append(clock.now())
        if len(tries) <= 2:
            raise down
        return await real(event_id, **options)

    monkeypatch.setattr(services.settlement, "settle_first", flaky)
    assert await auto.settle_due() == []
    pending = await _pending(api, event["id"])
    assert pending["state"] == "retrying"
    assert pending["last_failure"].startswith("database or Redis unavailable: OperationalError")
    assert datetime.fromisoformat(pending["next_try_at"]) == DUE + TRANSIENT_RETRY
    _at(clock, DUE + TRANSIENT_RETRY)
    assert await auto.settle_due() == []  # still down: the same minute again
    again = await _pending(api, event["id"])
    assert again["failures"] == 2
    assert datetime.fromisoformat(again["next_try_at"]) == DUE + 2 * TRANSIENT_RETRY
    assert len(_warnings(caplog)) == 2  # the outage of the event logged once
    _at(clock, DUE + 2 * TRANSIENT_RETRY)
    assert await auto.settle_due() == [event["id"]]
    assert tries == [DUE, DUE + TRANSIENT_RETRY, DUE + 2 * TRANSIENT_RETRY]
    settled = await api.get(f"/api/events/{event['id']}/settlement")
    assert settled["version"] == 1
    assert settled["totals"]["reduction_kwh"] == pytest.approx(2.8, abs=1e-9)
