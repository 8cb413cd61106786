"""The OpenADR 3 adapter's tables: its OAuth2 clients, and what 3.x objects carry beyond the
core (a program's intervalPeriod and payload descriptors, a VEN's targets, an event's
intervals, a VEN's reports). Each object row shares its id with the core row it extends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base


class Oadr3ClientRow(Base):
    """A client of the 3.x API, provisioned through the admin API; its secret only hashed."""

    __tablename__ = "oadr3_clients"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))  # auth.Role
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Oadr3ObjectRow(Base):
    """One 3.x object's own fields (``document``: its JSON minus the metadata), by kind."""

    __tablename__ = "oadr3_objects"
    __table_args__ = (Index("ix_oadr3_objects_kind_client_id", "kind", "client_id"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # PROGRAM, VEN, ...
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(128))  # who owns it (VEN, REPORT)
    program_id: Mapped[str | None] = mapped_column(String(128), index=True)
    ven_id: Mapped[str | None] = mapped_column(String(128), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
