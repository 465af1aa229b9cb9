import datetime as dt
import uuid

from contingency import load_plan
from contingency.materials import dispatch_movements, needs_proposal, propose, with_proposal
from contingency.sms_text import fits
from handlers.road_files import load_road_file
from schemas import IncidentOpened, IncidentUpdated, WarningLevel
from tests.integration.harness import DEFAULT_PLAN, REPO

PLAN = load_plan(DEFAULT_PLAN)
GRAPH = load_road_file(REPO / "plans" / "arxan-roads.geojson")
NOW = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)
STOCK = {("yirshi", "quicklime"): 25.0, ("yirshi", "activated_carbon"): 2.0, ("city_centre", "activated_carbon"): 9.0,
         ("bailang", "sandbags"): 100.0, ("ulanhot_league_reserve", "pumps"): 10.0}


def available(depot: str, item: str) -> float:
    return STOCK.get((depot, item), 0.0)


def opened(level: str, source: str = "tailings_example") -> IncidentOpened:
    return IncidentOpened(incident_id=uuid.uuid4(), source_id=source, occurred_at=NOW, code="K7Q", kind="threshold",
                          rule_id="r", level=level, title="t")


def test_proposals_start_at_the_plans_level() -> None:
    assert PLAN.propose_materials_from == "orange"
    assert not needs_proposal(PLAN, opened("yellow"))
    assert needs_proposal(PLAN, opened("orange")) and needs_proposal(PLAN, opened("red"))
    assert not needs_proposal(PLAN, opened("red", source="arxan_city_air")), "no materials required for air"
    crossing = IncidentUpdated(incident_id=uuid.uuid4(), source_id="tailings_example", occurred_at=NOW, rule_id="r",
                               level="orange", previous_level="yellow", reason="raised")
    above = crossing.model_copy(update={"level": WarningLevel.RED, "previous_level": WarningLevel.ORANGE})
    assert needs_proposal(PLAN, crossing) and not needs_proposal(PLAN, above)
    assert with_proposal(PLAN, GRAPH, available, opened("blue")).materials is None


def test_the_proposal_fills_from_the_earliest_depot_and_fits_an_sms() -> None:
    proposal = propose(PLAN, GRAPH, available, "tailings_example")
    by_item = {}
    for a in proposal.allocations:
        by_item.setdefault(a.item_id, []).append(a)
    assert [(a.depot_id, a.quantity) for a in by_item["quicklime"]] == [("yirshi", 20.0)]
    carbon = by_item["activated_carbon"]
    assert [a.depot_id for a in carbon] == ["yirshi", "city_centre"]  # Yirshi is nearer the pond
    assert carbon[0].arrival_minutes <= carbon[1].arrival_minutes and sum(a.quantity for a in carbon) == 5
    pumps = by_item["pumps"][0]
    assert pumps.depot_id == "ulanhot_league_reserve" and not pumps.in_window, "late help is proposed, marked late"
    assert proposal.missing == {"pac": 2, "portable_monitors": 2, "ppe": 20, "sandbags": 1900}
    assert proposal.line.startswith("物资: 生石灰20t 伊尔施库") and "缺4项" in proposal.line
    assert len(proposal.line) <= 60 and fits(proposal.line)


def test_an_empty_ledger_says_nothing_is_available_not_that_nothing_is_needed() -> None:
    proposal = propose(PLAN, GRAPH, lambda depot, item: 0.0, "tailings_example")
    assert not proposal.allocations and proposal.missing
    assert proposal.line == f"物资: 无可调库存,缺{len(proposal.missing)}项"


def test_confirming_twice_writes_the_same_dispatches() -> None:
    proposal = propose(PLAN, GRAPH, available, "tailings_example")
    first = dispatch_movements("inc-1", proposal, "cli", NOW)
    second = dispatch_movements("inc-1", proposal, "someone", NOW + dt.timedelta(minutes=5))
    assert [m.event_id for m in first] == [m.event_id for m in second]
    assert all(m.kind == "dispatch" and m.incident_id == "inc-1" for m in first)
    assert len(first) == len(proposal.allocations)


def test_an_expired_lot_does_not_count_towards_coverage() -> None:
    from contingency.coverage import coverage
    from contingency.ledger import available as ledger_available, stock_from
    from schemas import InventoryMovement

    def receipt(lot: str, quantity: float, expires: dt.date) -> InventoryMovement:
        return InventoryMovement(kind="receipt", depot_id="yirshi", item_id="activated_carbon", quantity=quantity,
                                 unit="t", lot_id=lot, expires_on=expires, occurred_at=NOW)

    on = dt.date(2026, 7, 1)
    stock = stock_from([receipt("old", 4, dt.date(2026, 6, 30)), receipt("new", 1, dt.date(2027, 1, 1))], None)
    report = coverage(PLAN, GRAPH, lambda depot, item: ledger_available(stock, depot, item, on, {}))
    outfall = next(e for e in report.items if e.source_id == "yirshi_wwtp_outfall" and e.item_id == "activated_carbon")
    assert (outfall.in_window, outfall.shortfall) == (1, 1), "2 t required, 4 t expired, 1 t usable"


def test_an_unreadable_ledger_does_not_hold_the_alert_back_and_says_to_dispatch_by_hand() -> None:
    from sqlalchemy.exc import OperationalError

    from contingency.materials import LEDGER_UNREADABLE_LINE
    from streams.services.materials import materials_enricher

    class DownLedger:
        def stock(self, on=None):
            raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))

        def minimum_levels(self):
            raise AssertionError("not reached")

    enrich = materials_enricher(PLAN, GRAPH, DownLedger())
    orange = enrich(opened("orange"))
    assert orange.materials is not None and orange.materials.line == LEDGER_UNREADABLE_LINE
    assert not orange.materials.allocations and not orange.materials.missing, "it proposes and claims nothing"
    assert fits(orange.materials.line)
    assert enrich(opened("yellow")).materials is None, "below the proposal level nothing is read or said"
