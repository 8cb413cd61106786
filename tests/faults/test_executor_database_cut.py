"""An event runs through a PostgreSQL cut (through the TCP proxy), wherever the cut falls: in
the middle, across its start, or across its end. The same run carries on (nobody has to take
it over), what was sampled is kept, the cut is a gap and never 0 kW, and the start and the end
are recorded at the moment they happened, once the database takes them."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from gateway.app import build_executor
from gateway.domain.samples import unpack
from gateway.services.container import Services
from gateway.settings import Settings
from tests.faults.tcp_proxy import TcpProxy
from tests.faults.test_database_outage import database_url, pg_proxy  # noqa: F401 (fixtures)
from tests.realtime_events import event_row, event_samples, play_drop, schedule_event
from tests.support import Api

pytestmark = pytest.mark.postgres

CADENCE = 0.2
EVENT_SECONDS = 8.0
CUT_FOR = 2.0
# Where the cut begins, in seconds after the start: in the middle, just before the start, and
# just before the end.
CUTS = {"mid-event": 2.5, "across-the-start": -0.3, "across-the-end": EVENT_SECONDS - 0.3}


@pytest.mark.parametrize(
    "settings_overrides", [{"cadence_seconds": CADENCE, "baseline_window_minutes": 0.01}]
)
@pytest.mark.parametrize("where", list(CUTS))
async def test_an_event_runs_through_a_database_cut(
    api: Api,
    services: Services,
    redis: Redis,
    settings: Settings,
    pg_proxy: TcpProxy,  # noqa: F811 (the fixture imported above)
    where: str,
) -> None:
    cut_offset = CUTS[where]
    await api.device("d1")
    start = datetime.now(UTC) + timedelta(seconds=2.0)
    end = start + timedelta(seconds=EVENT_SECONDS)
    event_id = await schedule_event(services, start, EVENT_SECONDS)
    key = f"{settings.redis_prefix}power:d1"

    async def until(moment: datetime) -> None:
        await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))

    executor = build_executor(services)
    player = asyncio.create_task(play_drop(redis, key, start))
    running = asyncio.create_task(executor.run())
    done: dict[str, object] = {}
    try:
        await until(start + timedelta(seconds=cut_offset))
        cut_at = datetime.now(UTC)
        await pg_proxy.stop()
        await asyncio.sleep(CUT_FOR)
        await pg_proxy.start()
        back_at = datetime.now(UTC)
        for _ in range(150):  # the end plus up to 15 s
            done = await api.get(f"/api/events/{event_id}")
            if done["status"] == "completed":
                break
            await asyncio.sleep(0.1)
    finally:
        player.cancel()
        await executor.stop(running)
        with contextlib.suppress(asyncio.CancelledError):
            await player

    assert done["status"] == "completed", done
    row = await event_row(services, event_id)
    samples = await event_samples(services, event_id)
    assert row is not None
    assert row.started_at is not None
    assert row.ended_at is not None
    assert row.fence == 1  # one run carried on through the cut: nobody had to take over
    # The start and the end are when they happened, not when the database came back: each is
    # stored with its own time, never the reconnection's (ordering, not a latency bound).
    early = timedelta(seconds=CADENCE)
    assert start - early <= row.started_at < back_at
    assert end - early <= row.ended_at
    if cut_at < end < back_at:  # the end fell in the cut
        assert row.ended_at < back_at
    window_cut = (
        max(cut_at, start),
        min(back_at, end),
    )
    during = [
        s for s in samples
        if window_cut[0] + timedelta(seconds=CADENCE) < s.sampled_at < window_cut[1]
    ]  # fmt: skip
    assert during == []  # nothing was sampled while nothing could be stored
    assert {v for s in samples for v in unpack(s.power_kw)} == {6.0}  # never a 0 kW stand-in
    cut_in_window = max((window_cut[1] - window_cut[0]).total_seconds(), 0.0)
    results = done["results"]
    assert isinstance(results, dict)
    assert cut_in_window - CADENCE <= results["gap_seconds"] <= cut_in_window + 1.5, results
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=0.02)
    assert results["energy_reduction_kwh"] == pytest.approx(4.0 * EVENT_SECONDS / 3600, rel=0.02)
    assert results["coverage"] <= 1 - (cut_in_window - CADENCE) / EVENT_SECONDS + 0.01
