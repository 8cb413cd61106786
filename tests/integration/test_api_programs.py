"""Programs over the admin API: the default program, terms, enrolment, deletion, and refusals.

Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.db.models import EventRow, InvitationRow
from gateway.domain.errors import NotFound
from gateway.services.container import Services
from gateway.services.program_checks import (
    devices_not_taking_part,
    load_program,
    vens_taking_part,
)
from tests.support import Api, MutableClock, in_minutes

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
DEFAULT_LEVELS = [
    {"upper_bound_percentage": 0.0, "level": 0},
    {"upper_bound_percentage": 15.0, "level": 1},
    {"upper_bound_percentage": 40.0, "level": 2},
    {"upper_bound_percentage": 100.0, "level": 3},
]
PEAK = {
    "id": "peak",
    "name": "Peak shaving",
    "market_context": "http://utility.example/programs/peak",
    "description": "winter evening peaks",
    "priority": 3,
    "test_events": True,
    "simple_levels": [
        {"upper_bound_percentage": 10.0, "level": 1},
        {"upper_bound_percentage": 100.0, "level": 3},
    ],
    "refuse_overlap": True,
}


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(T0)


def stamp(clock: MutableClock) -> str:
    """The clock's time as the API writes it."""
    return clock.now().isoformat().replace("+00:00", "Z")


async def all_programs(api: Api) -> Any:
    return await api.get("/api/programs")


@pytest.mark.parametrize(
    "settings_overrides",
    [{"vtn_market_context": "urn:example:dr:program-7", "vtn_priority": 7,
      "vtn_test_events": True}],
)  # fmt: skip
async def test_the_default_program_takes_its_initial_values_from_the_settings(
    api: Api, clock: MutableClock
) -> None:
    listed = await all_programs(api)
    assert listed["count"] == 1
    default = await api.get("/api/programs/default")
    assert listed["items"] == [default]
    assert default == {
        "id": "default",
        "name": "Default program",
        "market_context": "urn:example:dr:program-7",
        "description": "Invitations and events that name no program belong here.",
        "priority": 7,
        "test_events": True,
        "simple_levels": DEFAULT_LEVELS,
        "baseline_method": "mean_before_event",
        "baseline_parameters": {},
        "baseline_in_force": None,
        "refuse_overlap": False,
        "membership": "all",
        "is_default": True,
        "vens": [],
        "devices": [],
        "created_at": default["created_at"],
        "updated_at": stamp(clock),
    }


async def test_today_s_invitations_and_events_belong_to_the_default_program(
    api: Api, services: Services, clock: MutableClock
) -> None:
    await api.device("dev-1")
    invitation = await api.invite(["dev-1"], event_time=in_minutes(120, clock))
    event = await api.post(
        "/api/events",
        {"start_time": in_minutes(90, clock), "duration_minutes": 30, "devices": ["dev-1"],
         "target_kw": 1.0},
        status=201,
    )  # fmt: skip
    async with services.db.read() as session:
        assert (
            await session.scalar(
                select(InvitationRow.program_id).where(InvitationRow.id == invitation["id"])
            )
            == "default"
        )
        assert (
            await session.scalar(select(EventRow.program_id).where(EventRow.id == event["id"]))
            == "default"
        )


async def test_create_list_get_and_patch_a_program(api: Api, clock: MutableClock) -> None:
    created = await api.post("/api/programs", PEAK, status=201)
    assert created == {
        **PEAK,
        "baseline_method": "mean_before_event",
        "baseline_parameters": {},
        "baseline_in_force": None,
        "membership": "enrolled",
        "is_default": False,
        "vens": [],
        "devices": [],
        "created_at": stamp(clock),
        "updated_at": stamp(clock),
    }
    assert await api.get("/api/programs/peak") == created
    minimal = await api.post(
        "/api/programs", {"name": "A first", "market_context": "oadr://a"}, status=201
    )
    assert len(minimal["id"]) == 32  # generated
    assert (minimal["priority"], minimal["test_events"], minimal["refuse_overlap"]) == (
        1, False, False,
    )  # fmt: skip
    assert minimal["simple_levels"] == DEFAULT_LEVELS
    names = [p["name"] for p in (await all_programs(api))["items"]]
    assert names == ["A first", "Default program", "Peak shaving"]

    clock.advance(minutes=5)
    patched = await api.patch(
        "/api/programs/peak",
        {"priority": 0, "description": "", "membership": "all", "test_events": None},
        status=200,
    )
    assert patched == {
        **created,
        "priority": 0,
        "description": "",
        "membership": "all",
        "updated_at": stamp(clock),
    }
    assert await api.get("/api/programs/peak") == patched
    assert await api.patch("/api/programs/peak", {}, status=200) == {
        **patched,
        "updated_at": stamp(clock),
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"market_context": "programs/peak"}, {"market_context"}),
        ({"market_context": "http://a b"}, {"market_context"}),
        ({"market_context": "http://a#frag"}, {"market_context"}),
        ({"priority": -1}, {"priority"}),
        ({"priority": "3"}, {"priority"}),
        ({"name": ""}, {"name"}),
        ({"simple_levels": []}, {"simple_levels"}),
        (
            {"simple_levels": [{"upper_bound_percentage": 50.0, "level": 2},
                               {"upper_bound_percentage": 40.0, "level": 3}]},
            {"simple_levels.1.upper_bound_percentage"},
        ),
        (
            {"simple_levels": [{"upper_bound_percentage": 40.0, "level": 2},
                               {"upper_bound_percentage": 100.0, "level": 2}]},
            {"simple_levels.1.level"},
        ),
        (
            {"simple_levels": [{"upper_bound_percentage": 90.0, "level": 4}]},
            {"simple_levels.0.level", "simple_levels.0.upper_bound_percentage"},
        ),
        ({"baseline_method": "regression"}, {"baseline_method"}),
        ({"membership": "some"}, {"membership"}),
        ({"colour": "red"}, {"colour"}),
    ],
)  # fmt: skip
async def test_bad_terms_are_422_naming_the_fields_and_change_nothing(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    await api.post("/api/programs", PEAK, status=201)
    before = await all_programs(api)

    created = await api.post("/api/programs", {**PEAK, "id": "other", "name": "Other",
                                               "market_context": "urn:other", **body},
                             status=422)  # fmt: skip
    assert created["error"] == "validation_failed"
    assert {f["field"] for f in created["fields"]} == fields
    patched = await api.patch("/api/programs/peak", body, status=422)
    assert {f["field"] for f in patched["fields"]} == fields
    assert await all_programs(api) == before


async def test_a_name_or_market_context_taken_is_409(api: Api) -> None:
    await api.post("/api/programs", PEAK, status=201)
    other = {"name": "Other", "market_context": "urn:other"}
    await api.post("/api/programs", other, status=201)
    before = await all_programs(api)
    for clash in ({"name": PEAK["name"]}, {"market_context": PEAK["market_context"]}):
        refused = await api.post("/api/programs", {**other, **clash}, status=409)
        assert refused["error"] == "already_exists"
        assert "exists" in refused["message"]
        await api.patch(f"/api/programs/{(before['items'][1])['id']}", clash, status=409)
    taken = await api.post("/api/programs", {**other, "id": "peak", "name": "x",
                                             "market_context": "urn:x"}, status=409)  # fmt: skip
    assert taken["message"] == "program peak exists"
    assert await api.post("/api/programs", {**other, "id": "default"}, status=409)
    assert await all_programs(api) == before


async def test_unknown_ids_are_404(api: Api) -> None:
    await api.device("dev-1")
    await api.post("/api/vens", {"name": "ven-1", "ven_id": "ven-1"}, status=201)
    await api.post("/api/programs", PEAK, status=201)
    before = await all_programs(api)
    assert (await api.get("/api/programs/nope", status=404))["error"] == "not_found"
    await api.patch("/api/programs/nope", {"priority": 2}, status=404)
    await api.delete("/api/programs/nope", status=404)
    for path in (
        "/api/programs/nope/vens/ven-1",
        "/api/programs/peak/vens/nope",
        "/api/programs/nope/devices/dev-1",
        "/api/programs/peak/devices/nope",
    ):
        missing = await api.put(path, None, status=404)
        assert "not found" in missing["message"], missing
    not_enrolled = await api.delete("/api/programs/peak/vens/ven-1", status=404)
    assert not_enrolled["message"] == "VEN ven-1 is not enrolled in program peak"
    await api.delete("/api/programs/peak/devices/dev-1", status=404)
    assert await all_programs(api) == before


async def test_vens_and_devices_are_enrolled_and_removed(api: Api) -> None:
    for device in ("dev-2", "dev-1"):
        await api.device(device)
    for ven in ("ven-b", "ven-a"):
        await api.post("/api/vens", {"name": ven, "ven_id": ven}, status=201)
    await api.post("/api/programs", PEAK, status=201)

    await api.put("/api/programs/peak/vens/ven-b", None, status=200)
    await api.put("/api/programs/peak/vens/ven-a", None, status=200)
    await api.put("/api/programs/peak/devices/dev-2", None, status=200)
    view = await api.put("/api/programs/peak/devices/dev-2", None, status=200)  # idempotent
    assert (view["vens"], view["devices"]) == (["ven-a", "ven-b"], ["dev-2"])
    assert await api.get("/api/programs/peak") == view
    listed = {p["id"]: p for p in (await all_programs(api))["items"]}
    assert (listed["peak"]["vens"], listed["peak"]["devices"]) == (["ven-a", "ven-b"], ["dev-2"])
    assert (listed["default"]["vens"], listed["default"]["devices"]) == ([], [])

    removed = await api.delete("/api/programs/peak/vens/ven-b", status=200)
    assert removed["vens"] == ["ven-a"]
    removed = await api.delete("/api/programs/peak/devices/dev-2", status=200)
    assert removed["devices"] == []
    assert await api.get("/api/programs/peak") == removed


async def test_deleting_a_program(api: Api, services: Services, clock: MutableClock) -> None:
    refused = await api.delete("/api/programs/default", status=409)
    assert refused == {
        "error": "conflict",
        "message": "program default is the default program and cannot be deleted",
    }
    await api.device("dev-1")
    await api.post("/api/vens", {"name": "ven-1", "ven_id": "ven-1"}, status=201)
    await api.post("/api/programs", PEAK, status=201)
    await api.put("/api/programs/peak/vens/ven-1", None, status=200)
    await api.put("/api/programs/peak/devices/dev-1", None, status=200)
    invitation = await api.invite(["dev-1"], event_time=in_minutes(120, clock), program_id="peak")
    assert invitation["program_id"] == "peak"
    in_use = await api.delete("/api/programs/peak", status=409)
    assert in_use == {
        "error": "conflict",
        "message": "program peak has 1 invitation(s) and 0 event(s); a program that "
        "invitations or events belong to cannot be deleted",
    }
    async with services.db.write() as session:  # no API moves an invitation to another program
        await session.execute(update(InvitationRow).values(program_id="default"))

    deleted = await api.delete("/api/programs/peak", status=200)
    assert (deleted["id"], deleted["vens"], deleted["devices"]) == ("peak", ["ven-1"], ["dev-1"])
    await api.get("/api/programs/peak", status=404)
    assert [p["id"] for p in (await all_programs(api))["items"]] == ["default"]
    # The VEN and device stay; a new program of the same id starts with nobody enrolled.
    assert (await api.get("/api/vens/ven-1"))["ven_id"] == "ven-1"
    again = await api.post("/api/programs", PEAK, status=201)
    assert (again["vens"], again["devices"]) == ([], [])


async def test_who_takes_part_as_invitations_and_the_vtn_will_ask(
    api: Api, services: Services
) -> None:
    for device in ("dev-in", "dev-out"):
        await api.device(device)
    for ven in ("ven-in", "ven-out"):
        await api.post("/api/vens", {"name": ven, "ven_id": ven}, status=201)
    await api.post("/api/programs", PEAK, status=201)
    await api.put("/api/programs/peak/vens/ven-in", None, status=200)
    await api.put("/api/programs/peak/devices/dev-in", None, status=200)

    async with services.db.read() as session:
        peak = await load_program(session, "peak")
        default = await load_program(session, "default")
        assert (peak.is_default, default.is_default) == (False, True)
        both = ["ven-in", "ven-out", "ven-unknown"]
        assert await vens_taking_part(session, [peak, default], both) == {
            ("peak", "ven-in"), ("default", "ven-in"), ("default", "ven-out"),
            ("default", "ven-unknown"),
        }  # fmt: skip
        assert await vens_taking_part(session, [peak], []) == set()
        devices = ["dev-out", "dev-in", "dev-x"]
        assert await devices_not_taking_part(session, peak, devices) == ["dev-out", "dev-x"]
        assert await devices_not_taking_part(session, default, devices) == []
        with pytest.raises(NotFound):
            await load_program(session, "nope")
