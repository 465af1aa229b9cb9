"""The database record of the emergency-material ledger: catalogue, minimum levels and append-only movements.

`record` checks a movement against the stock derived from every movement accepted before it
(contingency.ledger) and appends it, in one transaction:
- a movement whose event id is already recorded is a duplicate and changes nothing (also when it would be
  refused now: a redelivered dispatch is not dead-lettered because the stock has since been used);
- a refused movement raises contingency.ledger.LedgerError and is not recorded; the caller dead-letters it;
- two records touching the same depot are serialised: PostgreSQL locks the depot rows (SELECT ... FOR UPDATE,
  in id order, so a transfer A->B and one B->A cannot deadlock); SQLite starts with a no-op write to the depot
  rows, which takes the database's write lock before anything is read. So two concurrent dispatches cannot both
  pass the non-negative check.

Stock is never stored: it is the fold of the movements in the order they were accepted (`movements.seq`).

What is left, honestly:
- each record folds the whole ledger (fine for a county's thousands of movements; a snapshot table would be
  needed for millions);
- movements of drills (drill_id set) count like real ones.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    CheckConstraint, Column, Connection, Date, DateTime, Engine, Float, ForeignKey, Integer, MetaData, String, Table,
    Text, UniqueConstraint, insert, or_, select, update,
)
from sqlalchemy.exc import IntegrityError

from contingency.ledger import Catalogue, ItemSpec, LedgerError, MinimumLevels, Stock, apply_movement, stock_from
from handlers.times import as_utc
from schemas.inventory import InventoryMovement

if TYPE_CHECKING:
    from contingency.plan import Plan

log = logging.getLogger("ers.inventory")

# The schema as Alembic revision 0003 creates it (handlers/migrations/versions/0003_inventory.py).
metadata = MetaData()
depots = Table(
    "depots", metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("contact", String(200), nullable=False, server_default=""),
    Column("mobilisation_minutes", Float, nullable=False),
)
items = Table(
    "items", metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("shelf_life_days", Integer, nullable=True),
    Column("max_movement", Float, nullable=True),  # the plan's bound on one movement (None: no bound)
)
minimum_levels = Table(
    "minimum_levels", metadata,
    Column("depot_id", String(128), ForeignKey("depots.id"), primary_key=True),
    Column("item_id", String(128), ForeignKey("items.id"), primary_key=True),
    Column("quantity", Float, nullable=False),
    CheckConstraint("quantity >= 0", name="ck_minimum_levels_quantity"),
)
movements = Table(
    "movements", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("depot_id", String(128), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("lot_id", String(128), nullable=True),
    Column("expires_on", Date, nullable=True),
    Column("to_depot_id", String(128), nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("actor", String(200), nullable=False, server_default=""),
    Column("incident_id", String(128), nullable=True),
    Column("drill_id", String(128), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", name="uq_movements_event_id"),
)
_EVENT_FIELDS = ("kind", "depot_id", "item_id", "quantity", "unit", "lot_id", "expires_on", "to_depot_id", "reason",
                 "actor", "incident_id", "drill_id", "occurred_at")


@dataclass(frozen=True)
class RecordResult:
    event_id: str
    outcome: Literal["applied", "duplicate"]

    @property
    def applied(self) -> bool:
        return self.outcome == "applied"


class InventoryStore:
    """The ledger's tables; SQLite or PostgreSQL. Movements are only ever inserted."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    def sync_catalogue(self, plan: "Plan", shelf_life_days: Mapping[str, int] | None = None) -> None:
        """Insert or update the plan's depots and items (none is deleted: movements name them). An item's shelf
        life is taken from `shelf_life_days` where given, else kept as it is."""
        shelf = shelf_life_days or {}
        with self._engine.begin() as connection:
            known_depots = set(connection.execute(select(depots.c.id)).scalars())
            for depot in plan.depots.values():
                values = {"name": depot.name, "lat": depot.location.lat, "lon": depot.location.lon,
                          "contact": depot.operator, "mobilisation_minutes": depot.mobilisation_minutes}
                if depot.id in known_depots:
                    connection.execute(update(depots).where(depots.c.id == depot.id).values(**values))
                else:
                    connection.execute(insert(depots).values(id=depot.id, **values))
            known_items = set(connection.execute(select(items.c.id)).scalars())
            for item_id, item in plan.items.items():
                item_values: dict[str, Any] = {"name": item.name, "unit": item.unit,
                                               "max_movement": item.max_movement}
                if item_id in shelf:
                    item_values["shelf_life_days"] = shelf[item_id]
                if item_id in known_items:
                    connection.execute(update(items).where(items.c.id == item_id).values(**item_values))
                else:
                    connection.execute(insert(items).values(id=item_id, **item_values))
        log.info("inventory catalogue synced: %d depots, %d items", len(plan.depots), len(plan.items))

    def catalogue(self) -> Catalogue:
        with self._engine.connect() as connection:
            return _catalogue(connection)

    def set_minimum(self, depot_id: str, item_id: str, quantity: float) -> None:
        if quantity < 0:
            raise ValueError(f"a minimum level cannot be negative ({quantity})")
        key = (minimum_levels.c.depot_id == depot_id) & (minimum_levels.c.item_id == item_id)
        with self._engine.begin() as connection:
            if connection.execute(update(minimum_levels).where(key).values(quantity=quantity)).rowcount == 0:
                connection.execute(insert(minimum_levels).values(depot_id=depot_id, item_id=item_id,
                                                                 quantity=quantity))

    def minimum_levels(self) -> MinimumLevels:
        with self._engine.connect() as connection:
            rows = connection.execute(select(minimum_levels)).all()
        return {(row.depot_id, row.item_id): row.quantity for row in rows}

    def record(self, movement: InventoryMovement, now: datetime) -> RecordResult:
        """Check `movement` against the current stock and append it; LedgerError if the ledger refuses it."""
        event_id = str(movement.event_id)
        try:
            with self._engine.begin() as connection:
                _lock_depots(connection, {movement.depot_id} | {movement.to_depot_id} - {None})
                if _is_recorded(connection, event_id):
                    return RecordResult(event_id, "duplicate")
                stock = stock_from(_movements(connection), None)
                apply_movement(stock, movement, _catalogue(connection))  # raises LedgerError: nothing recorded
                values = {name: getattr(movement, name) for name in _EVENT_FIELDS}
                values["occurred_at"] = as_utc(movement.occurred_at)
                connection.execute(insert(movements).values(event_id=event_id, recorded_at=as_utc(now), **values))
        except IntegrityError:
            with self._engine.connect() as connection:
                if not _is_recorded(connection, event_id):
                    raise
            return RecordResult(event_id, "duplicate")
        log.info("%s of %g %s %s at %s recorded (%s)", movement.kind, movement.quantity, movement.unit,
                 movement.item_id, movement.depot_id, event_id)
        return RecordResult(event_id, "applied")

    def movements(self, depot_id: str | None = None, item_id: str | None = None,
                  incident_id: str | None = None) -> list[InventoryMovement]:
        """Accepted movements in the order they were accepted; a depot's include transfers into it."""
        with self._engine.connect() as connection:
            return _movements(connection, depot_id, item_id, incident_id)

    def stock(self, on: dt.date | None = None) -> Stock:
        """The fold of the movements accepted so far, or (with `on`) of those recorded by the end of that UTC day."""
        with self._engine.connect() as connection:
            query = select(movements).order_by(movements.c.seq)
            rows = connection.execute(query).mappings().all()
        if on is not None:
            cutoff = datetime.combine(on + dt.timedelta(days=1), dt.time(), timezone.utc)
            prefix = []
            for row in rows:  # a prefix in acceptance order, so the fold stays valid
                if as_utc(row["recorded_at"]) >= cutoff:
                    break
                prefix.append(row)
            rows = prefix
        return stock_from((_movement(row) for row in rows), None)


def _lock_depots(connection: Connection, depot_ids: set[str | None]) -> None:
    ids = sorted(d for d in depot_ids if d is not None)
    if connection.dialect.name == "postgresql":
        connection.execute(select(depots.c.id).where(depots.c.id.in_(ids)).order_by(depots.c.id).with_for_update())
    else:  # SQLite: a write first, so the transaction holds the write lock before it reads the ledger
        connection.execute(update(depots).where(depots.c.id.in_(ids)).values(id=depots.c.id))


def _is_recorded(connection: Connection, event_id: str) -> bool:
    return connection.execute(select(movements.c.seq).where(movements.c.event_id == event_id)).first() is not None


def _catalogue(connection: Connection) -> Catalogue:
    depot_ids = frozenset(connection.execute(select(depots.c.id)).scalars())
    specs = {row.id: ItemSpec(row.unit, row.shelf_life_days, row.shelf_life_days is not None,
                              float("inf") if row.max_movement is None else row.max_movement)
             for row in connection.execute(select(items))}
    return Catalogue(depot_ids, specs)


def _movements(connection: Connection, depot_id: str | None = None, item_id: str | None = None,
               incident_id: str | None = None) -> list[InventoryMovement]:
    query = select(movements).order_by(movements.c.seq)
    if incident_id is not None:
        query = query.where(movements.c.incident_id == incident_id)
    if depot_id is not None:
        query = query.where(or_(movements.c.depot_id == depot_id, movements.c.to_depot_id == depot_id))
    if item_id is not None:
        query = query.where(movements.c.item_id == item_id)
    return [_movement(row) for row in connection.execute(query).mappings()]


def _movement(row: Mapping[str, Any]) -> InventoryMovement:
    values = {name: row[name] for name in _EVENT_FIELDS}
    values["occurred_at"] = as_utc(values["occurred_at"])
    return InventoryMovement(event_id=row["event_id"], **values)


def copy_ledger(source: InventoryStore, target: InventoryStore, plan: "Plan", now: datetime) -> int:
    """Start `target` (a drill's ledger) as a copy of `source`: catalogue, minimum levels and every accepted
    movement, in acceptance order, recorded at `now`. Returns the number of movements copied. `source` is only
    read."""
    shelf = {item_id: spec.shelf_life_days for item_id, spec in source.catalogue().items.items()
             if spec.shelf_life_days is not None}
    target.sync_catalogue(plan, shelf)
    for (depot_id, item_id), quantity in source.minimum_levels().items():
        target.set_minimum(depot_id, item_id, quantity)
    copied = 0
    for movement in source.movements():
        try:
            target.record(movement, now)
        except LedgerError as exc:  # e.g. a depot the plan no longer has
            log.warning("not copied into the drill ledger: %s: %s: %s", movement.event_id, exc.field, exc.reason)
            continue
        copied += 1
    return copied
