"""A utility VTN that is down never blocks the gateway, and a restarted gateway forgets
nothing it took from upstream."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openleadr import OpenADRClient

from gateway.app import UPSTREAM, build_app
from gateway.settings import Settings
from gateway.upstream.reporting import TASK_NAME as REPORT_TASK_NAME
from tests.support import ADMIN_TOKEN, Api
from tests.upstream.conftest import Utility, poll_until, start_utility
from tests.vtn.conftest import VenFactory, XsdLog, eventually
from tests.vtn.test_ven_flow import Inbox, provision, register


@pytest.fixture
def settings_overrides(upstream_overrides: dict[str, Any]) -> dict[str, Any]:
    return upstream_overrides


async def test_a_utility_that_is_down_at_start_blocks_nothing(
    api: Api, make_ven: VenFactory, client: Any, utility_port: int
) -> None:
    runner = client.app[UPSTREAM]
    began = time.monotonic()
    await provision(api, "ven-a", {"a1": "ra1"})  # the admin API answers at once
    ven = make_ven("ven-a", ven_id="ven-a")
    await register(ven)  # and so does the downstream VTN
    assert time.monotonic() - began < 2.0
    assert not runner.connected.is_set()

    utility = await start_utility(utility_port)  # comes up later: the gateway connects
    try:
        await eventually(lambda: _connected(runner), timeout=15)
        start = datetime.now(UTC) + timedelta(hours=1)
        utility.add_event("late-ev", start, minutes=10, kw=1.0)
        items = await eventually(lambda: _invitations(api), timeout=10)
        assert [i["devices"] for i in items] == [["a1"]]
    finally:
        await utility.server.stop()


async def _connected(runner: Any) -> bool:
    return bool(runner.connected.is_set())


async def _invitations(api: Api) -> list[dict[str, Any]]:
    return list((await api.get("/api/invitations"))["items"])


async def test_a_restarted_gateway_takes_no_event_twice_and_keeps_its_answers(
    utility: Utility, aiohttp_client: Any, settings: Settings, xsd_log: XsdLog
) -> None:
    # No `client` fixture here: a third gateway would hold the upstream lease.
    first = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    api = Api(first)
    await provision(api, "ven-a", {"a1": "ra1"})
    await asyncio.wait_for(first.app[UPSTREAM].connected.wait(), 10)
    start = datetime.now(UTC) + timedelta(hours=1)
    utility.add_event("kept-ev", start, minutes=10, kw=1.0)
    (invitation,) = await eventually(lambda: _invitations(api))
    requested = len(utility.server.services["report_service"].report_callbacks)
    assert requested > 0
    await asyncio.wait_for(first.close(), 10)

    utility.redeliver()  # the utility sends the same event to the new process
    second = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    api = Api(second)
    await asyncio.wait_for(second.app[UPSTREAM].connected.wait(), 10)
    await eventually(lambda: _redelivered(utility))
    assert [i["id"] for i in await _invitations(api)] == [invitation["id"]]

    ven = OpenADRClient(
        ven_name="ven-a", ven_id="ven-a", vtn_url=str(second.make_url("/OpenADR2/Simple/2.0b"))
    )
    ven.add_hook("after_receive_xml", xsd_log.check)
    inbox = Inbox(ven)
    ven.add_handler("on_event", _opt_in)
    await register(ven)
    distributed = await poll_until(ven, inbox, lambda d: bool(d.get("events")))
    assert distributed["events"][0]["event_descriptor"]["event_id"] == invitation["id"]
    await eventually(lambda: _answered(utility))
    assert utility.opts == [("kept-ev", "optIn")]
    await ven.stop()
    assert xsd_log.invalid == []


async def _opt_in(event: dict[str, Any]) -> str:
    return "optIn"


async def _redelivered(utility: Utility) -> bool:
    from tests.upstream.conftest import UTILITY_VEN_ID

    return not utility.server.events_updated.get(UTILITY_VEN_ID)


async def _answered(utility: Utility) -> list[tuple[str, str]]:
    return utility.opts


async def test_of_two_replicas_one_is_the_utilitys_ven_and_the_other_takes_over(
    utility: Utility, aiohttp_client: Any, settings: Settings
) -> None:
    one = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    two = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    await Api(one).device("a1")
    runners = [one.app[UPSTREAM], two.app[UPSTREAM]]
    await eventually(lambda: _any_connected(runners), timeout=15)
    await asyncio.sleep(1.5)
    assert [r.connected.is_set() for r in runners].count(True) == 1
    assert utility.registrations == 1

    start = datetime.now(UTC) + timedelta(hours=1)
    utility.add_event("once-ev", start, minutes=10, kw=1.0)
    (invitation,) = await eventually(lambda: _invitations(Api(one)))
    holder, other = (one, two) if runners[0].connected.is_set() else (two, one)
    await holder.close()
    await eventually(lambda: _connected(other.app[UPSTREAM]), timeout=15)
    utility.redeliver()
    await eventually(lambda: _redelivered(utility))
    await asyncio.sleep(1.0)
    assert [i["id"] for i in await _invitations(Api(other))] == [invitation["id"]]


async def _any_connected(runners: list[Any]) -> bool:
    return any(r.connected.is_set() for r in runners)


async def test_an_event_the_gateway_cannot_take_is_answered_opt_out(
    utility: Utility, api: Api, client: Any
) -> None:
    await api.device("a1")
    await asyncio.wait_for(client.app[UPSTREAM].connected.wait(), 15)
    start = datetime.now(UTC) + timedelta(hours=1)
    utility.server.add_event(
        ven_id="gw-ven", signal_name="LOAD_DISPATCH", signal_type="setpoint",
        intervals=[{"dtstart": start, "duration": timedelta(minutes=10), "signal_payload": 50.0}],
        event_id="setpoint-ev", callback=utility.on_created,
    )  # fmt: skip
    await eventually(lambda: _answered(utility))
    assert utility.opts == [("setpoint-ev", "optOut")]
    assert await _invitations(api) == []


def _report_loops() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name() == REPORT_TASK_NAME and not task.done()
    ]


async def test_one_report_loop_through_a_reregistration_and_none_after_closing(
    utility: Utility, api: Api, client: Any
) -> None:
    """The connection owns one report loop: a re-registration (what an
    oadrRequestReregistration leads to) offers the reports again but starts no second loop,
    and closing the gateway ends it."""
    runner = client.app[UPSTREAM]
    await asyncio.wait_for(runner.connected.wait(), 15)
    (loop,) = _report_loops()
    assert runner.reporter.task is loop
    assert await runner.connection.reregister()
    assert utility.registrations == 2
    assert _report_loops() == [loop]  # the same loop goes on
    assert runner.reporter.grants  # the utility asked for the reports again

    await asyncio.wait_for(client.close(), 10)
    await asyncio.sleep(0)
    assert _report_loops() == []
    assert loop.done()
