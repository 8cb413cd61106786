"""vens.deprovisioned_at: a VEN removed while registered waits for its cancel to be answered

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deprovisioned_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("vens", schema=None) as batch_op:
        batch_op.drop_column("deprovisioned_at")
