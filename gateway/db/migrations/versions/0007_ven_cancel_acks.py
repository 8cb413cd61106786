"""ven cancel acks: a VEN's acknowledgement of a cancelled event

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ven_cancel_acks",
        sa.Column("ven_id", sa.String(length=128), nullable=False),
        sa.Column("invitation_id", sa.String(length=36), nullable=False),
        sa.Column("modification_number", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=3), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_ven_cancel_acks_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ven_id"],
            ["vens.ven_id"],
            name=op.f("fk_ven_cancel_acks_ven_id_vens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "ven_id", "invitation_id", "modification_number", name=op.f("pk_ven_cancel_acks")
        ),
    )
    with op.batch_alter_table("ven_cancel_acks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ven_cancel_acks_invitation_id"), ["invitation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ven_cancel_acks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ven_cancel_acks_invitation_id"))
    op.drop_table("ven_cancel_acks")
