"""The stock ``python-oa3-client`` lifecycle clients: they discover the token URL
(``/auth/server``), fetch their token, and find objects by name with OpenADR 3.0's
``targetType``/``targetValues`` query, which the gateway reads (docs/oadr3.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from openadr3_client import BlClient, VenClient

from tests.oadr3.support import BASE, provision


async def test_a_ven_registers_once_and_finds_its_program_by_name(
    client: TestClient[Any, Any],
) -> None:
    base = str(client.make_url(BASE))
    bl_credentials = await provision(client, "BL", "bl-1")
    ven_credentials = await provision(client, "VEN", "ven-1")
    bl = BlClient(url=base, client_id="bl-1", client_secret=bl_credentials["client_secret"])
    ven = VenClient(url=base, client_id="ven-1", client_secret=ven_credentials["client_secret"])
    try:
        await asyncio.to_thread(bl.start)
        await asyncio.to_thread(ven.start)
        made = await asyncio.to_thread(bl.create_program, {"programName": "Peak"})
        assert made.status_code == 201, made.text
        await asyncio.to_thread(bl.create_program, {"programName": "Other"})
        await asyncio.to_thread(ven.register, "site-1")
        first = ven.ven_id
        assert first is not None
        await asyncio.to_thread(ven.register, "site-1")  # idempotent: found by name
        assert ven.ven_id == first
        vens = await asyncio.to_thread(bl.get_vens)
        assert [v["id"] for v in vens.json()] == [first]
        assert await asyncio.to_thread(ven.resolve_program_id, "Peak") == made.json()["id"]
        named = await asyncio.to_thread(
            bl.get_programs, targetType="PROGRAM_NAME", targetValues=["Peak"]
        )
        assert [p["programName"] for p in named.json()] == ["Peak"]  # filtered by the VTN
        grouped = await asyncio.to_thread(bl.get_programs, targetType="GROUP", targetValues=["g"])
        assert grouped.json() == []  # another targetType's values are targets: none has g
    finally:
        await asyncio.to_thread(ven.stop)
        await asyncio.to_thread(bl.stop)
