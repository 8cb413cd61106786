"""``GET /metrics``: what the database holds, read at scrape time, and the instruments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from gateway.db.models import EventRow, EventSampleRow, OutboxRow, VenRow
from gateway.domain.samples import pack
from gateway.observability import state as state_module
from gateway.observability.metrics import METRICS, GatewayMetrics
from gateway.services.container import Services
from tests.support import ADMIN_TOKEN, Api, MutableClock, in_minutes

START = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(START)


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """Every scrape-time query on SQLite and on PostgreSQL."""
    return any_database_url


async def scrape(client: TestClient[Any, Any], **headers: str) -> Samples:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/plain"
    samples: Samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_counts_events_and_invitations_by_status(
    client: TestClient[Any, Any], api: Api, clock: MutableClock
) -> None:
    for device in ("d1", "d2"):
        await api.device(device)
    body = {"event_time": in_minutes(120, clock), "load_kwh": 2, "devices": ["d1", "d2"]}
    first = await api.post("/api/invitations", body, status=201)
    await api.post("/api/invitations", body, status=201)
    await api.post(f"/api/invitations/{first['id']}/cancel", {}, status=200)
    event = {"start_time": in_minutes(60, clock), "duration_minutes": 30, "devices": ["d1"],
             "target_kw": 1.0}  # fmt: skip
    await api.post("/api/events", event, status=201)

    samples = await scrape(client)
    assert value(samples, "oadr_invitations", status="pending") == 1
    assert value(samples, "oadr_invitations", status="cancelled") == 1
    assert value(samples, "oadr_invitations", status="scheduled") == 0
    assert value(samples, "oadr_invitations", status="expired") == 0
    assert value(samples, "oadr_events", status="scheduled") == 1
    assert value(samples, "oadr_events", status="active") == 0
    assert value(samples, "oadr_dependency_up", dependency="database") == 1
    assert value(samples, "oadr_dependency_up", dependency="redis") == 1
    assert value(samples, "oadr_outbox_depth") == 0  # published right after each commit


async def test_outbox_depth_and_age(
    client: TestClient[Any, Any], services: Services, clock: MutableClock
) -> None:
    async with services.db.write() as session:
        for minutes in (5, 2):
            session.add(OutboxRow(channel="x", payload="{}",
                                  created_at=START - timedelta(minutes=minutes)))  # fmt: skip
    samples = await scrape(client)
    assert value(samples, "oadr_outbox_depth") == 2
    assert value(samples, "oadr_outbox_oldest_age_seconds") == 300


async def test_vens_online_offline_and_unregistered(
    client: TestClient[Any, Any], api: Api, services: Services, clock: MutableClock
) -> None:
    for name in ("fresh", "stale", "slow", "never"):
        await api.post("/api/vens", {"name": name, "ven_id": name}, status=201)
    seen = {
        "fresh": (START - timedelta(seconds=20), None),  # default 10 s poll: within 3 periods
        "stale": (START - timedelta(seconds=31), None),
        "slow": (START - timedelta(seconds=170), 60.0),  # its own 60 s poll: within 180 s
    }
    async with services.db.write() as session:
        for ven_id, (last_seen, poll) in seen.items():
            await session.execute(
                update(VenRow)
                .where(VenRow.ven_id == ven_id)
                .values(registration_id=f"reg-{ven_id}", last_seen_at=last_seen,
                        poll_frequency_seconds=poll)
            )  # fmt: skip
    samples = await scrape(client)
    assert value(samples, "oadr_vens", state="online") == 2
    assert value(samples, "oadr_vens", state="offline") == 1
    assert value(samples, "oadr_vens", state="unregistered") == 1


async def test_tolerated_deviations_are_summed_by_kind(
    client: TestClient[Any, Any], api: Api, services: Services
) -> None:
    for name in ("a", "b"):
        await api.post("/api/vens", {"name": name, "ven_id": name}, status=201)
    stored = {
        "a": {"unqualified_schema_version": {"count": 3, "last_seen_at": START.isoformat()}},
        "b": {
            "unqualified_schema_version": {"count": 4, "last_seen_at": START.isoformat()},
            "report_without_request_id": {"count": 1, "last_seen_at": START.isoformat()},
        },
    }
    async with services.db.write() as session:
        for ven_id, deviations in stored.items():
            await session.execute(
                update(VenRow).where(VenRow.ven_id == ven_id).values(schema_deviations=deviations)
            )
    samples = await scrape(client)
    kind = "oadr_schema_deviations_tolerated_total"
    assert value(samples, kind, kind="unqualified_schema_version") == 7
    assert value(samples, kind, kind="report_without_request_id") == 1


async def test_running_event_sample_age_and_coverage(
    client: TestClient[Any, Any], api: Api, services: Services, clock: MutableClock
) -> None:
    for device in ("d1", "d2"):
        await api.device(device)
    body = {"start_time": in_minutes(60, clock), "duration_minutes": 30,
            "devices": ["d1", "d2"], "target_kw": 1.0}  # fmt: skip
    event = await api.post("/api/events", body, status=201)
    async with services.db.write() as session:
        await session.execute(
            update(EventRow).where(EventRow.id == event["id"]).values(status="active")
        )
        rows = [("baseline", 0, [1.0, 1.0]), ("event", 0, [0.5, None]), ("event", 1, [0.4, 0.3])]
        for index, (phase, sample_index, power) in enumerate(rows):
            session.add(
                EventSampleRow(
                    event_id=event["id"], phase=phase, sample_index=sample_index,
                    sampled_at=START - timedelta(seconds=10 - 5 * index),
                    present=sum(v is not None for v in power), power_kw=pack(power),
                )
            )  # fmt: skip
    samples = await scrape(client)
    assert value(samples, "oadr_executor_last_sample_age_seconds", event_id=event["id"]) == 0
    # Event phase: 2 samples x 2 devices, 3 present.
    assert value(samples, "oadr_executor_coverage_ratio", event_id=event["id"]) == 0.75


async def test_a_slow_database_does_not_hold_the_scrape(
    client: TestClient[Any, Any], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "STATE_TIMEOUT_SECONDS", 0.2)

    @asynccontextmanager
    async def hung_read() -> AsyncIterator[Any]:
        await asyncio.sleep(60)
        yield None  # pragma: no cover

    monkeypatch.setattr(services.db, "read", hung_read)
    samples = await scrape(client)
    assert value(samples, "oadr_dependency_up", dependency="database") == 0
    assert value(samples, "oadr_dependency_up", dependency="redis") == 1
    errors = "oadr_dependency_errors_total"
    assert value(samples, errors, dependency="database", component="metrics") == 1
    assert not [name for name, _ in samples if name.startswith(("oadr_events", "oadr_vens"))]
    assert value(samples, "process_resident_memory_bytes") is not None  # the rest still there


async def test_a_database_error_is_a_metric_not_a_500(
    client: TestClient[Any, Any], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    @asynccontextmanager
    async def failing_read() -> AsyncIterator[Any]:
        raise OperationalError("SELECT", {}, ConnectionRefusedError("refused"))
        yield None  # pragma: no cover

    monkeypatch.setattr(services.db, "read", failing_read)
    for scrapes in (1, 2):
        samples = await scrape(client)
        assert value(samples, "oadr_dependency_up", dependency="database") == 0
        errors = "oadr_dependency_errors_total"
        assert value(samples, errors, dependency="database", component="metrics") == scrapes


async def test_vtn_messages_and_poll_latency(client: TestClient[Any, Any]) -> None:
    app = client.server.app
    metrics = app[METRICS]
    metrics.vtn_message("OadrPoll", "oadrPoll", 200, 0.003)
    metrics.vtn_message("OadrPoll", "oadrPoll", 200, 0.2)
    metrics.vtn_message("EiEvent", "oadrCreatedEvent", 452, 0.01)
    metrics.vtn_message("EiEvent", None, 400, 0.01)
    metrics.vtn_message("EiEvent", "<script>", 400, 0.01)  # never a label of its own
    samples = await scrape(client)
    total = "oadr_vtn_messages_total"
    assert value(samples, total, service="OadrPoll", message_type="oadrPoll", code="200") == 2
    assert (
        value(samples, total, service="EiEvent", message_type="oadrCreatedEvent", code="452") == 1
    )
    assert value(samples, total, service="EiEvent", message_type="other", code="400") == 2
    poll = "oadr_vtn_poll_duration_seconds"
    assert value(samples, f"{poll}_count") == 2  # only polls are timed
    assert value(samples, f"{poll}_bucket", le="0.005") == 1
    assert value(samples, f"{poll}_bucket", le="0.25") == 2


async def test_executor_sample_lag(client: TestClient[Any, Any]) -> None:
    metrics = client.server.app[METRICS]
    metrics.executor_sample(0.02)
    metrics.executor_sample(-0.001)  # early by a clock tick: on time
    samples = await scrape(client)
    assert value(samples, "oadr_executor_sample_lag_seconds_count") == 2
    assert value(samples, "oadr_executor_sample_lag_seconds_bucket", le="0.005") == 1


def test_two_gateways_in_one_process_have_their_own_registries() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()  # a global registry would refuse this
    first.vtn_message("OadrPoll", "oadrPoll", 200, 0.001)
    labels = {"service": "OadrPoll", "message_type": "oadrPoll", "code": "200"}
    assert first.registry.get_sample_value("oadr_vtn_messages_total", labels) == 1
    assert second.registry.get_sample_value("oadr_vtn_messages_total", labels) is None


async def test_metrics_are_open_without_a_metrics_token(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/metrics")
    assert resp.status == 200


@pytest.mark.parametrize(
    "settings_overrides", [{"metrics_token": "metrics-scraper-token-123", "auth_reads": True}]
)
async def test_metrics_token_is_required_when_set(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/metrics")).status == 401
    admin = await client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.status == 401  # Prometheus holds its own token, never the admin one
    samples = await scrape(client, Authorization="Bearer metrics-scraper-token-123")
    assert value(samples, "oadr_dependency_up", dependency="database") == 1
