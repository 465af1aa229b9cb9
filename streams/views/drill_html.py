"""The drill report as one self-contained HTML page: summary, one section per incident, an inline SVG timeline.

No external JS, CSS or fonts; every text from the report is escaped with html.escape. Labels are Chinese first,
English in brackets.
"""
from __future__ import annotations

from html import escape

from contingency.drill_report import DrillReport, IncidentReport, NotificationRow

_LEVEL_COLOURS = {"blue": "#1f6fd1", "yellow": "#d8b400", "orange": "#f07f09", "red": "#d11f1f"}
_STATUS_LABELS = {"delivered": "已送达 (delivered)", "failed": "失败 (failed)", "undelivered": "未送达 (undelivered)",
                  "sent": "已发送 (sent)", "queued": "排队 (queued)", "sending": "发送中 (sending)",
                  "received": "已接收 (received)"}
_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
.partial{background:#fde2e2;border:1px solid #d11f1f;padding:.5em}
.lvl{display:inline-block;padding:0 6px;color:#fff;border-radius:3px}
.failed,.undelivered{color:#d11f1f;font-weight:bold}
.delivered{color:#1a7f37}
.out{color:#d11f1f}
"""

# timeline geometry
_LEFT = 150
_ROW = 34
_TOP = 30
_WIDTH = 900


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: float | None, suffix: str = "") -> str:
    return "—" if value is None else f"{value:g}{suffix}"


def _level(level: str, name: str | None = None) -> str:
    colour = _LEVEL_COLOURS.get(level, "#666")
    return f'<span class="lvl" style="background:{colour}">{_e(name or level)}</span>'


def render_html(report: DrillReport) -> str:
    """The whole page as text (UTF-8)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        '<head><meta charset="utf-8">',
        f"<title>应急演练报告 (Drill report) {_e(report.drill_id)}</title>",
        f"<style>{_CSS}</style></head>",
        "<body>",
        f"<h1>应急演练报告 (Drill report) {_e(report.drill_id)}</h1>",
    ]
    if report.partial:
        parts.append('<p class="partial">演练被中断，报告不完整 (Run interrupted: partial report)</p>')
    parts.append(_meta(report))
    parts.append(_summary(report))
    parts.append("<h2>时间轴 (Timeline)</h2>")
    parts.append(timeline_svg(report))
    for incident in report.incidents:
        parts.append(_incident(incident))
    if report.unlinked_notifications:
        parts.append("<h2>其他短信 (Other notifications)</h2>")
        parts.append(_notifications(report.unlinked_notifications))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _rows(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows) + "</table>"


def _meta(report: DrillReport) -> str:
    return _rows([
        ("预案 (Plan)", f"{_e(report.plan_id)} v{_e(report.plan_version)}"),
        ("速度 (Speed)", _e(report.speed)),
        ("日志起点 (Log start)", _e(report.log_start)),
        ("开始 / 结束 (Started / finished, wall clock)", f"{_e(report.started_wall)} / {_e(report.finished_wall)}"),
        ("用时 (Wall seconds)", _e(_num(report.wall_seconds))),
        ("应急圈 (Emergency circle)", _e(_num(report.window_minutes, " 分钟 (min)"))),
    ])


def _summary(report: DrillReport) -> str:
    s = report.summary
    by_level = " ".join(f"{_level(level)} {count}" for level, count in s.by_level.items())
    return "<h2>概要 (Summary)</h2>" + _rows([
        ("事件数 (Incidents)", _e(s.incidents)),
        ("按级别 (By level)", by_level),
        ("发现用时 (Time to detect)", _e(_num(s.time_to_detect_minutes, " 分钟 (min)"))),
        ("首条短信用时 (Time to first SMS)", _e(_num(s.time_to_first_sms_minutes, " 分钟 (min)"))),
        ("确认用时 (Time to acknowledge)", _e(_num(s.time_to_acknowledge_minutes, " 分钟 (min)"))),
        ("未确认 (Unacknowledged)", _e(s.unacknowledged)),
        ("升级次数 (Escalations)", _e(s.escalations)),
        ("短信 发送/送达/失败/待定 (SMS sent/delivered/failed/pending)",
         _e(f"{s.notifications_sent} / {s.notifications_delivered} / {s.notifications_failed} / "
            f"{s.notifications_pending}")),
    ])


def _when(at: str | None, minute: float | None) -> str:
    return "—" if at is None else f"{_e(at)} (+{_e(_num(minute))} 分钟 min)"


def _incident(i: IncidentReport) -> str:
    parts = [f'<section id="incident-{_e(i.code)}">',
             f"<h2>事件 (Incident) {_e(i.code)} {_level(i.level, i.level_name)} {_e(i.title)}</h2>",
             _rows([
                 ("风险源 (Source)", f"{_e(i.source_name)} ({_e(i.source_id)})"),
                 ("规则 (Rule)", f"{_e(i.rule_id)} ({_e(i.kind)})"),
                 ("首次异常 (First anomaly)", _when(i.first_anomaly_at, i.first_anomaly_minute)),
                 ("发布 (Opened)", _when(i.opened_at, i.opened_minute)),
                 ("确认 (Acknowledged)", _when(i.acknowledged_at, i.acknowledged_minute)
                  + (f" — {_e(i.acknowledged_by)}" if i.acknowledged_by else "")),
                 ("解除 (Resolved)", _when(i.resolved_at, i.resolved_minute)
                  + (f" — {_e(i.resolved_by)}" if i.resolved_by else "")),
                 ("发现/首条短信/确认用时 (Detect / first SMS / acknowledge)",
                  _e(f"{_num(i.time_to_detect_minutes)} / {_num(i.time_to_first_sms_minutes)} / "
                     f"{_num(i.time_to_acknowledge_minutes)} 分钟 (min)")),
             ]),
             "<h3>级别变化 (Levels)</h3><table><tr><th>时间 (At)</th><th>分钟 (Min)</th><th>级别 (Level)</th>"
             "<th>规则 (Rule)</th><th>原因 (Reason)</th></tr>"]
    for step in i.levels:
        parts.append(f"<tr><td>{_e(step.at)}</td><td>{_e(_num(step.minute))}</td><td>{_level(step.level)}</td>"
                     f"<td>{_e(step.rule_id)}</td><td>{_e(step.reason)}</td></tr>")
    parts.append("</table>")
    parts.append("<h3>升级路径 (Escalation path)</h3>")
    if i.escalations:
        parts.append("<table><tr><th>层级 (Tier)</th><th>时间 (At)</th><th>分钟 (Min)</th><th>级别 (Level)</th>"
                     "<th>角色 (Roles)</th><th>原因 (Reason)</th></tr>")
        for esc in i.escalations:
            parts.append(f"<tr><td>{_e(esc.tier)}</td><td>{_e(esc.at)}</td><td>{_e(_num(esc.minute))}</td>"
                         f"<td>{_level(esc.level)}</td><td>{_e(', '.join(esc.roles))}</td><td>{_e(esc.reason)}</td>"
                         "</tr>")
        parts.append("</table>")
    else:
        parts.append("<p>无升级 (No escalation)</p>")
    parts.append("<h3>短信 (Notifications)</h3>")
    parts.append(_notifications(i.notifications) if i.notifications else "<p>无 (None)</p>")
    parts.append("<h3>应急物资 (Materials proposal)</h3>")
    m = i.materials
    if m is None:
        parts.append("<p>无 (None)</p>")
    else:
        parts.append(f"<p>{_e(m.line)}</p>")
        parts.append("<table><tr><th>物资 (Item)</th><th>仓库 (Depot)</th><th>数量 (Quantity)</th>"
                     f"<th>到达 (Arrival, min)</th><th>{_e(_num(m.window_minutes))}分钟内 (In window)</th></tr>")
        for a in m.allocations:
            mark = "是 (yes)" if a.in_window else '<span class="out">否 (no)</span>'
            parts.append(f"<tr><td>{_e(a.item_name)} ({_e(a.item_id)})</td><td>{_e(a.depot_name)} ({_e(a.depot_id)})"
                         f"</td><td>{_e(_num(a.quantity))} {_e(a.unit)}</td><td>{_e(_num(a.arrival_minutes))}</td>"
                         f"<td>{mark}</td></tr>")
        parts.append("</table>")
        if m.missing:
            missing = ", ".join(f"{item} {_num(qty)}" for item, qty in m.missing.items())
            parts.append(f'<p class="out">缺口 (Missing): {_e(missing)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _notifications(rows: list[NotificationRow]) -> str:
    out = ["<table><tr><th>时间 (Created)</th><th>分钟 (Min)</th><th>人员 (Person)</th><th>号码 (To)</th>"
           "<th>内容 (Body)</th><th>状态 (Status)</th></tr>"]
    for n in rows:
        status = _STATUS_LABELS.get(n.status or "", "无回执 (no receipt)")
        if n.error_code is not None:
            status += f" #{n.error_code}"
        out.append(f"<tr><td>{_e(n.created_at)}</td><td>{_e(_num(n.created_minute))}</td><td>{_e(n.person_id)}</td>"
                   f"<td>{_e(n.to)}</td><td>{_e(n.body)}</td><td class=\"{_e(n.status or 'none')}\">{_e(status)}"
                   "</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def timeline_svg(report: DrillReport) -> str:
    """Inline SVG: minutes since log start across, one row per incident, a dashed line at the emergency circle."""
    minutes = [report.window_minutes]
    for i in report.incidents:
        minutes += [i.opened_minute] + [e.minute for e in i.escalations] + [n.created_minute for n in i.notifications]
        minutes += [m for m in (i.acknowledged_minute, i.resolved_minute, i.first_anomaly_minute) if m is not None]
    span = max(30.0, max(minutes) * 1.05)
    scale = (_WIDTH - _LEFT - 20) / span
    height = _TOP + _ROW * max(1, len(report.incidents)) + 60

    def x(minute: float) -> float:
        return round(_LEFT + max(0.0, minute) * scale, 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
           f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="时间轴 (Timeline)">',
           f'<rect x="0" y="0" width="{_WIDTH}" height="{height}" fill="#fff"/>']
    axis_y = height - 50
    out.append(f'<line x1="{_LEFT}" y1="{axis_y}" x2="{_WIDTH - 20}" y2="{axis_y}" stroke="#444"/>')
    step = _tick_step(span)
    tick = 0.0
    while tick <= span:
        out.append(f'<line x1="{x(tick)}" y1="{axis_y}" x2="{x(tick)}" y2="{axis_y + 5}" stroke="#444"/>'
                   f'<text x="{x(tick)}" y="{axis_y + 18}" font-size="11" text-anchor="middle">{tick:g}</text>')
        tick += step
    out.append(f'<text x="{_WIDTH - 20}" y="{axis_y - 6}" font-size="11" text-anchor="end">'
               "分钟 (minutes since log start)</text>")
    wx = x(report.window_minutes)
    out.append(f'<line x1="{wx}" y1="{_TOP - 15}" x2="{wx}" y2="{axis_y}" stroke="#d11f1f" stroke-dasharray="5,4"/>'
               f'<text x="{wx + 3}" y="{_TOP - 5}" font-size="11" fill="#d11f1f">'
               f"{_e(_num(report.window_minutes))}分钟应急圈 (emergency circle)</text>")
    for row, i in enumerate(report.incidents):
        y = _TOP + _ROW * row + _ROW // 2
        colour = _LEVEL_COLOURS.get(i.level, "#666")
        end = i.resolved_minute if i.resolved_minute is not None else span
        out.append(f'<text x="5" y="{y + 4}" font-size="12">{_e(i.code)} {_e(i.source_name[:12])}</text>')
        out.append(f'<line x1="{x(i.opened_minute)}" y1="{y}" x2="{x(end)}" y2="{y}" stroke="{colour}" '
                   'stroke-width="3"/>')
        if i.first_anomaly_minute is not None:
            out.append(_marker("anomaly", x(i.first_anomaly_minute), y, "首次异常 (first anomaly)",
                               i.first_anomaly_minute))
        out.append(_marker("opened", x(i.opened_minute), y, f"发布 (opened) {i.level}", i.opened_minute))
        for esc in i.escalations:
            out.append(_marker("escalated", x(esc.minute), y, f"升级 (escalated) tier {esc.tier}", esc.minute))
        for n in i.notifications:
            out.append(_marker("sms", x(n.created_minute), y, f"短信 (SMS) {n.person_id} {n.status or ''}",
                               n.created_minute, failed=n.status in ("failed", "undelivered")))
        if i.acknowledged_minute is not None:
            out.append(_marker("acknowledged", x(i.acknowledged_minute), y,
                               f"确认 (acknowledged) {i.acknowledged_by or ''}", i.acknowledged_minute))
        if i.resolved_minute is not None:
            out.append(_marker("resolved", x(i.resolved_minute), y, "解除 (resolved)", i.resolved_minute))
    legend = [("opened", "发布 (opened)"), ("escalated", "升级 (escalated)"), ("sms", "短信 (SMS)"),
              ("acknowledged", "确认 (acknowledged)"), ("resolved", "解除 (resolved)"),
              ("anomaly", "首次异常 (first anomaly)")]
    for k, (kind, label) in enumerate(legend):
        lx = 10 + k * 145
        out.append(_marker(kind, lx, height - 8, label, None) +
                   f'<text x="{lx + 8}" y="{height - 4}" font-size="10">{_e(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _tick_step(span: float) -> float:
    for step in (5, 10, 15, 30, 60, 120, 240, 480, 720, 1440):
        if span / step <= 12:
            return float(step)
    return 2880.0


def _marker(kind: str, x: float, y: float, label: str, minute: float | None, failed: bool = False) -> str:
    title = f"<title>{_e(label)}{'' if minute is None else ' +' + _num(minute) + ' min'}</title>"
    cls = f'class="marker {kind}"'
    if kind == "opened":
        return f'<circle {cls} cx="{x}" cy="{y}" r="6" fill="#222">{title}</circle>'
    if kind == "escalated":
        return (f'<polygon {cls} points="{x},{y - 7} {x + 6},{y + 5} {x - 6},{y + 5}" fill="#f07f09">'
                f"{title}</polygon>")
    if kind == "sms":
        fill = "#d11f1f" if failed else "#1a7f37"
        return f'<rect {cls} x="{x - 3}" y="{y - 10}" width="6" height="6" fill="{fill}">{title}</rect>'
    if kind == "acknowledged":
        return (f'<polygon {cls} points="{x},{y - 7} {x + 7},{y} {x},{y + 7} {x - 7},{y}" fill="#1f6fd1">'
                f"{title}</polygon>")
    if kind == "resolved":
        return f'<rect {cls} x="{x - 5}" y="{y - 5}" width="10" height="10" fill="#555">{title}</rect>'
    return f'<circle {cls} cx="{x}" cy="{y}" r="4" fill="none" stroke="#d11f1f" stroke-width="2">{title}</circle>'
