"""``GET /api/events/{id}/samples``: stored samples by device, paged, as JSON and CSV, on
SQLite and PostgreSQL (the page is cut from each packed row by the database)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.executor import store
from gateway.http.sample_handlers import EventSamplesView
from gateway.services.container import Services
from tests.support import Api

START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
# Baseline window: d1 10 and 12 kW (mean 11), d2 always 5, d3 never measured.
BASELINE_ROWS = [[10.0, 5.0, None], [12.0, 5.0, None]]
# Event: d1 sheds to 7 then is silent, d2 to 4, d3 reads but has no baseline.
EVENT_ROWS = [[7.0, 4.0, 1.0], [None, 4.5, 1.0], [6.0, 4.0, 1.0]]


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


async def _event_with_samples(api: Api, services: Services) -> str:
    for device in ("d1", "d2", "d3"):
        await api.device(device)
    event = await api.post(
        "/api/events",
        {"start_time": START.isoformat(), "duration_minutes": 60, "devices": ["d1", "d2", "d3"],
         "target_kw": 5},
        status=201,
    )  # fmt: skip
    for phase, rows, first in (("baseline", BASELINE_ROWS, -5), ("event", EVENT_ROWS, 0)):
        for index, values in enumerate(rows):
            at = START + timedelta(seconds=5 * (first + index))
            await store.write_sample(services.db, event["id"], 0, phase, index, at, values)
    return str(event["id"])


async def test_a_page_of_devices_has_each_sample_with_baseline_and_reduction(
    api: Api, services: Services
) -> None:
    event_id = await _event_with_samples(api, services)

    body = await api.get(f"/api/events/{event_id}/samples?limit=2")

    EventSamplesView.model_validate(body)  # the answer has the documented shape
    assert (body["total_devices"], body["count"], body["next_cursor"]) == (3, 2, 2)
    assert body["phase"] == "event"
    assert [s["index"] for s in body["samples"]] == [0, 1, 2]
    assert datetime.fromisoformat(body["samples"][1]["at"]) == START + timedelta(seconds=5)
    d1, d2 = body["devices"]
    assert (d1["device_id"], d1["baseline_kw"]) == ("d1", 11.0)
    assert d1["power_kw"] == [7.0, None, 6.0]  # missing stays missing
    assert d1["reduction_kw"] == [4.0, None, 5.0]
    assert (d2["baseline_kw"], d2["reduction_kw"]) == (5.0, [1.0, 0.5, 1.0])

    rest = await api.get(f"/api/events/{event_id}/samples?limit=2&cursor=2")
    assert (rest["count"], rest["next_cursor"]) == (1, None)
    (d3,) = rest["devices"]
    assert (d3["device_id"], d3["baseline_kw"]) == ("d3", None)
    assert d3["power_kw"] == [1.0, 1.0, 1.0]
    assert d3["reduction_kw"] == [None, None, None]  # no baseline: no reduction, never 0


async def test_live_polling_reads_only_newer_samples_and_the_baseline_phase_is_there_too(
    api: Api, services: Services
) -> None:
    event_id = await _event_with_samples(api, services)

    newer = await api.get(f"/api/events/{event_id}/samples?after_index=1")
    assert [s["index"] for s in newer["samples"]] == [2]
    assert [d["power_kw"] for d in newer["devices"]] == [[6.0], [4.0], [1.0]]

    baseline = await api.get(f"/api/events/{event_id}/samples?phase=baseline")
    assert [d["power_kw"] for d in baseline["devices"]] == [[10.0, 12.0], [5.0, 5.0],
                                                            [None, None]]  # fmt: skip


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_csv_streams_every_device_with_empty_cells_for_missing_values(
    api: Api, services: Services, client: TestClient[Any, Any]
) -> None:
    event_id = await _event_with_samples(api, services)

    by_param = await client.get(f"/api/events/{event_id}/samples?format=csv")
    by_accept = await client.get(f"/api/events/{event_id}/samples", headers={"Accept": "text/csv"})

    assert by_param.status == by_accept.status == 200
    assert by_param.content_type == "text/csv"
    text = await by_param.text()
    assert text == await by_accept.text()
    rows = _rows(text)
    assert len(rows) == 3 * 3
    silent = next(r for r in rows if r["device_id"] == "d1" and r["sample_index"] == "1")
    assert silent == {
        "device_id": "d1", "phase": "event", "sample_index": "1",
        "sampled_at": (START + timedelta(seconds=5)).isoformat(),
        "power_kw": "", "baseline_kw": "11.0", "reduction_kw": "",
    }  # fmt: skip
    no_baseline = next(r for r in rows if r["device_id"] == "d3")
    assert (no_baseline["power_kw"], no_baseline["baseline_kw"]) == ("1.0", "")

    paged = await client.get(f"/api/events/{event_id}/samples?format=csv&limit=1&cursor=1")
    assert paged.headers["X-Next-Cursor"] == "2"
    assert {r["device_id"] for r in _rows(await paged.text())} == {"d2"}


async def test_an_unknown_event_is_404_and_bad_paging_is_422_naming_the_parameter(
    api: Api, services: Services, client: TestClient[Any, Any]
) -> None:
    event_id = await _event_with_samples(api, services)

    missing = await client.get("/api/events/nope/samples?format=csv")
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
    for query, field in (("limit=0", "limit"), ("cursor=-1", "cursor"), ("phase=during", "phase"),
                         ("format=xml", "format"), ("after_index=x", "after_index")):  # fmt: skip
        response = await client.get(f"/api/events/{event_id}/samples?{query}")
        assert response.status == 422, query
        fields = [f["field"] for f in (await response.json())["fields"]]
        assert fields == [field], query
