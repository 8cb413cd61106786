"""executor: fencing, per-device results, packed event samples

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 12:08:18
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("event_devices") as batch_op:
        batch_op.add_column(sa.Column("baseline_kw", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("average_reduction_kw", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("energy_reduction_kwh", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("coverage", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.String(length=200), nullable=True))
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("gap_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("fence", sa.BigInteger(), nullable=False, server_default="0"))
    # No executor wrote the per-device sample table of 0001: it is replaced, not converted.
    op.drop_table("event_samples")
    op.create_table(
        "event_samples",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("sample_index", sa.Integer(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("power_kw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_samples_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_samples")),
        sa.UniqueConstraint(
            "event_id",
            "phase",
            "sample_index",
            name=op.f("uq_event_samples_event_id_phase_sample_index"),
        ),
    )


def downgrade() -> None:
    op.drop_table("event_samples")
    op.create_table(
        "event_samples",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("sample_index", sa.Integer(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("power_kw", sa.Float(), nullable=True),
        sa.Column("missing_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "phase", "sample_index", "device_id"),
    )
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("fence")
        batch_op.drop_column("gap_seconds")
    with op.batch_alter_table("event_devices") as batch_op:
        for column in ("note", "coverage", "energy_reduction_kwh", "average_reduction_kw"):
            batch_op.drop_column(column)
        batch_op.drop_column("baseline_kw")
