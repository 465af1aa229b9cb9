"""The duty-room console's pages (issue 16): server-rendered HTML, zh-CN first, readable on a wall screen and a
phone; the board's rows as JSON for its live updates. No page shows a phone number: people appear by name."""
from __future__ import annotations

import datetime as dt
import html
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from schemas.incident_states import IncidentState
from schemas.inventory import InventoryMovement
from schemas.notifications import DeliveryStatus, Notification

from contingency.access import ROLE_NAMES, allowed
from contingency.plan import Plan

# Level colours are classes of console.css (.level.blue ...): the pages' policy allows no inline style.
_WORDS = {
    "zh-CN": {"title": "环境应急值守", "board": "预警看板", "login": "登录", "logout": "退出", "user": "账户",
              "password": "密码", "code": "编号", "level": "等级", "place": "地点", "what": "监测情况", "since": "开始",
              "by": "确认人", "tier": "层级", "next": "下次升级", "report": "初报", "none": "当前无未解除预警",
              "drill": "演练", "ack": "确认", "resolve": "解除", "back": "返回看板", "stage": "状态",
              "paged": "已呼叫", "notified": "已通知", "audit": "审计日志", "wrong": "账户或密码错误",
              "locked": "尝试次数过多,请于{until}后再试", "forbidden": "无权执行此操作", "sent": "已提交: {what}",
              "live": "实时", "offline": "连接中断,正在重连", "sound": "启用提示音", "lang": "English", "note": "备注",
              "timeline": "处置过程", "delivery": "最近呼叫", "add_note": "添加备注", "materials": "物资调度建议",
              "confirm": "确认调拨", "confirmed": "已确认调拨", "no_proposal": "无调度建议",
              "note_needed": "请填写备注内容",
              "drills_nav": "演练", "drills_title": "应急演练", "drills_scenarios": "演练脚本", "drills_runs": "演练记录",
              "drills_scenario": "脚本", "drills_about": "说明", "drills_events": "事件数", "drills_span": "时段",
              "drills_start": "开始演练", "drills_speed": "倍速", "drills_max": "最快", "drills_report": "演练报告",
              "drills_partial": "中断", "drills_no_runs": "暂无演练记录", "drills_run": "演练", "drills_incidents": "事件",
              "drills_sms": "短信", "drills_running": "进行中", "drills_finished": "已完成", "drills_failed": "失败",
              "drills_unknown": "未知", "drills_exit": "退出码", "drills_current": "本控制台发起的演练",
              "drills_banner": "演练模式 · 非真实事件:短信只发往演练号码,不呼叫值班人员,不影响实时看板",
              "drills_board": "演练看板", "drills_status": "状态", "drills_started_by": "发起人",
              "drills_no_incidents": "尚无演练事件", "drills_log": "运行输出", "drills_back": "返回演练列表",
              "drills_invalid": "请选择列出的演练脚本和倍速", "drills_busy": "演练 {run} 正在进行,请等其结束后再开始",
              "map": "地图", "map_sources": "风险源", "map_stations": "监测站", "map_depots": "应急物资库",
              "map_rivers": "河流(上游→下游)", "map_roads": "道路", "map_reach": "2小时可达范围",
              "map_covered": "2小时内物资充足", "map_shortfall": "2小时内物资不足", "map_none": "无物资需求",
              "map_unknown": "未知(无路网)", "map_reaches": "时限内可到", "map_short": "缺口", "map_stock": "库存",
              "map_minutes": "分钟", "map_required": "需求", "map_in_window": "时限内", "map_normal": "站点正常",
              "map_silent": "站点断线", "map_fault": "站点故障(数据恒定)", "map_calibrating": "校准/维护中",
              "map_mobilise": "集结", "map_no_roads": "路网文件无法读取:不显示道路与可达范围", "map_empty": "无",
              "map_legend": "图例",
              "stock_nav": "物资", "coverage_nav": "两小时圈"},
    "en": {"title": "ERS duty console", "board": "Incident board", "login": "Log in", "logout": "Log out",
           "user": "User", "password": "Password", "code": "Code", "level": "Level", "place": "Place",
           "what": "Measured", "since": "Since", "by": "Acknowledged by", "tier": "Tier", "next": "Next escalation",
           "report": "Report", "none": "No open incidents", "drill": "DRILL", "ack": "Acknowledge",
           "resolve": "Resolve", "back": "Back to the board", "stage": "Stage", "paged": "Paged",
           "notified": "Told", "audit": "Audit log", "wrong": "Wrong user or password",
           "locked": "Too many attempts; try again after {until}", "forbidden": "Not allowed",
           "sent": "Sent: {what}", "live": "live", "offline": "connection lost, reconnecting", "sound": "Enable sound", "lang": "中文",
           "note": "Note", "timeline": "Timeline", "delivery": "Last page", "add_note": "Add note",
           "materials": "Materials proposal", "confirm": "Confirm dispatch", "confirmed": "Dispatch confirmed",
           "no_proposal": "No proposal", "note_needed": "Write the note first",
           "drills_nav": "Drills", "drills_title": "Drills", "drills_scenarios": "Scenarios", "drills_runs": "Drill runs",
           "drills_scenario": "Scenario", "drills_about": "About", "drills_events": "Events", "drills_span": "Time span",
           "drills_start": "Start drill", "drills_speed": "Speed", "drills_max": "fastest", "drills_report": "Report",
           "drills_partial": "interrupted", "drills_no_runs": "No drill runs yet", "drills_run": "Run",
           "drills_incidents": "Incidents", "drills_sms": "SMS", "drills_running": "running",
           "drills_finished": "finished", "drills_failed": "failed", "drills_unknown": "unknown",
           "drills_exit": "exit code", "drills_current": "Drill started from this console",
           "drills_banner": "DRILL MODE · not a real incident: SMS go to the drill phones only, nobody on duty is "
                            "paged, the live board is not touched",
           "drills_board": "Drill board", "drills_status": "Status", "drills_started_by": "Started by",
           "drills_no_incidents": "No drill incidents yet", "drills_log": "Output", "drills_back": "Back to drills",
           "drills_invalid": "Choose one of the listed scenarios and speeds",
           "drills_busy": "Drill {run} is running; start another when it has finished",
           "map": "Map", "map_sources": "Risk sources", "map_stations": "Monitoring stations", "map_depots": "Depots",
           "map_rivers": "Rivers (upstream → downstream)", "map_roads": "Roads", "map_reach": "2-hour reach",
           "map_covered": "covered within 2 hours", "map_shortfall": "shortfall within 2 hours",
           "map_none": "no materials required", "map_unknown": "unknown (no road graph)", "map_reaches": "in time",
           "map_short": "short", "map_stock": "Stock", "map_minutes": "min", "map_required": "required",
           "map_in_window": "in time", "map_normal": "station normal", "map_silent": "station silent",
           "map_fault": "station fault (stuck)", "map_calibrating": "calibrating / maintenance",
           "map_mobilise": "mobilisation", "map_no_roads": "the road file cannot be read: no roads or reach",
           "map_empty": "none", "map_legend": "Legend",
           "stock_nav": "Materials", "coverage_nav": "2-hour circle"},
}
DELIVERY_STATES = {"zh-CN": {"queued": "排队", "sending": "发送中", "sent": "已发出", "delivered": "已送达",
                             "undelivered": "未送达", "failed": "失败", "received": "已收到", "deferred": "等待服务商",
                             "superseded": "已作废"},
                   "en": {}}
STAGES = {"zh-CN": {"suppressed": "维护中", "paging": "呼叫中", "acknowledged": "已确认", "exhausted": "无人确认",
                    "resolved": "已解除"},
          "en": {"suppressed": "maintenance", "paging": "paging", "acknowledged": "acknowledged",
                 "exhausted": "unanswered", "resolved": "resolved"}}


def words(language: str) -> Mapping[str, str]:
    return _WORDS["en" if language == "en" else "zh-CN"]


def board_rows(plan: Plan, states: Iterable[IncidentState], names: Callable[[str | None], str], tz: dt.tzinfo,
               language: str, now: dt.datetime,
               last_page: Callable[[str], tuple[Notification, DeliveryStatus | None] | None] = lambda _: None
               ) -> list[dict[str, Any]]:
    """The open incidents, most serious first: what the board shows, as JSON-ready rows. `last_page`: an incident
    id -> the newest message about it and its latest receipt (who was called last, and whether it arrived)."""
    rows = []
    for s in sorted(states, key=lambda s: (-s.level.rank, s.opened_at, s.code)):
        facts = s.facts
        measured = (f"{facts.parameter} {facts.value:g} {facts.unit} ({facts.limit})" if facts.value is not None
                    else facts.title)
        next_in = (max(0, round((s.next_escalation_at - now).total_seconds() / 60))
                   if s.next_escalation_at is not None and s.stage == "paging" else None)
        rows.append({
            "code": s.code, "level": s.level.value,
            "level_name": plan.levels[s.level].name if s.level in plan.levels else s.level.value,
            "place": facts.place, "what": measured, "title": facts.title, "drill": s.drill_id is not None,
            "since": f"{s.opened_at.astimezone(tz):%m-%d %H:%M}", "opened_at": s.opened_at.isoformat(),
            "stage": STAGES["en" if language == "en" else "zh-CN"][s.stage],
            "by": names(s.acknowledged_by) if s.acknowledged_by else "", "tier": s.tier or "",
            "next_minutes": next_in, "report": _report(s, tz, language),
            "delivery": _delivery(last_page(str(s.incident_id)), names, tz, language)})
    return rows


def _delivery(last: tuple[Notification, DeliveryStatus | None] | None, names: Callable[[str | None], str],
              tz: dt.tzinfo, language: str) -> str:
    if last is None:
        return ""
    message, status = last
    state = DELIVERY_STATES["en" if language == "en" else "zh-CN"].get(status.status, status.status) if status else ""
    return f"{names(message.person_id)} {message.created_at.astimezone(tz):%H:%M} {state}".strip()


def _report(s: IncidentState, tz: dt.tzinfo, language: str) -> str:
    zh = language != "en"
    if s.report_filed_at is not None:
        return f"{'已报' if zh else 'filed'} {s.report_filed_at.astimezone(tz):%H:%M}"
    if s.report_due_at is not None:
        return f"{s.report_due_at.astimezone(tz):%H:%M}{'前' if zh else ' due'}"
    return ""


def page(title: str, body: str, language: str, user: str = "", role: str = "", csrf: str = "") -> str:
    w = words(language)
    bar = ""
    if user:
        bar = (f'<nav><a href="/">{w["board"]}</a> <span class="who">{_e(user)} · '
               f'{_e(ROLE_NAMES["en" if language == "en" else "zh-CN"].get(role, role))}</span>'  # type: ignore
               + (f' <a href="/audit">{w["audit"]}</a>' if allowed(role, "read_audit") else "")
               + f' <a href="/drills">{w["drills_nav"]}</a>'
               + f' <a href="/map">{w["map"]}</a>'
               + f' <a href="/stock">{w["stock_nav"]}</a> <a href="/coverage">{w["coverage_nav"]}</a>'
               + f' {_language_link(language)}'
               + f'<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" '
                 f'value="{_e(csrf)}"><button>{w["logout"]}</button></form></nav>')
    return (f'<!doctype html><html lang="{_e(language)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
            f'<link rel="stylesheet" href="/static/vendor/noto-sans-sc/noto-sans-sc.css">'
            f'<link rel="stylesheet" href="/static/console.css"></head><body>{bar}<main>{body}</main>'
            f'<script src="/static/console.js"></script></body></html>')


def login_page(language: str, csrf: str, message: str = "") -> str:
    w = words(language)
    body = (f'<h1>{w["title"]}</h1>' + (f'<p class="error" role="alert">{_e(message)}</p>' if message else "")
            + f'<form method="post" action="/login" class="login"><input type="hidden" name="csrf" value="{_e(csrf)}">'
            f'<label>{w["user"]} <input name="username" autocomplete="username" required></label>'
            f'<label>{w["password"]} <input name="password" type="password" autocomplete="current-password" required>'
            f'</label><button type="submit">{w["login"]}</button></form><p>{_language_link(language)}</p>')
    return page(w["login"], body, language)


def _language_link(language: str) -> str:
    """To the other language; console.js adds the page's own path so the switch comes back here."""
    other = "zh-CN" if language == "en" else "en"
    return f'<a class="lang" href="/language/{other}" lang="{other}">{words(language)["lang"]}</a>'


def board_page(rows: list[dict[str, Any]], language: str, user: str = "", role: str = "", csrf: str = "") -> str:
    w = words(language)
    head = "".join(f"<th>{w[k]}</th>" for k in ("code", "level", "place", "what", "since", "stage", "by", "tier",
                                                "next", "delivery", "report"))
    body = (f'<h1>{w["board"]} <span id="live" class="live" data-live="{w["live"]}" data-offline="{w["offline"]}">'
            f'</span> <button id="sound" type="button" hidden>{w["sound"]}</button></h1>'
            f'<table id="board" data-none="{_e(w["none"])}" data-drill="{_e(w["drill"])}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(board_row(r, w) for r in rows)}</tbody></table>'
            + ("" if rows else f'<p id="empty">{w["none"]}</p>'))
    return page(w["board"], body, language, user, role, csrf)


def _materials(plan: Plan, s: IncidentState, dispatches: list[InventoryMovement], role: str, csrf: str,
               w: Mapping[str, str]) -> str:
    """The incident's materials proposal, and what the ledger holds as dispatched for it (confirmed once)."""
    if s.materials is None:
        return ""
    lines = "".join(f"<li>{_e(place_name(plan, a.item_id))} {a.quantity:g} {_e(a.unit)} ← "
                    f"{_e(place_name(plan, a.depot_id))} ({a.arrival_minutes:.0f} min)</li>"
                    for a in s.materials.allocations)
    if dispatches:
        state = f'<p class="notice">{_e(w["confirmed"])}</p>'
    elif s.is_open and allowed(role, "confirm_materials") and s.materials.allocations:
        state = (f'<form method="post" action="/incidents/{_e(s.code)}/confirm" class="inline">'
                 f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
                 f'<input type="hidden" name="once" value="{uuid.uuid4()}">'
                 f'<button class="action confirm" type="submit">{_e(w["confirm"])}</button></form>')
    else:
        state = ""
    return (f'<section class="materials"><h2>{_e(w["materials"])}</h2><p>{_e(s.materials.line)}</p>'
            f'<ul>{lines}</ul>{state}</section>')


def place_name(plan: Plan, id_: str) -> str:
    """A depot's, item's, source's or station's name as the plan gives it (the id when the plan has none)."""
    for named in (plan.depots, plan.items, plan.sources, plan.stations):
        if id_ in named:
            return named[id_].name  # type: ignore[attr-defined]
    return id_


def board_row(r: Mapping[str, Any], w: Mapping[str, str]) -> str:
    drill = f' <span class="drill">{_e(w["drill"])}</span>' if r["drill"] else ""
    return (f'<tr data-code="{_e(r["code"])}" data-level="{_e(r["level"])}"><td><a href="/incidents/{_e(r["code"])}">'
            f'{_e(r["code"])}</a>{drill}</td><td><span class="level {_e(r["level"])}">'
            f'{_e(r["level_name"])}</span></td><td>{_e(r["place"])}</td><td>{_e(r["what"])}</td>'
            f'<td>{_e(r["since"])}</td><td>{_e(r["stage"])}</td><td class="by">{_e(r["by"])}</td>'
            f'<td>{_e(r["tier"])}</td><td>{"" if r["next_minutes"] is None else _e(r["next_minutes"]) + " min"}</td>'
            f'<td class="delivery">{_e(r["delivery"])}</td><td>{_e(r["report"])}</td></tr>')


def incident_page(plan: Plan, s: IncidentState, names: Callable[[str | None], str], tz: dt.tzinfo, language: str,
                  role: str, csrf: str, message: str = "", user: str = "", entries: Iterable[Any] = (),
                  dispatches: Iterable[InventoryMovement] = ()) -> str:
    w = words(language)
    facts = s.facts
    level = plan.levels[s.level].name if s.level in plan.levels else s.level.value

    def at(moment: dt.datetime | None) -> str:
        return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}" if moment is not None else ""

    rows = [(w["level"], level), (w["place"], facts.place), (w["what"], f"{facts.title}"),
            (w["since"], at(s.opened_at)), (w["stage"], STAGES["en" if language == "en" else "zh-CN"][s.stage]),
            (w["by"], names(s.acknowledged_by) if s.acknowledged_by else ""), (w["tier"], str(s.tier or "")),
            (w["paged"], "、".join(names(p) for p in s.paged)), (w["notified"], "、".join(names(p) for p in s.notified)),
            (w["report"], _report(s, tz, language))]
    if facts.value is not None:
        rows.insert(3, ("", f"{facts.parameter} {facts.value:g} {facts.unit} ({facts.limit}) {at(facts.observed_at)}"))
    actions = ""
    if s.is_open:
        for action, label in (("ack", w["ack"]), ("resolve", w["resolve"])):
            permission = "acknowledge" if action == "ack" else "resolve"
            if allowed(role, permission) and not (action == "ack" and s.stage == "acknowledged"):
                actions += (f'<form method="post" action="/incidents/{_e(s.code)}/{action}" class="inline">'
                            f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
                            f'<input type="hidden" name="once" value="{uuid.uuid4()}">'
                            f'<input name="note" placeholder="{_e(w["note"])}" maxlength="500">'
                            f'<button class="action {action}" type="submit">{_e(label)}</button></form>')
    if s.is_open and allowed(role, "note"):
        actions += (f'<form method="post" action="/incidents/{_e(s.code)}/note" class="note">'
                    f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
                    f'<input type="hidden" name="once" value="{uuid.uuid4()}">'
                    f'<textarea name="note" maxlength="500" required rows="2"></textarea>'
                    f'<button class="action note" type="submit">{_e(w["add_note"])}</button></form>')
    body = (f'<h1><span class="level {_e(s.level.value)}">{_e(level)}</span> '
            f'{_e(s.code)}' + (f' <span class="drill">{w["drill"]}</span>' if s.drill_id else "") + "</h1>"
            + (f'<p class="notice" role="status">{_e(message)}</p>' if message else "")
            + "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows) + "</dl>"
            + f'<div class="actions">{actions}</div>' + _materials(plan, s, list(dispatches), role, csrf, w)
            + _timeline(entries, tz, w)
            + f'<p><a href="/">{w["back"]}</a></p>')
    return page(f"{s.code} {facts.place}", body, language, user, role, csrf)


def _timeline(entries: Iterable[Any], tz: dt.tzinfo, w: Mapping[str, str]) -> str:
    """contingency.timeline entries, oldest first."""
    rows = "".join(f'<li class="{_e(e.kind)}"><time>{e.at.astimezone(tz):%m-%d %H:%M:%S}</time> '
                   + (f'<span class="level {_e(e.level)}">&nbsp;</span> ' if e.level else "")
                   + f'<b>{_e(e.text)}</b>' + (f'<div class="detail">{_e(e.detail)}</div>' if e.detail else "")
                   + "</li>" for e in entries)
    return f'<h2>{_e(w["timeline"])}</h2><ol id="timeline">{rows}</ol>' if rows else ""


def audit_page(entries: Iterable[Any], tz: dt.tzinfo, language: str, user: str = "", role: str = "",
               csrf: str = "") -> str:
    w = words(language)
    rows = "".join(f"<tr><td>{e.at.astimezone(tz):%Y-%m-%d %H:%M:%S}</td><td>{_e(e.actor)}</td><td>{_e(e.action)}</td>"
                   f"<td>{_e(e.target)}</td><td>{_e(e.source)}</td><td>{_e(e.outcome)}</td><td>{_e(e.detail)}</td></tr>"
                   for e in entries)
    return page(w["audit"], f'<h1>{w["audit"]}</h1><table class="audit"><tbody>{rows}</tbody></table>', language,
                user, role, csrf)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
