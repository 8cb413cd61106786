"""Upgrading to programs (migration 0006): today's data and settings carry over.

The database starts at revision 0005 with an invitation and an event in it, as a deployment
upgrading would have; the gateway then starts on it (which migrates). SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection

from gateway.app import build_app
from gateway.db.engine import Database
from gateway.db.migrate import alembic_config
from gateway.db.types import UTCDateTime
from gateway.settings import Settings
from tests.support import ADMIN_TOKEN, Api

LEGACY = {
    "vtn_market_context": "http://utility.example/legacy-program",
    "vtn_priority": 4,
    "vtn_test_events": True,
}
START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def _at_0005_with_data(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
    command.downgrade(alembic_config(connection), "0005")
    stamps = ("created_at", "event_time", "updated_at", "start_time", "end_time")
    types = {name: UTCDateTime() for name in stamps}
    invitations = sa.table(
        "invitations",
        *(sa.column(name, types.get(name)) for name in (
            "id", "created_at", "event_time", "duration_minutes", "load_kwh", "load_percentage",
            "target_kw", "status", "response", "answer_policy", "partial_min_share",
            "modification_number",
        )),
    )  # fmt: skip
    connection.execute(
        invitations.insert().values(
            id="legacy-invitation", created_at=START, event_time=START + timedelta(hours=2),
            duration_minutes=60, load_kwh=1.0, load_percentage=10.0, target_kw=1.0,
            status="pending", response="none", answer_policy="all", partial_min_share=0.8,
            modification_number=0,
        )
    )  # fmt: skip
    events = sa.table(
        "events",
        *(sa.column(name, types.get(name)) for name in (
            "id", "created_at", "updated_at", "start_time", "end_time", "status", "target_kw",
            "target_kwh",
        )),
    )  # fmt: skip
    connection.execute(
        events.insert().values(
            id="legacy-event", created_at=START, updated_at=START, start_time=START,
            end_time=START + timedelta(hours=1), status="scheduled", target_kw=1.0,
            target_kwh=1.0,
        )
    )  # fmt: skip


@pytest.fixture
async def database_url(any_database_url: str) -> str:
    db = Database(any_database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(_at_0005_with_data)
    await db.dispose()
    return any_database_url


async def program_ids(settings: Settings) -> dict[str, str]:
    db = Database(settings.resolved_database_url)
    try:
        async with db.engine.connect() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT id, program_id FROM invitations UNION ALL "
                    "SELECT id, program_id FROM events"
                )
            )
            return {row.id: row.program_id for row in rows}
    finally:
        await db.dispose()


async def start(aiohttp_client: Any, settings: Settings) -> Api:
    app = build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False)
    return Api(await aiohttp_client(app))


@pytest.mark.parametrize("settings_overrides", [LEGACY])
async def test_existing_rows_join_the_default_program_which_takes_the_settings(
    aiohttp_client: Any, settings: Settings
) -> None:
    api = await start(aiohttp_client, settings)
    default = await api.get("/api/programs/default")
    assert (
        default["market_context"], default["priority"], default["test_events"],
        default["membership"], default["is_default"],
    ) == (LEGACY["vtn_market_context"], 4, True, "all", True)  # fmt: skip
    assert (await api.get("/api/programs"))["count"] == 1
    assert await program_ids(settings) == {
        "legacy-invitation": "default",
        "legacy-event": "default",
    }
    # The default program now has invitations: it stays, and would anyway.
    await api.delete("/api/programs/default", status=409)


@pytest.mark.parametrize("settings_overrides", [LEGACY])
async def test_the_settings_are_the_default_program_s_initial_values_only(
    aiohttp_client: Any, settings: Settings
) -> None:
    first = await start(aiohttp_client, settings)
    await first.patch("/api/programs/default", {"priority": 9}, status=200)
    await first.client.close()

    changed = settings.model_copy(
        update={"vtn_market_context": "urn:changed:later", "vtn_priority": 2}
    )
    second = await start(aiohttp_client, changed)
    default = await second.get("/api/programs/default")
    assert (default["market_context"], default["priority"], default["test_events"]) == (
        LEGACY["vtn_market_context"], 9, True,
    )  # fmt: skip


async def test_a_missing_default_program_is_made_at_start_from_the_settings(
    aiohttp_client: Any, settings: Settings
) -> None:
    first = await start(aiohttp_client, settings)
    await first.post("/api/programs", {"name": "Other", "market_context": "urn:o"}, status=201)
    await first.client.close()
    db = Database(settings.resolved_database_url)
    async with db.engine.begin() as connection:  # as if it had never been made
        await connection.execute(sa.text("DELETE FROM events"))
        await connection.execute(sa.text("DELETE FROM invitations"))
        await connection.execute(sa.text("DELETE FROM programs WHERE id = 'default'"))
    await db.dispose()

    second = await start(aiohttp_client, settings.model_copy(update=LEGACY))
    default = await second.get("/api/programs/default")
    assert (default["market_context"], default["priority"], default["membership"]) == (
        LEGACY["vtn_market_context"], 4, "all",
    )  # fmt: skip
    names = [p["name"] for p in (await second.get("/api/programs"))["items"]]
    assert names == ["Default program", "Other"]
