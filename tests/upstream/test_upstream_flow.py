"""The utility's event reaches the downstream VENs through the gateway, their answers go up,
and modification, cancellation, re-delivery and test events are handled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.app import UPSTREAM
from gateway.http.handlers import SERVICES
from gateway.settings import Settings
from gateway.upstream.store import UpstreamStore
from tests.support import Api
from tests.upstream.conftest import Utility, poll_until
from tests.vtn.conftest import VenFactory, eventually
from tests.vtn.test_ven_flow import Inbox, answering, provision, register


@pytest.fixture
def settings_overrides(upstream_overrides: dict[str, Any]) -> dict[str, Any]:
    return upstream_overrides


async def invitations(api: Api) -> list[dict[str, Any]]:
    return list((await api.get("/api/invitations"))["items"])


async def test_an_utility_event_reaches_the_vens_and_their_opt_in_goes_up(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any
) -> None:
    await provision(api, "ven-a", {"a1": "ra1", "a2": "ra2"})
    ven = make_ven("ven-a", ven_id="ven-a")
    answering(ven, "optIn")
    inbox = Inbox(ven)
    await register(ven)
    await asyncio.wait_for(client.app[UPSTREAM].connected.wait(), 15)

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    utility.add_event("utility-ev-1", start, minutes=10, kw=2.0)
    (invitation,) = await eventually(lambda: invitations(api))
    assert invitation["event_time"] == start.isoformat().replace("+00:00", "Z")
    assert invitation["duration_minutes"] == 10
    assert invitation["target_kw"] == pytest.approx(2.0)
    assert sorted(invitation["devices"]) == ["a1", "a2"]
    assert utility.opts == []  # nothing decided yet: no answer goes up

    (event,) = (await poll_until(ven, inbox, _has_events))["events"]
    assert event["event_descriptor"]["event_id"] == invitation["id"]
    await eventually(lambda: _opts(utility))
    assert utility.opts == [("utility-ev-1", "optIn")]


def _has_events(distributed: dict[str, Any]) -> bool:
    return bool(distributed.get("events"))


def _descriptor(distributed: dict[str, Any]) -> dict[str, Any]:
    events = distributed.get("events") or [{}]
    return dict(events[-1].get("event_descriptor") or {})


async def _opts(utility: Utility) -> list[tuple[str, str]]:
    return utility.opts


async def test_redelivery_modification_and_cancellation(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    inbox = Inbox(ven)
    answering(ven, "optIn")
    await register(ven)
    await asyncio.wait_for(client.app[UPSTREAM].connected.wait(), 15)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    utility.add_event("ev-2", start, minutes=30, kw=4.0)
    (first,) = await eventually(lambda: invitations(api))

    utility.redeliver()  # the same event again: no second invitation
    await eventually(lambda: _polled_again(utility))
    assert [i["id"] for i in await invitations(api)] == [first["id"]]

    later = start + timedelta(hours=1)
    utility.modify("ev-2", kw=6.0, start=later, minutes=20)

    async def modified() -> Any:
        view = await api.get(f"/api/invitations/{first['id']}")
        return view if view["target_kw"] == pytest.approx(6.0) else None

    view = await eventually(modified)
    assert view["event_time"] == later.isoformat().replace("+00:00", "Z")
    assert view["duration_minutes"] == 20
    distributed = await poll_until(ven, inbox, lambda d: _descriptor(d)["modification_number"] == 1)
    (event,) = distributed["events"]
    assert event["event_descriptor"]["modification_number"] == 1  # downstream too

    modification = utility.modification_number("ev-2")
    utility.cancel("ev-2")  # a modification too: cancelled, with the next number

    async def cancelled() -> Any:
        view = await api.get(f"/api/invitations/{first['id']}")
        return view if view["status"] == "cancelled" else None

    await eventually(cancelled)
    store = UpstreamStore(client.app[SERVICES].db)

    async def recorded_cancelled() -> Any:
        row = await store.get("ev-2")
        return row if row is not None and row.cancelled else None

    row = await eventually(recorded_cancelled)
    assert row.modification_number == modification + 1
    distributed = await poll_until(
        ven, inbox, lambda d: _descriptor(d)["event_status"] == "cancelled"
    )
    (event,) = distributed["events"]
    assert event["event_descriptor"]["event_status"] == "cancelled"


async def _polled_again(utility: Utility) -> bool:
    from tests.upstream.conftest import UTILITY_VEN_ID

    return not utility.server.events_updated.get(UTILITY_VEN_ID)


async def test_a_test_event_is_answered_and_never_executed(
    utility: Utility, api: Api, client: Any
) -> None:
    await api.device("a1")
    await asyncio.wait_for(client.app[UPSTREAM].connected.wait(), 15)
    start = datetime.now(UTC) + timedelta(hours=1)
    utility.add_event("test-ev", start, minutes=10, kw=1.0, test=True)
    await eventually(lambda: _opts(utility))
    assert utility.opts == [("test-ev", "optIn")]
    assert await invitations(api) == []
    assert (await api.get("/api/events"))["items"] == []


@pytest.fixture
def short_deadline(upstream_overrides: dict[str, Any]) -> None:
    upstream_overrides["upstream"]["response_deadline_seconds"] = 1.0
    upstream_overrides["upstream"]["default_answer"] = "optOut"


@pytest.mark.usefixtures("short_deadline")
async def test_undecided_at_the_deadline_gets_the_default_and_a_later_yes_goes_up_as_an_opt(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, settings: Settings
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    answering(ven, "optIn")
    await register(ven)
    await asyncio.wait_for(client.app[UPSTREAM].connected.wait(), 15)
    start = datetime.now(UTC) + timedelta(hours=1)
    utility.add_event("slow-ev", start, minutes=10, kw=1.0)
    await eventually(lambda: _opts(utility))
    assert utility.opts == [("slow-ev", "optOut")]

    await ven._poll()  # the VEN says yes after all: the gateway changes its mind upstream
    await eventually(lambda: _created_opts(utility))
    (opt,) = utility.created_opts
    assert (opt["type"], opt["opt_type"], opt["event_id"]) == ("oadrCreateOpt", "optIn", "slow-ev")


async def _created_opts(utility: Utility) -> list[dict[str, Any]]:
    return utility.created_opts
