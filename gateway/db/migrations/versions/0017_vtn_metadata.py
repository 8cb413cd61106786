"""vtn metadata: VENs' requests for the VTN's own METADATA report, and the TELEMETRY_STATUS
each VEN last reported per rID

Revision ID: 0017_vtn_metadata
Revises: 0015
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_vtn_metadata"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vtn_metadata_requests",
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("report_request_id", sa.String(128), nullable=False),
        sa.Column("period_seconds", sa.Float(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ven_id"], ["vens.ven_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ven_id", "report_request_id"),
    )
    op.create_table(
        "ven_resource_status",
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("r_id", sa.String(128), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=True),
        sa.Column("manual_override", sa.Boolean(), nullable=True),
        sa.Column("load_control", sa.JSON(), nullable=True),
        sa.Column("report_request_id", sa.String(128), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ven_id"], ["vens.ven_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ven_id", "r_id"),
    )


def downgrade() -> None:
    op.drop_table("ven_resource_status")
    op.drop_table("vtn_metadata_requests")
