"""Emergency-material ledger: depots, items, minimum levels and the append-only movements.

`movements.seq` is the order in which movements were accepted (the ledger folds them in that order);
`event_id` is unique, so a redelivered or replayed event is not recorded twice.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "depots",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("contact", sa.String(200), nullable=False, server_default=""),
        sa.Column("mobilisation_minutes", sa.Float, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("shelf_life_days", sa.Integer, nullable=True),
    )
    op.create_table(
        "minimum_levels",
        sa.Column("depot_id", sa.String(128), sa.ForeignKey("depots.id"), primary_key=True),
        sa.Column("item_id", sa.String(128), sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.CheckConstraint("quantity >= 0", name="ck_minimum_levels_quantity"),
    )
    op.create_table(
        "movements",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("depot_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("lot_id", sa.String(128), nullable=True),
        sa.Column("expires_on", sa.Date, nullable=True),
        sa.Column("to_depot_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("actor", sa.String(200), nullable=False, server_default=""),
        sa.Column("incident_id", sa.String(128), nullable=True),
        sa.Column("drill_id", sa.String(128), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_movements_event_id"),
        sa.CheckConstraint("kind IN ('receipt', 'dispatch', 'consumption', 'return', 'transfer', 'expiry_write_off', "
                           "'adjustment')", name="ck_movements_kind"),
    )
    op.create_index("ix_movements_depot_item", "movements", ["depot_id", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_movements_depot_item", table_name="movements")
    op.drop_table("movements")
    op.drop_table("minimum_levels")
    op.drop_table("items")
    op.drop_table("depots")
