"""The console's drill pages (issue 16, item 6): the scenarios and past runs (/drills), and a run's drill board
(/drills/runs/<run>), marked 演练 by a banner and the `drill-mode` class, updated by server-sent events
(static/console_drills.js). Server-rendered, zh-CN first; no inline script or style (the console's policy)."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streams.views.console_pages import _e, page, words

STATUS_KEYS = ("running", "finished", "failed", "unknown")
BOARD_COLUMNS = ("code", "level", "place", "what", "since", "stage", "by", "tier", "report")


def _assets() -> str:
    # page() links the console's own stylesheet and script; the drill pages add theirs (same origin, no inline code)
    return ('<link rel="stylesheet" href="/static/console_drills.css">'
            '<script src="/static/console_drills.js" defer></script>')


def _status_label(w: Mapping[str, str], status: str) -> str:
    return w.get(f"drills_{status}", status)


def _span(scenario: Any) -> str:
    if scenario.start is None or scenario.end is None:
        return ""
    hours = scenario.span.total_seconds() / 3600
    return f"{scenario.start:%Y-%m-%d %H:%M} – {scenario.end:%m-%d %H:%M} ({hours:.1f} h)"


def _speed_label(speed: str, w: Mapping[str, str]) -> str:
    return w["drills_max"] if speed == "max" else f"{speed}×"


def drills_page(scenarios: Sequence[Any], runs: Sequence[Any], current: Any, speeds: Sequence[str], language: str,
                can_start: bool, user: str = "", role: str = "", csrf: str = "", message: str = "",
                tz: dt.tzinfo | None = None) -> str:
    """Scenarios (console_drills.Scenario), past runs (console_drills.PastRun) and the run this console started
    (console_drills.DrillProcess or None). Only a role that may start drills sees the start forms."""
    w = words(language)
    body = f'<h1>{_e(w["drills_title"])}</h1>'
    if message:
        body += f'<p class="error" role="alert">{_e(message)}</p>'
    if current is not None:
        body += (f'<p id="drill-current" class="drill-current">{_e(w["drills_current"])}: '
                 f'<a href="/drills/runs/{_e(current.run_id)}">{_e(current.run_id)}</a> '
                 f'<span class="status {_e(current.status)}">{_e(_status_label(w, current.status))}</span>'
                 + (f' ({_e(w["drills_exit"])} {_e(current.returncode)})' if current.returncode is not None else "")
                 + "</p>")
    options = "".join(f'<option value="{_e(s)}"{" selected" if s == "600" else ""}>{_e(_speed_label(s, w))}</option>'
                      for s in speeds)
    head = "".join(f"<th>{_e(w[k])}</th>" for k in ("drills_scenario", "drills_about", "drills_events", "drills_span"))
    head += f'<th>{_e(w["drills_start"])}</th>' if can_start else ""
    rows = ""
    for s in scenarios:
        start = ""
        if can_start:
            start = (f'<td><form method="post" action="/drills/start" class="drill-start">'
                     f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
                     f'<input type="hidden" name="scenario" value="{_e(s.name)}">'
                     f'<label>{_e(w["drills_speed"])} <select name="speed">{options}</select></label> '
                     f'<button type="submit" class="drill-start">{_e(w["drills_start"])}</button></form></td>')
        rows += (f'<tr data-scenario="{_e(s.name)}"><td><code>{_e(s.name)}</code></td>'
                 f'<td><b>{_e(s.title)}</b><div class="detail">{_e(s.description)}</div></td>'
                 f'<td>{_e(s.events)}</td><td>{_e(_span(s))}</td>{start}</tr>')
    body += (f'<h2>{_e(w["drills_scenarios"])}</h2><table id="drill-scenarios"><thead><tr>{head}</tr></thead>'
             f'<tbody>{rows}</tbody></table>')
    body += f'<h2>{_e(w["drills_runs"])}</h2>' + _runs_table(runs, w, tz)
    return page(w["drills_title"], body + _assets(), language, user, role, csrf)


def _runs_table(runs: Iterable[Any], w: Mapping[str, str], tz: dt.tzinfo | None) -> str:
    rows = ""
    for r in runs:
        started = r.started
        try:
            moment = dt.datetime.fromisoformat(started)
            started = f"{moment.astimezone(tz):%Y-%m-%d %H:%M:%S}" if tz else started
        except ValueError:
            pass
        links = " ".join(
            [f'<a href="/drills/report/{_e(r.run_id)}" class="report">{_e(w["drills_report"])}</a>'] if r.has_html
            else []) + (f' <a href="/drills/report/{_e(r.run_id)}/report.json">JSON</a>' if r.has_json else "")
        rows += (f'<tr data-run="{_e(r.run_id)}"><td><a href="/drills/runs/{_e(r.run_id)}">{_e(r.run_id)}</a>'
                 + (f' <span class="error">{_e(w["drills_partial"])}</span>' if r.partial else "")
                 + f'</td><td>{_e(r.speed)}</td><td>{_e(started)}</td>'
                 f'<td>{_e("" if r.incidents is None else r.incidents)}</td>'
                 f'<td>{_e("" if r.notifications is None else r.notifications)}</td><td>{links}</td></tr>')
    if not rows:
        return f'<p id="drill-no-runs">{_e(w["drills_no_runs"])}</p>'
    head = "".join(f"<th>{_e(w[k])}</th>" for k in ("drills_run", "drills_speed", "since", "drills_incidents",
                                                    "drills_sms", "drills_report"))
    return f'<table id="drill-runs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def drill_row(r: Mapping[str, Any], w: Mapping[str, str]) -> str:
    """A drill board row (console_pages.board_rows); no link: the live incident pages do not hold drill incidents."""
    return (f'<tr data-code="{_e(r["code"])}" data-level="{_e(r["level"])}"><td>{_e(r["code"])} '
            f'<span class="drill">{_e(w["drill"])}</span></td><td><span class="level {_e(r["level"])}">'
            f'{_e(r["level_name"])}</span></td><td>{_e(r["place"])}</td><td>{_e(r["what"])}</td>'
            f'<td>{_e(r["since"])}</td><td>{_e(r["stage"])}</td><td class="by">{_e(r["by"])}</td>'
            f'<td>{_e(r["tier"])}</td><td>{_e(r["report"])}</td></tr>')


def run_page(run_id: str, rows: list[dict[str, Any]], status: Mapping[str, Any], language: str, user: str = "",
             role: str = "", csrf: str = "") -> str:
    """A drill run's board: its incidents (from the drill's own incident-states topic), its status and output."""
    w = words(language)
    labels = json.dumps({k: _status_label(w, k) for k in STATUS_KEYS}, ensure_ascii=False)
    state = str(status.get("status", "unknown"))
    code = status.get("exit_code")
    report = status.get("report_url")
    head = "".join(f"<th>{_e(w[k])}</th>" for k in BOARD_COLUMNS)
    facts = [(w["drills_scenario"], status.get("scenario", "")),
             (w["drills_speed"], _speed_label(str(status["speed"]), w) if status.get("speed") else ""),
             (w["drills_started_by"], status.get("started_by", ""))]
    body = (f'<div class="drill-mode" id="drill-mode">'
            f'<div class="drill-banner" id="drill-banner" role="status"><span class="drill">{_e(w["drill"])}</span> '
            f'{_e(w["drills_banner"])}</div>'
            f'<h1>{_e(w["drills_board"])} <code>{_e(run_id)}</code> <span id="live" class="live" '
            f'data-live="{_e(w["live"])}" data-offline="{_e(w["offline"])}"></span></h1>'
            f'<dl id="drill-run" data-events="/drills/runs/{_e(run_id)}/events" data-labels="{_e(labels)}">'
            f'<dt>{_e(w["drills_status"])}</dt><dd><span id="drill-status" class="status {_e(state)}" '
            f'data-status="{_e(state)}">{_e(_status_label(w, state))}</span> '
            f'<span id="drill-exit" data-label="{_e(w["drills_exit"])}">'
            f'{"" if code is None else _e(w["drills_exit"]) + " " + _e(code)}</span></dd>'
            + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v)
            + f'<dt>{_e(w["drills_report"])}</dt><dd><a id="drill-report" href="{_e(report or "")}"'
            + ("" if report else " hidden") + f'>{_e(w["drills_report"])}</a></dd></dl>'
            f'<table id="drill-board" data-drill="{_e(w["drill"])}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(drill_row(r, w) for r in rows)}</tbody></table>'
            f'<p id="drill-empty"{" hidden" if rows else ""}>{_e(w["drills_no_incidents"])}</p>'
            f'<h2>{_e(w["drills_log"])}</h2><pre id="drill-log">{_e(status.get("tail", ""))}</pre>'
            f'<p><a href="/drills">{_e(w["drills_back"])}</a></p></div>')
    return page(f'{w["drill"]} {run_id}', body + _assets(), language, user, role, csrf)
