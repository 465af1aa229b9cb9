"""The console's materials pages (issue 16, item 5): what /stock and /coverage render from the ledger's stock and the
2-hour circle, and how the movement form is read."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pytest

from contingency import load_plan
from contingency.coverage import Contribution, CoverageReport, ItemCoverage, coverage
from contingency.ledger import available, below_minimum, expiring, stock_from, stock_lines
from handlers.road_files import load_road_file
from schemas.inventory import InventoryMovement
from streams.console_stock import MovementFormError, movement_from_form
from streams.views.console_stock_pages import coverage_page, source_verdicts, stock_page

REPO = Path(__file__).resolve().parents[2]
PLAN = load_plan(REPO / "plans" / "arxan.yaml")
TZ = dt.timezone(dt.timedelta(hours=8))
ON = dt.date(2026, 12, 7)
NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.timezone.utc)


def receipt(depot: str, item: str, quantity: float, lot: str | None = None, expires: dt.date | None = None,
            reason: str = "") -> InventoryMovement:
    return InventoryMovement(kind="receipt", depot_id=depot, item_id=item, quantity=quantity,
                             unit=PLAN.items[item].unit, lot_id=lot, expires_on=expires, reason=reason,
                             actor="console:keeper", occurred_at=NOW)


def render(movements: list[InventoryMovement], minimums: dict, role: str, language: str = "zh-CN", **kw) -> str:
    stock = stock_from(movements, None)
    return stock_page(PLAN, stock_lines(stock, minimums, ON), expiring(stock, ON, 30), below_minimum(stock, minimums),
                      movements[::-1], ON, TZ, language, "某人", role, "the-csrf", **kw)


def table(html: str, name: str) -> str:
    body = html[html.index(f'<table id="{name}"'):]
    return body[:body.index("</table>")]


def row(html: str, name: str, **attributes: str) -> str:
    body = table(html, name)
    for tr in re.findall(r"<tr[^>]*>.*?</tr>", body[body.index("<tbody>"):]):
        if all(f'data-{k}="{v}"' in tr for k, v in attributes.items()):
            return tr
    raise AssertionError(f"no row {attributes} in #{table}")


def test_stock_shows_depot_and_item_names_from_the_plan_with_units() -> None:
    html = render([receipt("yirshi", "activated_carbon", 7.5)], {}, "viewer")
    tr = row(html, "stock", depot="yirshi", item="activated_carbon")
    assert "伊尔施环境应急物资储备点" in tr and "活性炭(粉末/颗粒)" in tr and "7.5 t" in tr
    assert 'class="below"' not in tr


def test_an_item_below_its_minimum_is_highlighted_and_listed_with_what_it_lacks() -> None:
    html = render([receipt("city_centre", "ppe", 3), receipt("city_centre", "pumps", 9)],
                  {("city_centre", "ppe"): 10.0, ("city_centre", "pumps"): 2.0, ("bailang", "sandbags"): 100.0},
                  "viewer")
    assert 'class="below"' in row(html, "stock", depot="city_centre", item="ppe")
    assert "below" not in row(html, "stock", depot="city_centre", item="pumps")
    nothing_held = row(html, "below", depot="bailang", item="sandbags")
    assert "0 个" in nothing_held and "缺 100" in nothing_held, "a minimum with no stock at all is below it"
    assert "缺 7" in row(html, "below", depot="city_centre", item="ppe")
    assert 'id="no-below"' not in html


def test_expired_and_soon_expiring_lots_are_listed_and_only_the_materials_officer_may_write_them_off() -> None:
    movements = [receipt("yirshi", "pac", 2, "L-OLD", ON - dt.timedelta(days=3)),
                 receipt("yirshi", "pac", 1, "L-SOON", ON + dt.timedelta(days=10)),
                 receipt("yirshi", "pac", 4, "L-LATER", ON + dt.timedelta(days=90))]
    viewer = render(movements, {}, "viewer")
    old = row(viewer, "lots", lot="L-OLD")
    assert 'class="expired"' in old and "已过期 3 天" in old and "2 t" in old
    assert "10 天后到期" in row(viewer, "lots", lot="L-SOON")
    assert "L-LATER" not in table(viewer, "lots"), "expires in 90 days"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row(viewer, "stock", depot="yirshi", item="pac"))
    assert cells[2:6] == ["7 t", "2", "0", "5"], "on hand 7, of which 2 expired: 5 available"
    assert "write-off" not in viewer and 'id="movement"' not in viewer, "a viewer gets no form"

    keeper = render(movements, {}, "materials_officer")
    old = row(keeper, "lots", lot="L-OLD")
    assert 'name="kind" value="expiry_write_off"' in old and 'name="lot" value="L-OLD"' in old
    assert 'name="quantity" value="2"' in old and 'name="csrf" value="the-csrf"' in old
    assert "write-off" not in row(keeper, "lots", lot="L-SOON"), "not expired yet"


def test_the_movement_form_is_for_the_materials_officer_with_a_new_one_time_id_at_every_render() -> None:
    for role in ("viewer", "duty_officer", "section_chief", "admin"):
        assert 'id="movement"' not in render([], {}, role), role
    first, second = render([], {}, "materials_officer"), render([], {}, "materials_officer")
    form = first[first.index('<form method="post" action="/stock/movements" id="movement"'):]
    assert 'name="csrf" value="the-csrf"' in form
    for kind in ("receipt", "dispatch", "transfer", "adjustment", "expiry_write_off"):
        assert f'<option value="{kind}"' in form
    assert '<option value="yirshi">伊尔施环境应急物资储备点</option>' in form
    assert '<option value="ppe">防化服/防毒面具/救生衣 (套)</option>' in form
    once = re.compile(r'id="movement".*?name="once" value="([^"]+)"')
    assert once.search(first).group(1) != once.search(second).group(1)


def test_a_refused_form_keeps_what_was_typed_and_shows_the_reason_escaped() -> None:
    html = render([], {}, "materials_officer", error="台账拒绝登记: quantity: <only 0> on hand",
                  values={"kind": "dispatch", "depot": "bailang", "item": "pumps", "quantity": "3"})
    assert '<p class="error" role="alert">台账拒绝登记: quantity: &lt;only 0&gt; on hand</p>' in html
    assert '<option value="dispatch" selected>' in html and '<option value="bailang" selected>' in html
    assert 'name="quantity" type="number" value="3"' in html


def test_the_ledger_table_escapes_what_people_typed_and_speaks_english_when_asked() -> None:
    html = render([receipt("yirshi", "pumps", 2, reason="<script>alert(1)</script>")], {}, "viewer", "en")
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "Emergency materials" in html and "receipt" in row(html, "ledger")


def test_source_verdicts_group_by_source_shortfalls_first() -> None:
    def entry(source: str, item: str, required: float, in_window: float) -> ItemCoverage:
        contributions = (Contribution("yirshi", in_window, 42.4),) if in_window else ()
        return ItemCoverage(source, "情景", item, PLAN.items[item].unit, required, 120, in_window,
                            max(0.0, required - in_window), 42.4 if in_window else None, contributions)

    report = CoverageReport(PLAN.id, 120, (entry("a", "pac", 2, 2), entry("b", "pac", 2, 2),
                                           entry("b", "pumps", 4, 1), entry("c", "ppe", 1, 0)))
    verdicts = source_verdicts(report)
    assert [(v.source_id, v.covered, len(v.entries)) for v in verdicts] == [("b", False, 2), ("c", False, 1),
                                                                              ("a", True, 1)]
    html = coverage_page(PLAN, report, ON, "zh-CN", "某人", "viewer", "x")
    assert "1/3 个风险源两小时内物资到位" in html
    b = html[html.index('data-source="b"'):html.index('data-source="c"')]
    assert 'data-verdict="shortfall"' in html[html.index('data-source="b"') - 80:html.index('data-source="b"') + 80]
    pumps = re.search(r'<tr class="shortfall" data-item="pumps">.*?</tr>', b).group(0)
    assert "4 台" in pumps and "3 台" in pumps, "what is short and by how much"
    assert "伊尔施环境应急物资储备点 1 (42 分钟)" in pumps, "what reaches it, with minutes"
    assert "无库存可及时到达" in html[html.index('data-source="c"'):]


def test_the_coverage_page_agrees_with_the_domain_report_on_the_plans_sources() -> None:
    graph = load_road_file(REPO / "plans" / "arxan-roads.geojson")
    stock = stock_from([receipt("yirshi", item, 10_000) for item in PLAN.items], None)
    report = coverage(PLAN, graph, lambda d, i: available(stock, d, i, ON, {}), 120)
    html = coverage_page(PLAN, report, ON, "zh-CN")
    for verdict in source_verdicts(report):
        expected = all(e.covered for e in report.items if e.source_id == verdict.source_id)
        assert f'data-source="{verdict.source_id}" data-verdict="{"covered" if expected else "shortfall"}"' in html
        assert PLAN.sources[verdict.source_id].name in html
    assert {v.source_id for v in source_verdicts(report)} == {e.source_id for e in report.items}


def form(**fields: str) -> dict[str, str]:
    return {"kind": "receipt", "depot": "yirshi", "item": "activated_carbon", "quantity": "5", **fields}


def read(fields: dict[str, str], language: str = "zh-CN") -> InventoryMovement:
    return movement_from_form(PLAN, fields, "console:keeper", NOW, uuid.UUID(int=1), language)


def test_a_form_becomes_the_movement_in_the_items_unit() -> None:
    movement = read(form(expires="2027-06-30", lot="A-1", reason="年度采购"))
    assert (movement.kind, movement.depot_id, movement.item_id, movement.quantity, movement.unit) == (
        "receipt", "yirshi", "activated_carbon", 5.0, "t")
    assert movement.expires_on == dt.date(2027, 6, 30) and movement.lot_id == "A-1"
    assert movement.event_id == uuid.UUID(int=1) and movement.actor == "console:keeper"
    transfer = read(form(kind="transfer", to_depot="bailang"))
    assert transfer.to_depot_id == "bailang"
    assert read(form(kind="adjustment", quantity="-1.5", reason="盘点")).quantity == -1.5


@pytest.mark.parametrize(("fields", "reason"), [
    (form(depot="nowhere"), "未知物资库 nowhere"),
    (form(item="gold"), "未知物资 gold"),
    (form(quantity="0"), "入库的数量须为正数"),
    (form(kind="dispatch", quantity="-2"), "出库的数量须为正数"),
    (form(quantity="abc"), "数量须为数字"),
    (form(quantity="nan"), "数量须为数字"),
    (form(kind="steal"), "未知的登记类型"),
    (form(kind="transfer"), "调拨须选择调入库"),
    (form(to_depot="bailang"), "调入库只用于调拨"),
    (form(expires="30/06/2027"), "有效期须为日期"),
    (form(kind="adjustment", quantity="-1"), "adjustment needs a reason"),
    (form(lot="bad lot id"), "lot_id"),
])
def test_bad_input_is_refused_with_a_reason(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(MovementFormError, match=re.escape(reason)):
        read(fields)


def test_reasons_in_english() -> None:
    with pytest.raises(MovementFormError, match="the quantity of a receipt must be positive"):
        read(form(quantity="-3"), "en")
