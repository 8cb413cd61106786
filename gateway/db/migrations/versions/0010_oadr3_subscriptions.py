"""OpenADR 3 subscriptions and the webhook outbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oadr3_subscriptions",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("client_role", sa.String(length=8), nullable=False),
        sa.Column("ven_id", sa.String(length=128), nullable=True),
        sa.Column("client_name", sa.String(length=128), nullable=False),
        sa.Column("program_id", sa.String(length=128), nullable=True),
        sa.Column("object_operations", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("broken_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oadr3_subscriptions")),
    )
    with op.batch_alter_table("oadr3_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oadr3_subscriptions_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_oadr3_subscriptions_program_id"), ["program_id"], unique=False
        )
    op.create_table(
        "oadr3_webhook_deliveries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=128), nullable=False),
        sa.Column("callback_url", sa.String(length=8000), nullable=False),
        sa.Column("bearer_token", sa.Text(), nullable=True),
        sa.Column("change_key", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["oadr3_subscriptions.id"],
            name="fk_oadr3_deliveries_subscription",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oadr3_webhook_deliveries")),
        sa.UniqueConstraint(
            "subscription_id",
            "callback_url",
            "change_key",
            name="uq_oadr3_deliveries_change",
        ),
    )
    with op.batch_alter_table("oadr3_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oadr3_webhook_deliveries_subscription_id"),
            ["subscription_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_oadr3_webhook_deliveries_next_attempt_at"),
            ["next_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("oadr3_webhook_deliveries")
    op.drop_table("oadr3_subscriptions")
