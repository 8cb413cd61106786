"""What the VTN answers shows in ``/metrics``: every message by service, type and response
code, and the polls' latency (raw-XML VEN, so the counts are of real answers on the wire)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api, MutableClock
from tests.vtn.raw_ven import registered

TOTAL = "oadr_vtn_messages_total"


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def vens(vtn_url: str, clock: MutableClock) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url, clock.now) as made:
        yield made


async def scrape(client: TestClient[Any, Any]) -> dict[tuple[str, frozenset[Any]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(await resp.text())
        for s in family.samples
    }


def count(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_answers_are_counted_by_service_type_and_code(
    client: TestClient[Any, Any], api: Api, vens: RawVens
) -> None:
    ven = await registered(api, vens, "ven-m", {"m1": "rm1"})
    for _ in range(3):
        await ven.poll()
    samples = await scrape(client)

    registration = {"service": "EiRegisterParty", "message_type": "oadrCreatePartyRegistration"}
    assert count(samples, TOTAL, **registration, code="200") == 1
    assert count(samples, TOTAL, service="OadrPoll", message_type="oadrPoll", code="200") >= 3
    assert count(samples, "oadr_vtn_poll_duration_seconds_count") >= 3

    # A plain refusal is counted with its HTTP status, a message that could not be read as
    # "other" (never a label made from what a client sent).
    resp = await client.post(
        "/OpenADR2/Simple/2.0b/EiEvent", data=b"<not-xml", headers={"Content-Type": "text/xml"}
    )
    assert resp.status == 400
    samples = await scrape(client)
    assert count(samples, TOTAL, service="EiEvent", message_type="other", code="400") == 1
