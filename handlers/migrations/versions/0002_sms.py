"""SMS outbox (one row per notification, so none is sent twice) and webhook receipts (replay protection).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_outbox",
        sa.Column("notification_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(128), nullable=False),
        sa.Column("to_phone", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("drill_id", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider_sid", sa.String(64), nullable=True),
        sa.Column("num_segments", sa.Integer, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('claimed', 'sent', 'failed', 'delivered', 'undelivered')",
                           name="ck_sms_outbox_state"),
        sa.UniqueConstraint("provider_sid", name="uq_sms_outbox_provider_sid"),
    )
    op.create_table(
        "webhook_receipts",
        sa.Column("message_sid", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_receipts")
    op.drop_table("sms_outbox")
