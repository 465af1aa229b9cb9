"""A page the SMS provider could not take waits in the outbox for its next try instead of being given up: the
row stays "claimed" with `retry_at` (when to try again) and `payload` (the notification, so any worker can send
it); a page no longer worth sending ends "superseded".

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_STATES = "state IN ('claimed', 'sent', 'failed', 'delivered', 'undelivered')"
NEW_STATES = "state IN ('claimed', 'sent', 'failed', 'delivered', 'undelivered', 'superseded')"


def upgrade() -> None:
    with op.batch_alter_table("sms_outbox") as batch:  # SQLite changes a CHECK only by copying the table
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("payload", sa.Text, nullable=True))
        batch.drop_constraint("ck_sms_outbox_state", type_="check")
        batch.create_check_constraint("ck_sms_outbox_state", NEW_STATES)
    op.create_index("ix_sms_outbox_retry_at", "sms_outbox", ["retry_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_retry_at", "sms_outbox")
    with op.batch_alter_table("sms_outbox") as batch:
        batch.drop_constraint("ck_sms_outbox_state", type_="check")
        batch.create_check_constraint("ck_sms_outbox_state", OLD_STATES)
        batch.drop_column("payload")
        batch.drop_column("retry_at")
