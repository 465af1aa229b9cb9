"""The emergency-material ledger: every rule of contingency.ledger, and properties of the fold."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contingency.ledger import (
    Catalogue, ItemSpec, LedgerError, Lot, Stock, StockLevel, apply_movement, available, below_minimum, expiring,
    stock_from,
)
from schemas.inventory import InventoryMovement

AT = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.timezone.utc)
DAY = dt.date(2026, 7, 1)
CAT = Catalogue(frozenset({"a", "b"}),
                {"carbon": ItemSpec("t"), "pam": ItemSpec("kg", shelf_life_days=730, expiry_required=True)})


def mv(kind: str, qty: float, item: str = "carbon", depot: str = "a", **extra: Any) -> InventoryMovement:
    unit = CAT.items[item].unit if item in CAT.items else "t"
    if kind == "adjustment":
        extra.setdefault("reason", "stocktake")
    return InventoryMovement(kind=kind, depot_id=depot, item_id=item, quantity=qty,  # type: ignore[arg-type]
                             unit=extra.pop("unit", unit), occurred_at=AT, **extra)


def receipt(qty: float, lot: str | None = None, expires: dt.date | None = None, **extra: Any) -> InventoryMovement:
    return mv("receipt", qty, lot_id=lot, expires_on=expires, **extra)


def refused(stock: Stock, movement: InventoryMovement) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        apply_movement(stock, movement, CAT)
    return caught.value


# --- catalogue rules ----------------------------------------------------------------------------------------------

def test_unknown_depot_item_unit_and_transfer_target_are_refused() -> None:
    empty = Stock()
    assert refused(empty, mv("receipt", 1, depot="zzz")).field == "depot_id"
    assert refused(empty, mv("receipt", 1, item="zzz")).field == "item_id"
    error = refused(empty, mv("receipt", 1, unit="kg"))
    assert (error.field, error.reason) == ("unit", "carbon is counted in t, not kg")
    stock = stock_from([receipt(5)], CAT)
    assert refused(stock, mv("transfer", 1, to_depot_id="zzz")).field == "to_depot_id"
    assert "same depot" in refused(stock, mv("transfer", 1, to_depot_id="a")).reason


def test_a_receipt_of_an_item_with_a_shelf_life_needs_an_expiry_date() -> None:
    assert refused(Stock(), mv("receipt", 10, item="pam")).field == "expires_on"
    stock = apply_movement(Stock(), mv("receipt", 10, item="pam", expires_on=DAY), CAT)
    assert stock.on_hand("a", "pam") == 10
    assert apply_movement(Stock(), receipt(1), CAT).on_hand("a", "carbon") == 1  # no shelf life: optional


def test_without_a_catalogue_only_quantities_are_checked() -> None:
    stock = stock_from([mv("receipt", 1, depot="elsewhere", unit="bags")], None)
    assert stock.on_hand("elsewhere", "carbon") == 1


# --- kinds --------------------------------------------------------------------------------------------------------

def test_receipt_opens_a_lot_named_after_the_event_or_extends_a_named_lot() -> None:
    first = receipt(2)
    stock = stock_from([first, receipt(3, lot="L1", expires=DAY), receipt(1, lot="L1")], CAT)
    assert stock.lots[("a", "carbon", str(first.event_id))].quantity == 2
    assert stock.lots[("a", "carbon", "L1")] == Lot("a", "carbon", "L1", 4, DAY)
    assert refused(stock, receipt(1, lot="L1", expires=DAY + dt.timedelta(days=1))).field == "expires_on"


@pytest.mark.parametrize("kind", ["dispatch", "consumption"])
def test_dispatch_and_consumption_take_stock_first_expiring_first(kind: str) -> None:
    later, sooner = DAY + dt.timedelta(days=100), DAY + dt.timedelta(days=10)
    stock = stock_from([receipt(1, lot="none"), receipt(2, lot="late", expires=later),
                        receipt(2, lot="soon", expires=sooner), mv(kind, 3)], CAT)
    assert {key[2]: lot.quantity for key, lot in stock.lots.items()} == {"none": 1, "late": 1}


def test_a_movement_may_not_make_stock_negative_for_the_depot_or_the_lot() -> None:
    stock = stock_from([receipt(2, lot="L1"), receipt(3, lot="L2")], CAT)
    error = refused(stock, mv("dispatch", 6))
    assert (error.field, error.reason) == ("quantity", "dispatch of 6 t carbon at a: only 5 on hand")
    error = refused(stock, mv("dispatch", 3, lot_id="L1"))
    assert (error.field, error.reason) == ("lot_id", "dispatch of 3 t from lot L1 at a: only 2 in the lot")
    assert refused(stock, mv("consumption", 1, lot_id="nope")).field == "lot_id"
    assert refused(stock, mv("adjustment", -5.5)).field == "quantity"
    assert refused(stock, mv("dispatch", 1, depot="b")).reason == "dispatch of 1 t carbon at b: only 0 on hand"
    assert stock_from([receipt(0.1), receipt(0.2), mv("dispatch", 0.3)], CAT).lots == {}  # floats: no crumbs


def test_return_adds_stock() -> None:
    stock = stock_from([receipt(2, lot="L1"), mv("dispatch", 2), mv("return", 1.5, lot_id="L1")], CAT)
    assert stock.lots[("a", "carbon", "L1")].quantity == 1.5


def test_transfer_moves_the_same_lots_with_their_expiry() -> None:
    stock = stock_from([receipt(2, lot="L1", expires=DAY), receipt(2, lot="L2"),
                        mv("transfer", 3, to_depot_id="b")], CAT)
    assert stock.lots_of("b", "carbon") == [Lot("b", "carbon", "L1", 2, DAY), Lot("b", "carbon", "L2", 1)]
    assert stock.on_hand("a", "carbon") == 1
    named = apply_movement(stock, mv("transfer", 1, lot_id="L2", to_depot_id="b"), CAT)
    assert named.on_hand("a", "carbon") == 0 and named.lots[("b", "carbon", "L2")].quantity == 2
    assert refused(stock, mv("transfer", 2, to_depot_id="b")).field == "quantity"


def test_expiry_write_off_must_name_its_lot() -> None:
    stock = stock_from([receipt(2, lot="L1", expires=DAY), receipt(2, lot="L2")], CAT)
    assert refused(stock, mv("expiry_write_off", 1)).field == "lot_id"
    after = apply_movement(stock, mv("expiry_write_off", 2, lot_id="L1"), CAT)
    assert list(after.lots) == [("a", "carbon", "L2")]


def test_adjustment_goes_either_way_and_needs_a_reason() -> None:
    stock = stock_from([receipt(2), mv("adjustment", 1.5), mv("adjustment", -3)], CAT)
    assert stock.on_hand("a", "carbon") == 0.5
    blank = mv("adjustment", 1).model_copy(update={"reason": " "})
    assert refused(stock, blank).field == "reason"


def test_a_refused_movement_leaves_the_stock_unchanged() -> None:
    stock = stock_from([receipt(2, lot="L1")], CAT)
    refused(stock, mv("transfer", 5, to_depot_id="b"))
    assert stock.levels() == [StockLevel("a", "carbon", 2)]


# --- housekeeping -------------------------------------------------------------------------------------------------

def test_available_leaves_out_expired_lots_and_the_minimum_level_and_is_never_negative() -> None:
    stock = stock_from([receipt(5, lot="old", expires=DAY - dt.timedelta(days=1)),
                        receipt(4, lot="today", expires=DAY), receipt(3)], CAT)
    assert available(stock, "a", "carbon", DAY, {}) == 7  # usable through its expiry date
    assert available(stock, "a", "carbon", DAY, {("a", "carbon"): 2}) == 5
    assert available(stock, "a", "carbon", DAY, {("a", "carbon"): 20}) == 0
    assert available(stock, "b", "carbon", DAY, {}) == 0


def test_expiring_lists_expired_and_soon_expiring_lots_soonest_first() -> None:
    in_10, in_40 = DAY + dt.timedelta(days=10), DAY + dt.timedelta(days=40)
    stock = stock_from([receipt(1, lot="far", expires=in_40), receipt(1, lot="soon", expires=in_10),
                        receipt(1, lot="gone", expires=DAY - dt.timedelta(days=3)), receipt(1, lot="never")], CAT)
    assert [lot.lot_id for lot in expiring(stock, DAY)] == ["gone", "soon"]
    assert [lot.lot_id for lot in expiring(stock, DAY, within_days=40)] == ["gone", "soon", "far"]


def test_below_minimum_includes_items_with_no_stock_at_all() -> None:
    stock = stock_from([receipt(5)], CAT)
    levels = {("a", "carbon"): 6.0, ("b", "carbon"): 1.0, ("a", "pam"): 0.0}
    assert below_minimum(stock, levels) == [StockLevel("a", "carbon", 5, 6), StockLevel("b", "carbon", 0, 1)]


def test_catalogue_from_the_arxan_plan(arxan) -> None:
    catalogue = Catalogue.from_plan(arxan, {"pam": 730})
    assert "yirshi" in catalogue.depots and catalogue.items["activated_carbon"] == ItemSpec("t", max_movement=1e5)
    assert catalogue.items["pam"] == ItemSpec("kg", 730, True, 1e5)


def test_a_movement_over_the_items_bound_is_refused_with_the_field_and_the_bound(arxan) -> None:

    from contingency.ledger import LedgerError

    catalogue = Catalogue.from_plan(arxan)
    huge = InventoryMovement(event_id=uuid.uuid4(), kind="receipt", depot_id="yirshi", item_id="activated_carbon",
                             quantity=1e308, unit="t", occurred_at=dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(LedgerError) as caught:
        stock_from([huge], catalogue)
    assert caught.value.field == "quantity" and "over the plan's bound of 100000 t" in caught.value.reason
    assert "items.activated_carbon.max_movement" in caught.value.reason
    fine = huge.model_copy(update={"quantity": 100_000.0})
    assert stock_from([fine], catalogue).on_hand("yirshi", "activated_carbon") == 100_000


# --- properties ---------------------------------------------------------------------------------------------------

SIGN = {"receipt": 1, "return": 1, "dispatch": -1, "consumption": -1, "expiry_write_off": -1, "transfer": 0}


@st.composite
def movements(draw: st.DrawFn) -> InventoryMovement:
    kind = draw(st.sampled_from([*SIGN, "adjustment"]))
    quantity = draw(st.floats(0.001, 50).map(lambda q: round(q, 3)))
    if kind == "adjustment":
        quantity = draw(st.sampled_from([1, -1])) * quantity
    depot = draw(st.sampled_from(["a", "b", "c"]))  # c is not in the catalogue
    to_depot = draw(st.sampled_from(["a", "b", "c"])) if kind == "transfer" else None
    lot = draw(st.sampled_from([None, "L1", "L2"]))
    if kind == "expiry_write_off" and lot is None:
        lot = "L1" if draw(st.booleans()) else None
    expires = draw(st.sampled_from([None, DAY, DAY + dt.timedelta(days=9)]))
    item = draw(st.sampled_from(["carbon", "pam"]))
    return InventoryMovement(kind=kind, depot_id=depot, item_id=item, quantity=quantity,
                             unit=CAT.items[item].unit, lot_id=lot, expires_on=expires, to_depot_id=to_depot,
                             reason="fuzz", occurred_at=AT)


def net(kept: list[InventoryMovement], depot: str, item: str) -> float:
    """The plain sum of the movements of one depot and item (a transfer is out of its depot, into to_depot)."""
    total = 0.0
    for m in kept:
        if m.item_id != item:
            continue
        if m.depot_id == depot:
            total += -m.quantity if m.kind == "transfer" else SIGN.get(m.kind, 1) * m.quantity
        if m.to_depot_id == depot:
            total += m.quantity
    return total


def accepted(history: list[InventoryMovement]) -> tuple[Stock, list[InventoryMovement]]:
    stock, kept = Stock(), []
    for movement in history:
        try:
            stock = apply_movement(stock, movement, CAT)
        except LedgerError:
            continue
        kept.append(movement)
    return stock, kept


@settings(max_examples=300, deadline=None)
@given(st.lists(movements(), max_size=40))
def test_accepted_movements_never_make_stock_negative_and_stock_is_their_sum(
        history: list[InventoryMovement]) -> None:
    stock, kept = accepted(history)
    assert all(lot.quantity > 0 for lot in stock.lots.values())
    for depot in ("a", "b", "c"):
        for item in ("carbon", "pam"):
            assert stock.on_hand(depot, item) == pytest.approx(net(kept, depot, item), abs=1e-6)
    assert stock_from(kept, CAT) == stock  # the fold of the accepted history is the stock
    assert stock_from(kept, None) == stock  # replaying without the catalogue too


@settings(max_examples=100, deadline=None)
@given(st.lists(movements(), max_size=30))
def test_replaying_the_accepted_events_gives_the_same_stock(history: list[InventoryMovement]) -> None:
    stock, kept = accepted(history)
    assert stock_from(kept, CAT) == stock_from(kept, CAT) == stock
    once = list({m.event_id: m for m in kept + kept}.values())  # a consumer keeping the first of each event id
    assert stock_from(once, CAT) == stock
