"""The answer to oadrQueryRegistration: the VTN's registration facts, and the IDs of the
registered VEN that asks, when the transport says which VEN that is.

The message carries no venID (2.0b): only the TLS client certificate (or the fingerprint a
TLS-terminating proxy passes on) names the VEN. A certificate provisioned for exactly one VEN
that is registered brings that VEN's registrationID and venID back (N1_0015); over plain
HTTP, from a VEN not registered, or from a certificate no single VEN holds, the answer names
no VEN (N1_0010). The answer says nothing else of any VEN, and refuses nobody: a query
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from gateway.db.engine import Database
from gateway.db.models import VenRow


@dataclass(frozen=True, slots=True)
class RegisteredIds:
    ven_id: str
    registration_id: str


async def registered_by_certificate(db: Database, fingerprint: str | None) -> RegisteredIds | None:
    """The registration of the one live VEN provisioned with ``fingerprint``, if registered."""
    if fingerprint is None:
        return None
    async with db.read() as session:
        rows = (
            await session.execute(
                select(VenRow.ven_id, VenRow.registration_id)
                .where(VenRow.fingerprint == fingerprint, VenRow.deprovisioned_at.is_(None))
                .limit(2)
            )
        ).all()
    if len(rows) != 1 or rows[0].registration_id is None:
        return None
    return RegisteredIds(rows[0].ven_id, rows[0].registration_id)
