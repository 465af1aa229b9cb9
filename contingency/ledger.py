"""The emergency-material ledger: stock is a fold of inventory movements, never edited. Pure: no I/O, no clock.

Lots: every unit of stock sits in a lot (depot, item, lot_id) with an optional expiry date. A receipt, return or
positive adjustment without a lot_id opens a lot named after its event id. A dispatch, consumption, transfer or
negative adjustment without a lot_id draws from the depot's lots first-expiring-first (lots without an expiry last,
then in the order they were opened); a transfer keeps each lot's id and expiry at the receiving depot.

A lot is expired on a day after its `expires_on` (it is usable through that date).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from schemas.inventory import InventoryMovement

if TYPE_CHECKING:
    from contingency.plan import Plan

# Quantities are floats (t, kg, m, 台); sums are rounded to this many places so 0.1 + 0.2 - 0.3 is 0.
PLACES = 9
LotKey = tuple[str, str, str]  # (depot, item, lot_id)
MinimumLevels = Mapping[tuple[str, str], float]  # (depot, item) -> quantity to keep back


class LedgerError(ValueError):
    """A movement the ledger refuses; `field` names the movement's field at fault (for a dead letter)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ItemSpec:
    unit: str
    shelf_life_days: int | None = None
    expiry_required: bool = False  # a receipt of this item must say expires_on
    max_movement: float = float("inf")  # the plan's bound on one movement


@dataclass(frozen=True)
class Catalogue:
    depots: frozenset[str]
    items: Mapping[str, ItemSpec]

    @classmethod
    def from_plan(cls, plan: "Plan", shelf_life_days: Mapping[str, int] | None = None) -> "Catalogue":
        """The plan's depots and items; items given a shelf life must have receipts with an expiry date."""
        shelf = shelf_life_days or {}
        return cls(frozenset(plan.depots),
                   {item_id: ItemSpec(item.unit, shelf.get(item_id), item_id in shelf, item.max_movement)
                    for item_id, item in plan.items.items()})


@dataclass(frozen=True)
class Lot:
    depot: str
    item: str
    lot_id: str
    quantity: float
    expires_on: dt.date | None = None

    def expired(self, on: dt.date) -> bool:
        return self.expires_on is not None and self.expires_on < on


@dataclass(frozen=True)
class StockLevel:
    depot: str
    item: str
    on_hand: float
    minimum: float = 0.0


@dataclass(frozen=True)
class Stock:
    """Lots with a positive quantity, in the order they were opened."""

    lots: Mapping[LotKey, Lot] = field(default_factory=dict)

    def on_hand(self, depot: str, item: str) -> float:
        return _round(sum(lot.quantity for lot in self.lots_of(depot, item)))

    def lots_of(self, depot: str, item: str) -> list[Lot]:
        return [lot for lot in self.lots.values() if lot.depot == depot and lot.item == item]

    def levels(self) -> list[StockLevel]:
        totals: dict[tuple[str, str], float] = {}
        for lot in self.lots.values():
            totals[(lot.depot, lot.item)] = totals.get((lot.depot, lot.item), 0.0) + lot.quantity
        return [StockLevel(depot, item, _round(qty)) for (depot, item), qty in sorted(totals.items())]


def apply_movement(stock: Stock, movement: InventoryMovement, catalogue: Catalogue | None) -> Stock:
    """The stock after `movement`, or LedgerError. Without a catalogue (replaying accepted history) only the
    quantity rules are checked."""
    lots = dict(stock.lots)
    _apply(lots, movement, catalogue)
    return Stock(lots)


def stock_from(movements: Iterable[InventoryMovement], catalogue: Catalogue | None) -> Stock:
    """Fold movements, in the order they were accepted, into stock; LedgerError at the first refused one."""
    lots: dict[LotKey, Lot] = {}
    for movement in movements:
        _apply(lots, movement, catalogue)
    return Stock(lots)


def available(stock: Stock, depot: str, item: str, on: dt.date, minimum_levels: MinimumLevels) -> float:
    """What may be sent out on `on`: unexpired stock above the depot's minimum level, never below 0."""
    usable = sum(lot.quantity for lot in stock.lots_of(depot, item) if not lot.expired(on))
    return max(0.0, _round(usable - minimum_levels.get((depot, item), 0.0)))


def expiring(stock: Stock, on: dt.date, within_days: int = 30) -> list[Lot]:
    """Lots expired already or expiring within `within_days` of `on`, soonest first."""
    limit = on + dt.timedelta(days=within_days)
    found = [lot for lot in stock.lots.values() if lot.expires_on is not None and lot.expires_on <= limit]
    return sorted(found, key=lambda lot: (lot.expires_on, lot.depot, lot.item, lot.lot_id))


def below_minimum(stock: Stock, minimum_levels: MinimumLevels) -> list[StockLevel]:
    """Depot items whose stock on hand is below their minimum level (including none at all)."""
    return [StockLevel(depot, item, stock.on_hand(depot, item), minimum)
            for (depot, item), minimum in sorted(minimum_levels.items())
            if stock.on_hand(depot, item) < minimum]


# --- the fold ---------------------------------------------------------------------------------------------------

def _apply(lots: dict[LotKey, Lot], m: InventoryMovement, catalogue: Catalogue | None) -> None:
    """Change `lots` by one movement; on LedgerError `lots` may be half changed (callers fold into a copy)."""
    if catalogue is not None:
        _check_catalogue(m, catalogue)
    if m.kind == "transfer" and m.to_depot_id == m.depot_id:
        raise LedgerError("to_depot_id", f"a transfer to the same depot {m.depot_id}")
    if m.kind == "expiry_write_off" and m.lot_id is None:
        raise LedgerError("lot_id", "an expiry write-off must name the lot")
    if m.kind == "adjustment" and not m.reason.strip():
        raise LedgerError("reason", "an adjustment needs a reason")
    if m.kind in ("receipt", "return") or (m.kind == "adjustment" and m.quantity >= 0):
        _add(lots, m, m.depot_id, m.lot_id or str(m.event_id), m.quantity, m.expires_on)
        return
    taken = _take(lots, m, abs(m.quantity))
    if m.kind == "transfer":
        assert m.to_depot_id is not None  # the event's own validator guarantees it
        for lot, qty in taken:
            _add(lots, m, m.to_depot_id, lot.lot_id, qty, lot.expires_on)


def _check_catalogue(m: InventoryMovement, catalogue: Catalogue) -> None:
    if m.depot_id not in catalogue.depots:
        raise LedgerError("depot_id", f"unknown depot {m.depot_id}")
    if m.to_depot_id is not None and m.to_depot_id not in catalogue.depots:
        raise LedgerError("to_depot_id", f"unknown depot {m.to_depot_id}")
    spec = catalogue.items.get(m.item_id)
    if spec is None:
        raise LedgerError("item_id", f"unknown item {m.item_id}")
    if m.unit != spec.unit:
        raise LedgerError("unit", f"{m.item_id} is counted in {spec.unit}, not {m.unit}")
    if abs(m.quantity) > spec.max_movement:
        raise LedgerError("quantity", f"{m.quantity:g} {m.unit} of {m.item_id} in one movement is over the plan's "
                                      f"bound of {spec.max_movement:g} {m.unit} (items.{m.item_id}.max_movement)")
    if m.kind == "receipt" and spec.expiry_required and m.expires_on is None:
        raise LedgerError("expires_on", f"{m.item_id} has a shelf life of {spec.shelf_life_days} days: "
                                        "a receipt must say when it expires")


def _add(lots: dict[LotKey, Lot], m: InventoryMovement, depot: str, lot_id: str, qty: float,
         expires_on: dt.date | None) -> None:
    key = (depot, m.item_id, lot_id)
    lot = lots.get(key)
    if lot is None:
        if qty > 0:
            lots[key] = Lot(depot, m.item_id, lot_id, _round(qty), expires_on)
        return
    if expires_on is not None and lot.expires_on is not None and expires_on != lot.expires_on:
        raise LedgerError("expires_on", f"lot {lot_id} at {depot} expires on {lot.expires_on}, not {expires_on}")
    lots[key] = replace(lot, quantity=_round(lot.quantity + qty), expires_on=lot.expires_on or expires_on)


def _take(lots: dict[LotKey, Lot], m: InventoryMovement, qty: float) -> list[tuple[Lot, float]]:
    """Remove `qty` of the movement's item from its depot (from its lot if named); returns (lot, taken) pairs."""
    on_hand = _round(sum(lot.quantity for key, lot in lots.items() if key[:2] == (m.depot_id, m.item_id)))
    if qty > on_hand:
        raise LedgerError("quantity", f"{m.kind} of {qty:g} {m.unit} {m.item_id} at {m.depot_id}: "
                                      f"only {on_hand:g} on hand")
    if m.lot_id is not None:
        lot = lots.get((m.depot_id, m.item_id, m.lot_id))
        held = lot.quantity if lot is not None else 0.0
        if lot is None or qty > held:
            raise LedgerError("lot_id", f"{m.kind} of {qty:g} {m.unit} from lot {m.lot_id} at {m.depot_id}: "
                                        f"only {held:g} in the lot")
        order = [lot]
    else:
        order = sorted((lot for key, lot in lots.items() if key[:2] == (m.depot_id, m.item_id)),
                       key=lambda lot: lot.expires_on or dt.date.max)  # stable: opened first among equals
    taken: list[tuple[Lot, float]] = []
    left = qty
    for lot in order:
        if left <= 0:
            break
        part = min(lot.quantity, left)
        left = _round(left - part)
        rest = _round(lot.quantity - part)
        key = (lot.depot, lot.item, lot.lot_id)
        if rest > 0:
            lots[key] = replace(lot, quantity=rest)
        else:
            del lots[key]
        taken.append((lot, part))
    return taken


def _round(value: float) -> float:
    return round(value, PLACES) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True)
class StockLine:
    """One depot item as `ers inventory stock` shows it on a day."""

    depot: str
    item: str
    on_hand: float
    expired: float
    minimum: float
    available: float
    next_expiry: dt.date | None


def stock_lines(stock: Stock, minimum_levels: MinimumLevels, on: dt.date) -> list[StockLine]:
    """Every depot item that has stock or a minimum level, by depot and item."""
    lines = []
    for depot, item in sorted({(lot.depot, lot.item) for lot in stock.lots.values()} | set(minimum_levels)):
        lots = stock.lots_of(depot, item)
        lines.append(StockLine(
            depot=depot, item=item, on_hand=stock.on_hand(depot, item),
            expired=_round(sum(lot.quantity for lot in lots if lot.expired(on))),
            minimum=minimum_levels.get((depot, item), 0.0), available=available(stock, depot, item, on, minimum_levels),
            next_expiry=min((lot.expires_on for lot in lots if lot.expires_on), default=None)))
    return lines
