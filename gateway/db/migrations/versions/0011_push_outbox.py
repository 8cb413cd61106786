"""push outbox: 2.0b push-mode VENs' addresses, delivery state and per-VEN outbox

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ven_push_targets",
        sa.Column("ven_id", sa.String(length=128), nullable=False),
        sa.Column("transport_address", sa.String(length=512), nullable=True),
        sa.Column("address_style", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ven_id"],
            ["vens.ven_id"],
            name=op.f("fk_ven_push_targets_ven_id_vens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ven_id", name=op.f("pk_ven_push_targets")),
    )
    op.create_table(
        "ven_push_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ven_id", sa.String(length=128), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ven_id"],
            ["vens.ven_id"],
            name=op.f("fk_ven_push_outbox_ven_id_vens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ven_push_outbox")),
    )
    with op.batch_alter_table("ven_push_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ven_push_outbox_ven_id_delivered_at", ["ven_id", "delivered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ven_push_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_ven_push_outbox_ven_id_delivered_at")
    op.drop_table("ven_push_outbox")
    op.drop_table("ven_push_targets")
