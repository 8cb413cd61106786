"""ven errors of direct events: an error a VEN reports about an event scheduled directly
(POST /api/events, or a 3.x business-logic client), whose eventID is no invitation's

Revision ID: 0018_ven_errors_of_direct_events
Revises: 0017_vtn_metadata
Create Date: 2026-12-04 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_ven_errors_of_direct_events"
down_revision: str | None = "0017_vtn_metadata"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ven_errors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("direct_event_id", sa.String(36), nullable=True))
        batch_op.create_foreign_key(
            "fk_ven_errors_direct_event_id_events",
            "events",
            ["direct_event_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_ven_errors_direct_event_id", ["direct_event_id"])


def downgrade() -> None:
    with op.batch_alter_table("ven_errors", schema=None) as batch_op:
        batch_op.drop_index("ix_ven_errors_direct_event_id")
        batch_op.drop_constraint("fk_ven_errors_direct_event_id_events", type_="foreignkey")
        batch_op.drop_column("direct_event_id")
