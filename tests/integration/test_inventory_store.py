"""The inventory store on SQLite always and on PostgreSQL when ERS_TEST_POSTGRES_URL is set: movements are
checked by the ledger and appended once, stock is derived from them, concurrent dispatches cannot overdraw."""
from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from contingency import Plan, load_plan
from contingency.ledger import LedgerError, Lot, available, below_minimum, expiring
from handlers.database import make_engine, migrate
from handlers.inventory_store import InventoryStore
from schemas.inventory import InventoryMovement

ARXAN = os.path.join(os.path.dirname(__file__), "..", "..", "plans", "arxan.yaml")
AT = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DAY = dt.date(2026, 7, 1)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(ARXAN)




@pytest.fixture
def store(database_url: str, plan: Plan) -> Iterator[InventoryStore]:
    migrate(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:  # a shared PostgreSQL database: start from an empty ledger
        for table in ("movements", "minimum_levels", "items", "depots"):
            connection.execute(text(f"DELETE FROM {table}"))
    store = InventoryStore(engine)
    store.sync_catalogue(plan, {"pam": 730})
    yield store
    engine.dispose()


def mv(kind: str, qty: float, depot: str = "yirshi", item: str = "activated_carbon", **extra: Any) -> InventoryMovement:
    units = {"activated_carbon": "t", "pam": "kg"}
    if kind == "adjustment":
        extra.setdefault("reason", "stocktake")
    return InventoryMovement(kind=kind, depot_id=depot, item_id=item, quantity=qty,  # type: ignore[arg-type]
                             unit=units[item], occurred_at=AT, **extra)


def test_sync_catalogue_is_repeatable_and_takes_shelf_lives(store: InventoryStore, plan: Plan) -> None:
    store.sync_catalogue(plan)  # again, without shelf lives: the known one is kept
    catalogue = store.catalogue()
    assert catalogue.depots == frozenset(plan.depots)
    assert catalogue.items["pam"].shelf_life_days == 730 and catalogue.items["pam"].expiry_required
    assert catalogue.items["activated_carbon"].unit == "t" and not catalogue.items["activated_carbon"].expiry_required


def test_record_then_a_duplicate_event_id_changes_nothing(store: InventoryStore) -> None:
    receipt = mv("receipt", 5, lot_id="L1", actor="王")
    assert store.record(receipt, dt.datetime.now(dt.timezone.utc)).outcome == "applied"
    dispatch = mv("dispatch", 4, incident_id="YJA")
    assert store.record(dispatch, dt.datetime.now(dt.timezone.utc)).applied
    assert store.record(receipt, dt.datetime.now(dt.timezone.utc)).outcome == "duplicate"
    assert store.record(dispatch, dt.datetime.now(dt.timezone.utc)).outcome == "duplicate"  # would be refused now (1 t left): still just a duplicate
    assert store.movements() == [receipt, dispatch]
    assert store.movements(incident_id="YJA") == [dispatch] and store.movements(incident_id="K7Q") == []
    assert store.stock().on_hand("yirshi", "activated_carbon") == 1


def test_negative_stock_is_refused_with_the_reason_and_not_recorded(store: InventoryStore) -> None:
    store.record(mv("receipt", 2), dt.datetime.now(dt.timezone.utc))
    with pytest.raises(LedgerError) as caught:
        store.record(mv("dispatch", 3), dt.datetime.now(dt.timezone.utc))
    assert (caught.value.field, caught.value.reason) == ("quantity", "dispatch of 3 t activated_carbon at yirshi: "
                                                                     "only 2 on hand")
    with pytest.raises(LedgerError) as caught:
        store.record(mv("receipt", 1, depot="atlantis"), dt.datetime.now(dt.timezone.utc))
    assert caught.value.field == "depot_id"
    with pytest.raises(LedgerError) as caught:
        store.record(mv("receipt", 100, item="pam"), dt.datetime.now(dt.timezone.utc))  # 730 days of shelf life: needs expires_on
    assert caught.value.field == "expires_on"
    assert len(store.movements()) == 1


def test_a_movement_beyond_the_plans_bound_for_its_item_is_refused_by_the_store(store: InventoryStore,
                                                                               plan: Plan) -> None:
    bound = plan.items["activated_carbon"].max_movement
    assert store.catalogue().items["activated_carbon"].max_movement == bound, "the bound is kept with the item"
    with pytest.raises(LedgerError) as caught:
        store.record(mv("receipt", 1e300), dt.datetime.now(dt.timezone.utc))
    assert caught.value.field == "quantity" and "max_movement" in caught.value.reason
    assert store.record(mv("receipt", bound), dt.datetime.now(dt.timezone.utc)).applied, "the bound itself is allowed"
    assert [m.quantity for m in store.movements()] == [bound]


def test_transfer_and_expiry_write_off(store: InventoryStore) -> None:
    expires = dt.date(2026, 6, 30)
    store.record(mv("receipt", 100, item="pam", lot_id="P1", expires_on=expires), dt.datetime.now(dt.timezone.utc))
    store.record(mv("receipt", 50, item="pam", lot_id="P2", expires_on=dt.date(2028, 1, 1)), dt.datetime.now(dt.timezone.utc))
    store.record(mv("transfer", 120, item="pam", to_depot_id="bailang"), dt.datetime.now(dt.timezone.utc))
    stock = store.stock()
    assert stock.lots_of("bailang", "pam") == [Lot("bailang", "pam", "P1", 100, expires),
                                               Lot("bailang", "pam", "P2", 20, dt.date(2028, 1, 1))]
    assert stock.on_hand("yirshi", "pam") == 30
    assert [lot.lot_id for lot in expiring(stock, DAY)] == ["P1"]
    assert available(stock, "bailang", "pam", DAY, {}) == 20
    with pytest.raises(LedgerError):
        store.record(mv("expiry_write_off", 100, depot="yirshi", item="pam", lot_id="P1"), dt.datetime.now(dt.timezone.utc))  # it moved away
    store.record(mv("expiry_write_off", 100, depot="bailang", item="pam", lot_id="P1"), dt.datetime.now(dt.timezone.utc))
    assert store.stock().on_hand("bailang", "pam") == 20
    assert [m.kind for m in store.movements(depot_id="bailang")] == ["transfer", "expiry_write_off"]
    assert [m.lot_id for m in store.movements(item_id="pam", depot_id="yirshi")] == ["P1", "P2", None]


def test_stock_derived_equals_expected_and_minimum_levels(store: InventoryStore) -> None:
    for movement in (mv("receipt", 10), mv("dispatch", 2.5), mv("return", 1), mv("consumption", 0.5),
                     mv("adjustment", -1, reason="盘亏"), mv("receipt", 3, depot="bailang"),
                     mv("transfer", 2, to_depot_id="bailang")):
        store.record(movement, dt.datetime.now(dt.timezone.utc))
    stock = store.stock()
    assert stock.on_hand("yirshi", "activated_carbon") == 5
    assert stock.on_hand("bailang", "activated_carbon") == 5
    for movement in store.movements():  # the whole topic replayed: nothing changes
        assert store.record(movement, dt.datetime.now(dt.timezone.utc)).outcome == "duplicate"
    assert store.stock() == stock
    store.set_minimum("yirshi", "activated_carbon", 6)
    store.set_minimum("yirshi", "activated_carbon", 4)  # updated, not added
    store.set_minimum("bailang", "activated_carbon", 8)
    levels = store.minimum_levels()
    assert levels == {("yirshi", "activated_carbon"): 4, ("bailang", "activated_carbon"): 8}
    assert available(stock, "yirshi", "activated_carbon", DAY, levels) == 1
    assert [(s.depot, s.on_hand, s.minimum) for s in below_minimum(stock, levels)] == [("bailang", 5, 8)]


def test_stock_on_a_day_folds_what_was_recorded_by_its_end(store: InventoryStore) -> None:
    monday = dt.datetime(2026, 7, 6, 9, tzinfo=dt.timezone.utc)
    store.record(mv("receipt", 4), now=monday)
    store.record(mv("dispatch", 3), now=monday + dt.timedelta(days=1))
    assert store.stock(on=monday.date()).on_hand("yirshi", "activated_carbon") == 4
    assert store.stock(on=monday.date() + dt.timedelta(days=1)).on_hand("yirshi", "activated_carbon") == 1
    assert store.stock(on=monday.date() - dt.timedelta(days=1)).lots == {}


def test_concurrent_dispatches_cannot_both_pass_the_check(store: InventoryStore) -> None:
    store.record(mv("receipt", 10), dt.datetime.now(dt.timezone.utc))
    results: list[str] = []
    barrier = threading.Barrier(6)

    def dispatch() -> None:
        barrier.wait()
        try:
            store.record(mv("dispatch", 3, incident_id=str(uuid.uuid4())), dt.datetime.now(dt.timezone.utc))
            results.append("applied")
        except LedgerError:
            results.append("refused")

    threads = [threading.Thread(target=dispatch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["applied"] * 3 + ["refused"] * 3
    assert store.stock().on_hand("yirshi", "activated_carbon") == 1
