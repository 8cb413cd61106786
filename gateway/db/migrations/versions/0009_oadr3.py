"""oadr3: OpenADR 3 clients and the 3.x fields of programs, VENs, resources, events, reports

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oadr3_clients",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oadr3_clients")),
    )
    op.create_table(
        "oadr3_objects",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("program_id", sa.String(length=128), nullable=True),
        sa.Column("ven_id", sa.String(length=128), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id", name=op.f("pk_oadr3_objects")),
    )
    op.create_index("ix_oadr3_objects_kind_client_id", "oadr3_objects", ["kind", "client_id"])
    op.create_index("ix_oadr3_objects_program_id", "oadr3_objects", ["program_id"])
    op.create_index("ix_oadr3_objects_ven_id", "oadr3_objects", ["ven_id"])


def downgrade() -> None:
    op.drop_table("oadr3_objects")
    op.drop_table("oadr3_clients")
