"""The plan's bound on one ledger movement of an item (`items.<id>.max_movement`) is kept with the item, so the
ledger applies it wherever it checks a movement (the ledger agent, `ers inventory ...`).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("max_movement", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("max_movement")
