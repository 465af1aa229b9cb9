"""The duty-room console's pages (issue 16): server-rendered HTML, zh-CN first, readable on a wall screen and a
phone; the board's rows as JSON for its live updates. No page shows a phone number: people appear by name."""
from __future__ import annotations

import datetime as dt
import html
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from schemas.incident_states import IncidentState

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
              "live": "实时", "offline": "连接中断,正在重连", "lang": "English", "note": "备注",
              "timeline": "处置过程"},
    "en": {"title": "ERS duty console", "board": "Incident board", "login": "Log in", "logout": "Log out",
           "user": "User", "password": "Password", "code": "Code", "level": "Level", "place": "Place",
           "what": "Measured", "since": "Since", "by": "Acknowledged by", "tier": "Tier", "next": "Next escalation",
           "report": "Report", "none": "No open incidents", "drill": "DRILL", "ack": "Acknowledge",
           "resolve": "Resolve", "back": "Back to the board", "stage": "Stage", "paged": "Paged",
           "notified": "Told", "audit": "Audit log", "wrong": "Wrong user or password",
           "locked": "Too many attempts; try again after {until}", "forbidden": "Not allowed",
           "sent": "Sent: {what}", "live": "live", "offline": "connection lost, reconnecting", "lang": "中文",
           "note": "Note", "timeline": "Timeline"},
}
STAGES = {"zh-CN": {"suppressed": "维护中", "paging": "呼叫中", "acknowledged": "已确认", "exhausted": "无人确认",
                    "resolved": "已解除"},
          "en": {"suppressed": "maintenance", "paging": "paging", "acknowledged": "acknowledged",
                 "exhausted": "unanswered", "resolved": "resolved"}}


def words(language: str) -> Mapping[str, str]:
    return _WORDS["en" if language == "en" else "zh-CN"]


def board_rows(plan: Plan, states: Iterable[IncidentState], names: Callable[[str | None], str], tz: dt.tzinfo,
               language: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The open incidents, most serious first: what the board shows, as JSON-ready rows."""
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
            "next_minutes": next_in, "report": _report(s, tz, language)})
    return rows


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
            f'</label><button type="submit">{w["login"]}</button></form>')
    return page(w["login"], body, language)


def board_page(rows: list[dict[str, Any]], language: str, user: str = "", role: str = "", csrf: str = "") -> str:
    w = words(language)
    head = "".join(f"<th>{w[k]}</th>" for k in ("code", "level", "place", "what", "since", "stage", "by", "tier",
                                                "next", "report"))
    body = (f'<h1>{w["board"]} <span id="live" class="live" data-live="{w["live"]}" data-offline="{w["offline"]}">'
            f'</span></h1><table id="board" data-none="{_e(w["none"])}" data-drill="{_e(w["drill"])}"><thead><tr>{head}'
            f'</tr></thead><tbody>{"".join(board_row(r, w) for r in rows)}</tbody></table>'
            + ("" if rows else f'<p id="empty">{w["none"]}</p>'))
    return page(w["board"], body, language, user, role, csrf)


def board_row(r: Mapping[str, Any], w: Mapping[str, str]) -> str:
    drill = f' <span class="drill">{_e(w["drill"])}</span>' if r["drill"] else ""
    return (f'<tr data-code="{_e(r["code"])}" data-level="{_e(r["level"])}"><td><a href="/incidents/{_e(r["code"])}">'
            f'{_e(r["code"])}</a>{drill}</td><td><span class="level {_e(r["level"])}">'
            f'{_e(r["level_name"])}</span></td><td>{_e(r["place"])}</td><td>{_e(r["what"])}</td>'
            f'<td>{_e(r["since"])}</td><td>{_e(r["stage"])}</td><td class="by">{_e(r["by"])}</td>'
            f'<td>{_e(r["tier"])}</td><td>{"" if r["next_minutes"] is None else _e(r["next_minutes"]) + " min"}</td>'
            f'<td>{_e(r["report"])}</td></tr>')


def incident_page(plan: Plan, s: IncidentState, names: Callable[[str | None], str], tz: dt.tzinfo, language: str,
                  role: str, csrf: str, message: str = "", user: str = "", entries: Iterable[Any] = ()) -> str:
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
    body = (f'<h1><span class="level {_e(s.level.value)}">{_e(level)}</span> '
            f'{_e(s.code)}' + (f' <span class="drill">{w["drill"]}</span>' if s.drill_id else "") + "</h1>"
            + (f'<p class="notice" role="status">{_e(message)}</p>' if message else "")
            + "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows) + "</dl>"
            + f'<div class="actions">{actions}</div>' + _timeline(entries, tz, w)
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
