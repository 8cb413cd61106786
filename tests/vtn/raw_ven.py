"""Raw test VENs (``tests.oadr20b``, not openleadr) for the VTN tests: provisioned through the
admin API and registered, ready to poll."""

from __future__ import annotations

from typing import Any

from tests.oadr20b.ven import RawVen, RawVens
from tests.support import Api
from tests.vtn.test_ven_flow import provision


async def registered(
    api: Api, vens: RawVens, ven_id: str, devices: dict[str, str], **options: Any
) -> RawVen:
    """VEN ``ven_id`` with ``devices`` (device -> resourceID), registered, the VTN's METADATA
    report it is sent then acknowledged."""
    await provision(api, ven_id, devices)
    ven = vens(ven_id, ven_id=ven_id, **options)
    answer = await ven.register()
    assert answer.code == 200, answer.description
    await ven.take_vtn_metadata()
    return ven
