"""The console's materials pages (issue 16, item 5): stock by depot and item from the ledger (as `ers inventory stock`
shows it), lots expired or expiring soon, items below their minimum level, the recent ledger and, for the materials
officer only, the movement form; and the 2-hour circle per risk source (as `ers inventory coverage` computes it).
Pure rendering: the routes (streams/console_stock.py) read the ledger and pass what it holds."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from contingency.access import allowed
from contingency.coverage import CoverageReport, ItemCoverage
from contingency.ledger import Lot, StockLevel, StockLine
from contingency.plan import Plan
from schemas.inventory import InventoryMovement
from streams.views.console_pages import _e, page

EXPIRING_WITHIN_DAYS = 30  # as the worker's daily stock check warns (streams/agents/inventory.py)
STYLESHEET = "/static/console_stock.css"
# The movement kinds an officer records by hand; dispatches for an incident's proposal come from its confirmation,
# consumption from the field.
FORM_KINDS: tuple[str, ...] = ("receipt", "dispatch", "return", "transfer", "adjustment", "expiry_write_off")

_WORDS: Mapping[str, Mapping[str, str]] = {
    "zh-CN": {
        "stock": "应急物资库存", "as_of": "截至 {day}", "depot": "物资库", "item": "物资", "on_hand": "在库",
        "expired": "已过期", "minimum": "最低储备", "available": "可调用", "next_expiry": "最近到期",
        "no_stock": "台账中尚无库存", "expiring": "即将到期(30天内)及已过期批次", "lot": "批次",
        "quantity": "数量", "expires": "有效期至", "status": "状态", "no_expiring": "30天内无到期批次",
        "expired_since": "已过期 {days} 天", "expires_today": "今日到期", "expires_in": "{days} 天后到期",
        "below": "低于最低储备", "no_below": "无低于最低储备的物资", "short_by": "缺 {qty}",
        "record": "登记出入库", "kind": "类型", "to_depot": "调入库(调拨)", "reason": "事由",
        "optional": "可不填", "submit": "登记", "write_off": "报废", "ledger": "最近台账", "when": "时间",
        "actor": "登记人", "no_ledger": "台账为空", "coverage": "两小时应急圈", "coverage_sum":
        "{covered}/{total} 个风险源两小时内物资到位", "covered": "到位", "shortfall": "不足", "source": "风险源",
        "scenario": "情景", "required": "需求", "in_window": "时限内可达", "short": "缺口", "earliest": "最早到达",
        "reach": "可达物资库(到达时间)", "window": "时限 {minutes} 分钟", "minutes": "{minutes} 分钟",
        "no_requirements": "预案未规定任何风险源的物资需求", "nothing_reaches": "无库存可及时到达",
        "write_off_reason": "过期报废",
        "receipt": "入库", "dispatch": "出库", "return": "归还入库", "transfer": "调拨",
        "adjustment": "盘点调整(可为负)", "expiry_write_off": "过期报废(须填批次)", "consumption": "消耗",
        "unknown_kind": "未知的登记类型 {value}", "unknown_depot": "未知物资库 {value}(预案中的物资库: {known})",
        "unknown_item": "未知物资 {value}(预案中的物资: {known})", "bad_quantity": "数量须为数字,而非 {value}",
        "not_positive": "{kind}的数量须为正数", "zero": "调整数量不能为 0", "bad_date": "有效期须为日期 YYYY-MM-DD,而非 {value}",
        "to_required": "调拨须选择调入库", "to_only_transfer": "调入库只用于调拨", "invalid": "无法登记: {reason}",
        "refused": "台账拒绝登记: {reason}", "recorded": "已登记: {what}", "already": "此表单已登记过: {what}",
        "pending": "已发送,等待值守进程(ers up)记录: {id}", "no_topics": "控制台未配置台账主题,无法登记",
        "no_roads": "无法读取路网: {reason}",
    },
    "en": {
        "stock": "Emergency materials", "as_of": "as of {day}", "depot": "Depot", "item": "Item", "on_hand": "On hand",
        "expired": "Expired", "minimum": "Minimum", "available": "Available", "next_expiry": "Next expiry",
        "no_stock": "The ledger holds no stock yet", "expiring": "Lots expired or expiring within 30 days",
        "lot": "Lot", "quantity": "Quantity", "expires": "Expires", "status": "Status",
        "no_expiring": "No lot expires within 30 days", "expired_since": "expired {days} days ago",
        "expires_today": "expires today", "expires_in": "expires in {days} days", "below": "Below minimum level",
        "no_below": "Nothing is below its minimum level", "short_by": "short by {qty}", "record": "Record a movement",
        "kind": "Kind", "to_depot": "To depot (transfer)", "reason": "Reason", "optional": "optional",
        "submit": "Record", "write_off": "Write off", "ledger": "Recent ledger", "when": "When", "actor": "By",
        "no_ledger": "The ledger is empty", "coverage": "2-hour emergency circle",
        "coverage_sum": "{covered} of {total} risk sources get their materials within the window",
        "covered": "covered", "shortfall": "shortfall", "source": "Risk source", "scenario": "Scenario",
        "required": "Required", "in_window": "In time", "short": "Short", "earliest": "Earliest",
        "reach": "Depots reaching it (arrival)", "window": "window {minutes} min", "minutes": "{minutes} min",
        "no_requirements": "The plan requires materials for no risk source",
        "nothing_reaches": "no stock reaches it in time", "write_off_reason": "expired: written off",
        "receipt": "receipt", "dispatch": "dispatch", "return": "return", "transfer": "transfer",
        "adjustment": "stock-take adjustment (may be negative)", "expiry_write_off": "expiry write-off (name the lot)",
        "consumption": "consumption",
        "unknown_kind": "unknown kind of movement {value}", "unknown_depot": "unknown depot {value} (the plan's: {known})",
        "unknown_item": "unknown item {value} (the plan's: {known})", "bad_quantity": "the quantity must be a number, not {value}",
        "not_positive": "the quantity of a {kind} must be positive", "zero": "an adjustment of 0 changes nothing",
        "bad_date": "the expiry must be a date YYYY-MM-DD, not {value}", "to_required": "a transfer needs the receiving depot",
        "to_only_transfer": "a receiving depot only for a transfer", "invalid": "cannot record: {reason}",
        "refused": "the ledger refused it: {reason}", "recorded": "recorded: {what}",
        "already": "this form was recorded already: {what}",
        "pending": "sent; waiting for the worker (ers up) to record it: {id}",
        "no_topics": "the console has no ledger topic configured: nothing can be recorded",
        "no_roads": "cannot read the road graph: {reason}",
    },
}


def stock_words(language: str) -> Mapping[str, str]:
    return _WORDS["en" if language == "en" else "zh-CN"]


def _name(collection: Mapping[str, object], key: str) -> str:
    found = collection.get(key)
    return str(getattr(found, "name", key)) if found is not None else key


def _unit(plan: Plan, item: str) -> str:
    return plan.items[item].unit if item in plan.items else ""


def _qty(value: float) -> str:
    return f"{value:g}"


def _messages(notice: str, error: str) -> str:
    return ((f'<p class="notice" role="status">{_e(notice)}</p>' if notice else "")
            + (f'<p class="error" role="alert">{_e(error)}</p>' if error else ""))


def lot_status(lot: Lot, on: dt.date, language: str) -> str:
    w = stock_words(language)
    assert lot.expires_on is not None
    days = (lot.expires_on - on).days
    if lot.expired(on):
        return w["expired_since"].format(days=-days)
    return w["expires_today"] if days == 0 else w["expires_in"].format(days=days)


# --- /stock ---------------------------------------------------------------------------------------------------

def stock_page(plan: Plan, lines: Sequence[StockLine], lots: Sequence[Lot], below: Sequence[StockLevel],
               recent: Sequence[InventoryMovement], on: dt.date, tz: dt.tzinfo, language: str, user: str = "",
               role: str = "", csrf: str = "", notice: str = "", error: str = "",
               values: Mapping[str, str] | None = None) -> str:
    """`lines` from contingency.ledger.stock_lines, `lots` from expiring, `below` from below_minimum, `recent`
    newest first. The movement form only for a role allowed to record movements."""
    w = stock_words(language)
    may_record = allowed(role, "record_movement")
    body = (f'<link rel="stylesheet" href="{STYLESHEET}">'
            f'<h1>{w["stock"]} <small>{_e(w["as_of"].format(day=on.isoformat()))}</small></h1>'
            + _messages(notice, error) + _stock_table(plan, lines, w)
            + f'<h2>{w["below"]}</h2>' + _below_table(plan, below, w)
            + f'<h2>{w["expiring"]}</h2>' + _lots_table(plan, lots, on, language, may_record, csrf, w)
            + (_movement_form(plan, csrf, values or {}, w) if may_record else "")
            + f'<h2>{w["ledger"]}</h2>' + _ledger_table(plan, recent, tz, w))
    return page(w["stock"], body, language, user, role, csrf)


def _stock_table(plan: Plan, lines: Sequence[StockLine], w: Mapping[str, str]) -> str:
    if not lines:
        return f'<p id="no-stock">{w["no_stock"]}</p>'
    head = "".join(f"<th>{w[k]}</th>" for k in ("depot", "item", "on_hand", "expired", "minimum", "available",
                                                "next_expiry"))
    rows = ""
    for line in lines:
        classes = " ".join(c for c, on in (("below", line.on_hand < line.minimum), ("has-expired", line.expired > 0))
                           if on)
        unit = _unit(plan, line.item)
        rows += (f'<tr data-depot="{_e(line.depot)}" data-item="{_e(line.item)}"'
                 + (f' class="{classes}"' if classes else "") + ">"
                 f'<td>{_e(_name(plan.depots, line.depot))}</td><td>{_e(_name(plan.items, line.item))}</td>'
                 f'<td class="num on-hand">{_qty(line.on_hand)} {_e(unit)}</td><td class="num">{_qty(line.expired)}</td>'
                 f'<td class="num">{_qty(line.minimum)}</td><td class="num">{_qty(line.available)}</td>'
                 f'<td>{line.next_expiry.isoformat() if line.next_expiry else ""}</td></tr>')
    return f'<table id="stock" class="stock"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _below_table(plan: Plan, below: Sequence[StockLevel], w: Mapping[str, str]) -> str:
    if not below:
        return f'<p id="no-below">{w["no_below"]}</p>'
    rows = "".join(
        f'<tr class="below" data-depot="{_e(b.depot)}" data-item="{_e(b.item)}">'
        f'<td>{_e(_name(plan.depots, b.depot))}</td><td>{_e(_name(plan.items, b.item))}</td>'
        f'<td class="num">{_qty(b.on_hand)} {_e(_unit(plan, b.item))}</td><td class="num">{_qty(b.minimum)}</td>'
        f'<td>{_e(w["short_by"].format(qty=_qty(round(b.minimum - b.on_hand, 9))))}</td></tr>' for b in below)
    head = "".join(f"<th>{w[k]}</th>" for k in ("depot", "item", "on_hand", "minimum")) + "<th></th>"
    return f'<table id="below" class="stock"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _lots_table(plan: Plan, lots: Sequence[Lot], on: dt.date, language: str, may_record: bool, csrf: str,
                w: Mapping[str, str]) -> str:
    if not lots:
        return f'<p id="no-expiring">{w["no_expiring"]}</p>'
    head = "".join(f"<th>{w[k]}</th>" for k in ("depot", "item", "lot", "quantity", "expires", "status"))
    rows = ""
    for lot in lots:
        expired = lot.expired(on)
        action = ""
        if may_record and expired:
            action = (f'<form method="post" action="/stock/movements" class="inline write-off">'
                      + _hidden({"csrf": csrf, "once": str(uuid.uuid4()), "kind": "expiry_write_off",
                                 "depot": lot.depot, "item": lot.item, "lot": lot.lot_id,
                                 "quantity": _qty(lot.quantity), "reason": w["write_off_reason"]})
                      + f'<button type="submit">{w["write_off"]}</button></form>')
        rows += (f'<tr class="{"expired" if expired else "expiring"}" data-lot="{_e(lot.lot_id)}">'
                 f'<td>{_e(_name(plan.depots, lot.depot))}</td><td>{_e(_name(plan.items, lot.item))}</td>'
                 f'<td>{_e(lot.lot_id)}</td><td class="num">{_qty(lot.quantity)} {_e(_unit(plan, lot.item))}</td>'
                 f'<td>{lot.expires_on.isoformat() if lot.expires_on else ""}</td>'
                 f'<td>{_e(lot_status(lot, on, language))} {action}</td></tr>')
    return f'<table id="lots" class="stock"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in fields.items())


def _options(choices: Iterable[tuple[str, str]], selected: str, blank: bool = False) -> str:
    out = '<option value=""></option>' if blank else ""
    for value, label in choices:
        out += (f'<option value="{_e(value)}"' + (" selected" if value == selected else "")
                + f">{_e(label)}</option>")
    return out


def _movement_form(plan: Plan, csrf: str, values: Mapping[str, str], w: Mapping[str, str]) -> str:
    """The form's `once` is new at every render: posting the same rendered form twice records one movement."""
    def text(name: str, label: str, kind: str = "text", extra: str = "") -> str:
        return (f'<label>{_e(label)} <input name="{name}" type="{kind}" value="{_e(values.get(name, ""))}"{extra}>'
                "</label>")

    depots = [(d, f"{depot.name}") for d, depot in plan.depots.items()]
    items = [(i, f"{item.name} ({item.unit})") for i, item in plan.items.items()]
    return (f'<h2>{w["record"]}</h2><form method="post" action="/stock/movements" id="movement" class="movement">'
            + _hidden({"csrf": csrf, "once": str(uuid.uuid4())})
            + f'<label>{w["kind"]} <select name="kind" required>'
            + _options(((k, w[k]) for k in FORM_KINDS), values.get("kind", "receipt")) + "</select></label>"
            + f'<label>{w["depot"]} <select name="depot" required>'
            + _options(depots, values.get("depot", ""), blank=True) + "</select></label>"
            + f'<label>{w["item"]} <select name="item" required>'
            + _options(items, values.get("item", ""), blank=True) + "</select></label>"
            + text("quantity", w["quantity"], "number", ' step="any" required')
            + text("lot", f'{w["lot"]} ({w["optional"]})')
            + text("expires", f'{w["expires"]} ({w["optional"]})', "date")
            + f'<label>{w["to_depot"]} <select name="to_depot">'
            + _options(depots, values.get("to_depot", ""), blank=True) + "</select></label>"
            + text("reason", w["reason"], extra=' maxlength="500"')
            + f'<button type="submit">{w["submit"]}</button></form>')


def _ledger_table(plan: Plan, recent: Sequence[InventoryMovement], tz: dt.tzinfo, w: Mapping[str, str]) -> str:
    if not recent:
        return f'<p>{w["no_ledger"]}</p>'
    head = "".join(f"<th>{w[k]}</th>" for k in ("when", "kind", "depot", "item", "quantity", "lot", "to_depot",
                                                "reason", "actor"))
    rows = "".join(
        f'<tr data-event="{_e(m.event_id)}"><td>{m.occurred_at.astimezone(tz):%m-%d %H:%M}</td>'
        f'<td>{_e(w.get(m.kind, m.kind).split("(")[0])}</td><td>{_e(_name(plan.depots, m.depot_id))}</td>'
        f'<td>{_e(_name(plan.items, m.item_id))}</td><td class="num">{_qty(m.quantity)} {_e(m.unit)}</td>'
        f'<td>{_e(m.lot_id or "")}</td><td>{_e(_name(plan.depots, m.to_depot_id) if m.to_depot_id else "")}</td>'
        f'<td>{_e(m.reason)}</td><td>{_e(m.actor)}</td></tr>' for m in recent)
    return f'<table id="ledger" class="stock"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def movement_text(plan: Plan, m: InventoryMovement, language: str) -> str:
    """One movement in a few words, e.g. `入库 5 t 活性炭(粉末/颗粒) 伊尔施环境应急物资储备点`."""
    w = stock_words(language)
    to = f" → {_name(plan.depots, m.to_depot_id)}" if m.to_depot_id else ""
    return (f'{w.get(m.kind, m.kind).split("(")[0]} {_qty(m.quantity)} {m.unit} {_name(plan.items, m.item_id)} '
            f'{_name(plan.depots, m.depot_id)}{to}' + (f" ({w['lot']} {m.lot_id})" if m.lot_id else ""))


# --- /coverage ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceVerdict:
    source_id: str
    covered: bool
    entries: tuple[ItemCoverage, ...]


def source_verdicts(report: CoverageReport) -> list[SourceVerdict]:
    """The report's entries by risk source, in the report's order: a source is covered when all its entries are;
    sources with a shortfall first."""
    grouped: dict[str, list[ItemCoverage]] = {}
    for entry in report.items:
        grouped.setdefault(entry.source_id, []).append(entry)
    verdicts = [SourceVerdict(s, all(e.covered for e in entries), tuple(entries)) for s, entries in grouped.items()]
    return sorted(verdicts, key=lambda v: v.covered)  # stable: the plan's order within each group


def coverage_page(plan: Plan, report: CoverageReport | None, on: dt.date, language: str, user: str = "",
                  role: str = "", csrf: str = "", error: str = "") -> str:
    w = stock_words(language)
    body = (f'<link rel="stylesheet" href="{STYLESHEET}">'
            f'<h1>{w["coverage"]} <small>{_e(w["as_of"].format(day=on.isoformat()))}</small></h1>'
            + _messages("", error))
    if report is not None:
        verdicts = source_verdicts(report)
        if not verdicts:
            body += f'<p>{w["no_requirements"]}</p>'
        else:
            covered = sum(v.covered for v in verdicts)
            body += (f'<p id="coverage-summary" class="{"covered" if covered == len(verdicts) else "shortfall"}">'
                     f'{_e(w["coverage_sum"].format(covered=covered, total=len(verdicts)))}</p>')
            body += "".join(_source_section(plan, v, w) for v in verdicts)
    return page(w["coverage"], body, language, user, role, csrf)


def _source_section(plan: Plan, v: SourceVerdict, w: Mapping[str, str]) -> str:
    verdict = "covered" if v.covered else "shortfall"
    head = "".join(f"<th>{w[k]}</th>" for k in ("scenario", "item", "required", "in_window", "short", "earliest",
                                                "reach"))
    rows = ""
    for e in v.entries:
        reach = "、".join(f"{_name(plan.depots, c.depot_id)} {_qty(c.quantity)} "
                         f"({w['minutes'].format(minutes=round(c.arrival_minutes))})" for c in e.contributions)
        earliest = ("" if e.earliest_arrival_minutes is None
                    else w["minutes"].format(minutes=round(e.earliest_arrival_minutes)))
        rows += (f'<tr class="{"covered" if e.covered else "shortfall"}" data-item="{_e(e.item_id)}">'
                 f'<td>{_e(e.scenario)}<br><small>{_e(w["window"].format(minutes=_qty(e.window_minutes)))}</small></td>'
                 f'<td>{_e(_name(plan.items, e.item_id))}</td><td class="num">{_qty(e.required)} {_e(e.unit)}</td>'
                 f'<td class="num">{_qty(round(e.in_window, 9))}</td>'
                 f'<td class="num short">{"" if e.covered else _qty(round(e.shortfall, 9)) + " " + _e(e.unit)}</td>'
                 f'<td>{_e(earliest)}</td><td>{_e(reach or w["nothing_reaches"])}</td></tr>')
    return (f'<section class="source {verdict}" data-source="{_e(v.source_id)}" data-verdict="{verdict}">'
            f'<h2>{_e(_name(plan.sources, v.source_id))} <span class="verdict {verdict}">{w[verdict]}</span></h2>'
            f'<table class="stock"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>')
