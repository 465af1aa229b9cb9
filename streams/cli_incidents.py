"""`ers incidents`: the open incidents (and with --all the resolved ones too), from the incident read model."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from streams.cli_support import console, load_plan_or_fail, load_roster_or_fail
from streams.config import Settings

STAGE_NAMES = {"zh-CN": {"suppressed": "维护中", "paging": "通知中", "acknowledged": "已确认", "exhausted": "无人确认",
                         "resolved": "已解除"},
               "en": {"suppressed": "maintenance", "paging": "paging", "acknowledged": "acknowledged",
                      "exhausted": "unanswered", "resolved": "resolved"}}


def add_incident_commands(sub: argparse._SubParsersAction) -> None:
    incidents = sub.add_parser("incidents", help="open incidents, from the incident read model")
    incidents.add_argument("--all", action="store_true", help="also the resolved ones")
    incidents.add_argument("--json", action="store_true", help="the states as JSON lines")
    incidents.add_argument("--report", metavar="CODE", type=_code, default=None,
                           help="the reports incident CODE owes: whether each is filed, to whom and by when the "
                                "initial report (初报) goes, its draft, and once resolved the draft of the final "
                                "report (处理结果报告) (突发环境事件信息报告办法 第三、四、十二、十三条)")
    incidents.set_defaults(handler=cmd_incidents)


def _code(text: str) -> str:
    if not text.strip().isalnum() or not 2 <= len(text.strip()) <= 8:
        raise argparse.ArgumentTypeError(f"expected an incident code like K7Q, got {text!r}")
    return text.strip().upper()


def cmd_incidents(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.incident_states import latest
    from contingency.roster import person_by_id
    from handlers.incident_states import read_incident_states
    from schemas.topics import INCIDENT_STATES

    states = [s for s in latest(read_incident_states(settings.client_bootstrap,
                                                     settings.topics.of(INCIDENT_STATES)))
              if args.all or s.is_open or s.reports_owed or args.report]
    if args.report:
        return _print_report(args.report, states, settings)
    if args.json:
        for state in states:
            print(json.dumps(state.model_dump(mode="json"), ensure_ascii=False))
        return 0
    plan = load_plan_or_fail(settings.plan)
    roster = load_roster_or_fail(settings.roster, plan)
    zh = settings.language == "zh-CN"

    def name(person_id: str | None) -> str:
        person = person_by_id(roster, person_id) if person_id else None
        return person.name if person is not None else (person_id or "")

    table = Table(title=("事件" if zh else "Incidents") + f" ({len(states)})")
    for zh_name, en_name in (("编号", "code"), ("级别", "level"), ("风险源", "source"), ("状态", "state"),
                             ("开始", "opened"), ("层级", "tier"), ("下次升级", "next escalation"), ("人员", "by"),
                             ("初报", "report")):
        table.add_column(zh_name if zh else en_name)
    for s in states:
        tz = roster.tz
        who = name(s.resolved_by) if s.stage == "resolved" else name(s.acknowledged_by)
        table.add_row(s.code + (" 演练" if s.drill_id else ""), plan.levels[s.level].name if s.level in plan.levels
                      else s.level.value, s.facts.place, STAGE_NAMES[settings.language][s.stage],
                      f"{s.opened_at.astimezone(tz):%m-%d %H:%M}", str(s.tier or ""),
                      f"{s.next_escalation_at.astimezone(tz):%H:%M}" if s.next_escalation_at else "", who,
                      _report_cell(s, tz, zh))
    Console().print(table)
    if not states:
        console.print("没有未解除的事件" if zh else "no open incidents")
    return 0


def _report_cell(state, tz, zh: bool) -> str:
    """The initial report: filed (when), or due (by when); then the follow-ups, and the final report once it is
    owed (resolved) or filed."""
    cell = ""
    if state.report_filed_at is not None:
        cell = (f"已报 {state.report_filed_at.astimezone(tz):%H:%M}" if zh
                else f"filed {state.report_filed_at.astimezone(tz):%H:%M}")
    elif state.report_due_at is not None:
        cell = f"{state.report_due_at.astimezone(tz):%H:%M}前" if zh else f"due {state.report_due_at.astimezone(tz):%H:%M}"
    if state.follow_ups:
        cell += f" 续{len(state.follow_ups)}" if zh else f" +{len(state.follow_ups)} follow-up"
    if state.final_report_filed_at is not None:
        cell += " 结果已报" if zh else ", final filed"
    elif state.stage == "resolved" and state.report_due_at is not None:
        cell += " 结果待报" if zh else ", final owed"
    return cell


def _print_report(code: str, states: list, settings: Settings) -> int:
    import dataclasses
    import datetime as dt

    from contingency.obligations import final_report, initial_report, obligation, reports_status
    from streams.cli_support import UserError

    found = [s for s in states if s.code == code]
    if not found:
        raise UserError(f"no incident {code} in the read model (`ers incidents --all` lists them)")
    state = max(found, key=lambda s: s.opened_at)  # a code is reused only after its incident is resolved
    plan = load_plan_or_fail(settings.plan)
    roster = load_roster_or_fail(settings.roster, plan)
    duty = obligation(plan, state.source_id, state.level, {state.facts.parameter_id} - {""}, state.opened_at)
    if duty is None:
        console.print(f"the plan sets no report for grade {plan.levels[state.level].grade} (grades.*.report)")
        return 0
    if state.report_due_at is not None:  # the desk's clock: tightened by raises, the deadline the reminders use
        duty = dataclasses.replace(duty, due_at=state.report_due_at, to=tuple(state.report_to) or duty.to)
    names = {p.id: p.name for p in roster.people.values()} | {d.id: d.name for d in roster.drill_phones.values()}
    print("\n".join(reports_status(state, names, roster.tz)) + "\n")
    print(initial_report(plan, state, duty, names, roster.tz, dt.datetime.now(dt.timezone.utc)))
    if state.stage == "resolved":
        print("\n" + final_report(plan, state, names, roster.tz))
    return 0
