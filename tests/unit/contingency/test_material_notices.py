import datetime as dt

from contingency import load_plan
from contingency.ledger import LedgerError, Lot, StockLevel
from contingency.material_notices import housekeeping_notices, refused_movement_notices
from contingency.roster import load_roster
from contingency.sms_text import fits
from schemas import InventoryMovement
from tests.integration.harness import DEFAULT_PLAN, DEFAULT_ROSTER

PLAN = load_plan(DEFAULT_PLAN)
ROSTER = load_roster(DEFAULT_ROSTER, PLAN)
NOW = dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.timezone.utc)


def movement(**changes: object) -> InventoryMovement:
    fields = {"kind": "dispatch", "depot_id": "yirshi", "item_id": "activated_carbon", "quantity": 5, "unit": "t",
              "occurred_at": NOW}
    return InventoryMovement(**{**fields, **changes})


def test_a_refused_movement_tells_the_materials_officer_in_chinese() -> None:
    notices = refused_movement_notices(PLAN, ROSTER, movement(), LedgerError("quantity", "库存不足(现有2 t)"), NOW)
    assert [n.person_id for n in notices] == ["feng_li"]
    body = notices[0].body
    assert body.startswith("【物资】出库未入账") and "伊尔施" in body and "活性炭" in body and "库存不足" in body
    assert fits(body)
    again = refused_movement_notices(PLAN, ROSTER, movement(event_id=notices[0].notification_id), LedgerError("q", "x"),
                                     NOW)
    assert again[0].notification_id != notices[0].notification_id


def test_the_same_refusal_gives_the_same_notification_id() -> None:
    m = movement()
    first = refused_movement_notices(PLAN, ROSTER, m, LedgerError("quantity", "r"), NOW)
    second = refused_movement_notices(PLAN, ROSTER, m, LedgerError("quantity", "r"), NOW + dt.timedelta(hours=1))
    assert first[0].notification_id == second[0].notification_id


def test_a_drill_movement_pages_nobody() -> None:
    assert refused_movement_notices(PLAN, ROSTER, movement(drill_id="d1"), LedgerError("q", "r"), NOW) == []


def test_housekeeping_is_one_sms_a_day_that_fits() -> None:
    on = dt.date(2026, 7, 1)
    lots = [Lot("yirshi", "activated_carbon", f"L{i}", 1.0, on + dt.timedelta(days=i)) for i in range(-1, 40)]
    low = [StockLevel("bailang", "sandbags", 10, 500)]
    notices = housekeeping_notices(PLAN, ROSTER, lots, low, on, NOW)
    assert len(notices) == 1 and fits(notices[0].body)
    assert "已过期" in notices[0].body and "等" in notices[0].body
    assert housekeeping_notices(PLAN, ROSTER, [], [], on, NOW) == []
    assert housekeeping_notices(PLAN, ROSTER, lots, low, on, NOW)[0].notification_id == notices[0].notification_id


def test_refusals_are_told_once_a_window_and_the_notice_says_so() -> None:
    from contingency.material_notices import REFUSAL_NOTICE_WINDOW, refusal_notice_key

    start = dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.timezone.utc)  # a window's first instant
    inside = [start + dt.timedelta(seconds=s) for s in (0, 60, REFUSAL_NOTICE_WINDOW.total_seconds() - 1)]
    assert len({refusal_notice_key(PLAN, t) for t in inside}) == 1, "one key for the whole window"
    assert refusal_notice_key(PLAN, start + REFUSAL_NOTICE_WINDOW) != refusal_notice_key(PLAN, start)
    assert refusal_notice_key(PLAN, start - dt.timedelta(seconds=1)) != refusal_notice_key(PLAN, start)
    [notice] = refused_movement_notices(PLAN, ROSTER, movement(), LedgerError("quantity", "库存不足(现有2 t)"), NOW)
    assert "15分钟内其他未入账的不再逐条通知" in notice.body and fits(notice.body)
