"""P1: opt schedules, pull mode (cert cases section 1, P1_2010-P1_2050): a VEN's availability
(oadrCreateOpt with a vavailability), its replacement by optID and its cancel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.oadr20b import messages
from tests.oadr20b.answers import Answer
from tests.oadr20b.cert.site import CertGateway, Party

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# "open-ended": the longest span the VEN can say (xcal has no infinite duration).
OPEN_ENDED = timedelta(days=3650)


async def _opt(
    gateway: CertGateway,
    party: Party,
    opt_id: str,
    opt_type: str,
    spans: Sequence[tuple[datetime, timedelta]],
    **target: Any,
) -> Answer:
    ven = party.ven
    body = messages.create_opt(
        ven.request_id(), ven.id, opt_id=opt_id, opt_type=opt_type,
        opt_reason="x-schedule", created=gateway.clock.now(), availability=spans, **target,
    )  # fmt: skip
    answer = await ven.send(body)
    assert answer.field("ei:optID") == opt_id
    return answer


async def _cancel(party: Party, opt_id: str) -> Answer:
    ven = party.ven
    answer = await ven.send(messages.cancel_opt(ven.request_id(), ven.id, opt_id))
    assert answer.field("ei:optID") == opt_id
    return answer


async def test_P1_2010_opt_in_schedule(gateway: CertGateway) -> None:
    party = await gateway.party()
    now = gateway.clock.now()
    spans = [(now + DAY, 4 * HOUR), (now + 3 * DAY, 8 * HOUR)]
    answer = await _opt(gateway, party, gateway.name("opt"), "optIn", spans,
                        market_context="http://MarketContext1",
                        resource_ids=party.resources)  # fmt: skip
    assert answer.code == 200


async def test_P1_2015_open_ended_opt_in(gateway: CertGateway) -> None:
    party = await gateway.party()
    spans = [(gateway.clock.now() + DAY, OPEN_ENDED)]
    answer = await _opt(gateway, party, gateway.name("opt"), "optIn", spans)
    assert answer.code == 200


async def test_P1_2020_schedule_without_ven_target_or_market_context_cancelled(
    gateway: CertGateway,
) -> None:
    party = await gateway.party()
    opt_id = gateway.name("opt")
    spans = [(gateway.clock.now() + DAY, 4 * HOUR)]
    assert (await _opt(gateway, party, opt_id, "optIn", spans)).code == 200
    assert (await _cancel(party, opt_id)).code == 200


async def test_P1_2030_opt_out_for_the_ven_and_a_device_class(gateway: CertGateway) -> None:
    party = await gateway.party()
    now = gateway.clock.now()
    first = await _opt(gateway, party, gateway.name("opt"), "optOut", [(now + 2 * DAY, 4 * HOUR)],
                       target_ven_ids=[party.ven.id], device_class="Thermostat")  # fmt: skip
    second = await _opt(gateway, party, gateway.name("opt"), "optOut",
                        [(now + 4 * DAY, 8 * HOUR)], target_ven_ids=[party.ven.id],
                        device_class="Thermostat")  # fmt: skip
    assert (first.code, second.code) == (200, 200)


async def test_P1_2040_schedule_replaced_by_opt_id_then_cancelled(gateway: CertGateway) -> None:
    party = await gateway.party()
    opt_id = gateway.name("opt")
    now = gateway.clock.now()
    assert (await _opt(gateway, party, opt_id, "optIn", [(now + DAY, 4 * HOUR)])).code == 200
    replacement = [(now + 2 * DAY, 6 * HOUR)]
    assert (await _opt(gateway, party, opt_id, "optOut", replacement)).code == 200
    opts = await gateway.expect_get("opts", ven_id=party.ven.id)
    [held] = [o for o in opts["items"] if o["opt_id"] == opt_id]
    assert held["opt_type"] == "optOut"
    assert [datetime.fromisoformat(s["start"]) for s in held["schedule"]] == [now + 2 * DAY]
    assert (await _cancel(party, opt_id)).code == 200


async def test_P1_2050_cancel_an_unknown_opt_id(gateway: CertGateway) -> None:
    party = await gateway.party()
    answer = await _cancel(party, "no-such-opt")
    assert answer.code == 452
