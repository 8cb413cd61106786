"""event signals: an event's explicit signals and OpenADR terms; whether it was scheduled
directly, its modificationNumber, and each device's VEN opt of it and acknowledgement of its cancel

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("terms", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("modification_number", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("direct", sa.Boolean(), server_default="0", nullable=False))
    with op.batch_alter_table("event_devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ven_opt", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("ven_opt_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("ven_cancel_ack", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event_devices", schema=None) as batch_op:
        batch_op.drop_column("ven_cancel_ack")
        batch_op.drop_column("ven_opt_id")
        batch_op.drop_column("ven_opt")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("direct")
        batch_op.drop_column("modification_number")
        batch_op.drop_column("terms")
