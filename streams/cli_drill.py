"""`ers drill ...`: drill logs (validate, record) and drill runs (run)."""
from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

from streams.cli_support import (UserError, aware_time, console, load_plan_or_fail, load_roster_or_fail,
                                 report_problems)
from schemas.topics import HJ212_RAW, RECORDABLE
from streams.config import Settings


def add_drill_commands(sub: argparse._SubParsersAction) -> None:
    drill = sub.add_parser("drill", help="drills: replayable event logs (format in drills/README.md)")
    actions = drill.add_subparsers(title="drill commands", metavar="ACTION", required=True)
    validate = actions.add_parser("validate", help="check a drill log against the plan; exit 0 if valid")
    validate.add_argument("file", type=Path)
    validate.set_defaults(handler=cmd_drill_validate)
    record = actions.add_parser("record", help="write a drill log from the live topics")
    record.add_argument("--topics", default=",".join(t.suffix for t in RECORDABLE if t is not HJ212_RAW),
                        help=f"comma-separated topic suffixes among {', '.join(t.suffix for t in RECORDABLE)} "
                             f"(default: all but {HJ212_RAW.suffix}; with it, the packets replay through the "
                             "gateway's parser and the readings they made are left out of the log)")
    record.add_argument("--since", type=aware_time, default=None, help="ISO time with offset (inclusive)")
    record.add_argument("--until", type=aware_time, default=None, help="ISO time with offset (exclusive)")
    record.add_argument("--out", type=Path, required=True, help="the drill log to write (JSON Lines)")
    record.set_defaults(handler=cmd_drill_record)
    run = actions.add_parser("run", help="replay a drill log through a worker of its own and write a report")
    run.add_argument("file", type=Path)
    run.add_argument("--speed", type=speed, default=None, metavar="N|max",
                     help="replay N times faster than the log's own timing (e.g. 60, 600), or `max`: as fast as the "
                          "pipeline goes (default: max)")
    run.add_argument("--tick-minutes", type=tick_minutes, default=1.0, metavar="MINUTES",
                     help="virtual clock step for silence and escalation timers (default 1)")
    run.add_argument("--report", type=Path, default=None, help="also write the JSON report here")
    run.add_argument("--html", type=Path, default=None, help="also write the HTML report (with timeline) here")
    run.add_argument("--drill-id", type=drill_id, default=None,
                     help="id of this run (letters, digits, - and _); default: the log's name and the time")
    run.add_argument("--live-roster", action="store_true",
                     help="page the roster's real people instead of its drill phones (SMS still start with 【演练】)")
    run.set_defaults(handler=cmd_drill_run)


def speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number (e.g. 60 or 600) or `max`, got {text!r}")
    return value


def tick_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"expected minutes between 0 and 60 (e.g. 1 or 0.5), got {text!r}")
    return value


def drill_id(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,60}", text):
        raise argparse.ArgumentTypeError(f"expected 1-60 letters, digits, - or _, got {text!r}")
    return text


def cmd_drill_validate(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.drill_log import check_drill_log

    return report_problems(check_drill_log(args.file, load_plan_or_fail(settings.plan)), args.file)


def cmd_drill_record(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.drill_files import record_topics

    suffixes = [t.strip() for t in args.topics.split(",") if t.strip()]
    recordable = {t.suffix: t for t in RECORDABLE}
    unknown = sorted(set(suffixes) - set(recordable))
    if unknown:
        raise UserError(f"--topics: cannot record {', '.join(unknown)}; expected some of {', '.join(recordable)}",
                        exit_code=2)
    count = record_topics(settings.client_bootstrap, settings.topics, [recordable[s] for s in suffixes], args.since,
                          args.until, args.out)
    console.print(f"wrote {count} events to {args.out}")
    return 0


def cmd_drill_run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from contingency.drill_log import DrillLogError, parse_drill_log, read_lines
    from rich.markup import escape

    from contingency.drill_steps import log_digest
    from contingency.phones import mask
    from handlers.drill_files import write_report_files
    from streams.services.drill_run import DrillError, DrillOptions, DrillRunner, new_drill_id

    plan = load_plan_or_fail(settings.plan)
    roster = load_roster_or_fail(settings.roster, plan)
    try:
        lines = read_lines(args.file)
    except OSError as exc:
        raise UserError(f"{args.file}: cannot read the drill log: {exc.strerror or exc}", exit_code=2) from exc
    try:
        log = parse_drill_log(lines, str(args.file), plan)
    except DrillLogError as exc:
        return report_problems(exc.problems, args.file)
    options = DrillOptions(speed=args.speed, tick=dt.timedelta(minutes=args.tick_minutes),
                           live_roster=args.live_roster)
    run_id = args.drill_id or new_drill_id(args.file.name, dt.datetime.now())
    try:
        runner = DrillRunner(settings, plan, roster, log, log_digest(lines), run_id, options)
        runner.preflight()
    except DrillError as exc:
        raise UserError(str(exc)) from exc
    if args.live_roster:
        console.print("[bold red]--live-roster: this drill pages the people on the roster (SMS start with 【演练】)")
    else:
        phone = next(iter(roster.drill_phones.values())).phone
        console.print(f"answer a drill SMS by hand: ers sms reply --drill {run_id} --from {phone} \"1 CODE\"")
    console.print(f"drill {run_id}: {len(log.entries)} events, {log.start:%Y-%m-%d %H:%M} - {log.end:%H:%M} "
                  f"({log.start.tzname()}), speed {options.speed_label}, topics {runner.topics.prefix}*")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[virtual]}"))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("演练" if settings.language == "zh-CN" else "drill", total=len(runner.steps), virtual="")

        def advance(step, done: int, notes: list) -> None:
            bar.update(task, completed=done, virtual=f"{step.at:%m-%d %H:%M}")
            for note in notes:  # what the drill phones receive, as they receive it
                console.print(f"[cyan]{note.created_at.astimezone(log.start.tzinfo):%H:%M} → {note.person_id} "
                              f"{mask(note.to)}[/] {escape(note.body)}")

        try:
            result = runner.run(advance)
        except DrillError as exc:
            raise UserError(str(exc)) from exc
        except KeyboardInterrupt:  # before the first step: nothing to report (later, run() reports a prefix)
            raise UserError("interrupted before the drill began: no report", exit_code=130) from None
    paths = write_report_files(result.report, result.workdir, args.report, args.html)
    for skipped in result.report.skipped_lines:
        console.print(f"[yellow]{args.file}:{skipped.line}: skipped: {skipped.reason}")
    _print_summary(result.report, settings.language, roster)
    console.print("report: " + ", ".join(str(p) for p in paths))
    if result.report.partial:
        console.print("[yellow]interrupted: the report covers the part of the log that ran")
        return 130
    return 0


def _print_summary(report, language: str, roster) -> None:  # a DrillReport; a Roster
    from rich.table import Table

    from contingency.roster import person_by_id

    def name(person_id: str | None) -> str:
        person = person_by_id(roster, person_id) if person_id else None
        return person.name if person is not None else (person_id or "")

    zh = language == "zh-CN"
    table = Table(title="演练事件" if zh else "Drill incidents")
    for zh_name, en_name in (("编号", "code"), ("风险源", "source"), ("级别", "level"), ("发现", "opened"),
                             ("确认", "acknowledged"), ("升级", "escalations"), ("短信", "SMS"), ("关闭", "resolved")):
        table.add_column(zh_name if zh else en_name)
    for incident in report.incidents:
        ack = (f"{incident.acknowledged_at[11:16]} {name(incident.acknowledged_by)}"
               if incident.acknowledged_at else "-")
        table.add_row(incident.code, incident.source_name, incident.level_name, incident.opened_at[11:16], ack,
                      str(len(incident.escalations)), str(len(incident.notifications)),
                      incident.resolved_at[11:16] if incident.resolved_at else "-")
    console.print(table)
    s = report.summary

    def minutes(value: float | None) -> str:
        return "-" if value is None else f"{value:g} min"

    console.print(("发现用时 {d}, 首条短信 {f}, 确认用时 {a}; 未确认 {u}, 升级 {e}, 短信 {n} (送达 {ok})" if zh else
                   "time to detect {d}, to first SMS {f}, to acknowledge {a}; unacknowledged {u}, escalations {e}, "
                   "SMS {n} (delivered {ok})").format(
        d=minutes(s.time_to_detect_minutes), f=minutes(s.time_to_first_sms_minutes),
        a=minutes(s.time_to_acknowledge_minutes), u=s.unacknowledged, e=s.escalations, n=s.notifications_sent,
        ok=s.notifications_delivered))
