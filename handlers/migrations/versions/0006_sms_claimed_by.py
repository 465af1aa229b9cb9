"""Who claimed a notification (`claimed_by`: the worker's slot and its process), so a worker restarted after a
crash takes over its own predecessor's unfinished sends at once instead of waiting for their lease to end.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sms_outbox") as batch:
        batch.drop_column("claimed_by")
