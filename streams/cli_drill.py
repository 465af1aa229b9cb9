"""`ers drill ...`: drill logs (validate, record). Running a drill is not built yet (issue 6)."""
from __future__ import annotations

import argparse
from pathlib import Path

from streams.cli_support import UserError, aware_time, console, load_plan_or_fail, report_problems
from streams.config import Settings

RECORDABLE = ("readings", "reports", "commands", "inventory")


def add_drill_commands(sub: argparse._SubParsersAction) -> None:
    drill = sub.add_parser("drill", help="drills: replayable event logs (format in drills/README.md)")
    actions = drill.add_subparsers(title="drill commands", metavar="ACTION", required=True)
    validate = actions.add_parser("validate", help="check a drill log against the plan; exit 0 if valid")
    validate.add_argument("file", type=Path)
    validate.set_defaults(handler=cmd_drill_validate)
    record = actions.add_parser("record", help="write a drill log from the live topics")
    record.add_argument("--topics", default=",".join(RECORDABLE),
                        help=f"comma-separated topic suffixes among {', '.join(RECORDABLE)} (default: all)")
    record.add_argument("--since", type=aware_time, default=None, help="ISO time with offset (inclusive)")
    record.add_argument("--until", type=aware_time, default=None, help="ISO time with offset (exclusive)")
    record.add_argument("--out", type=Path, required=True, help="the drill log to write (JSON Lines)")
    record.set_defaults(handler=cmd_drill_record)


def cmd_drill_validate(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.drill_log import check_drill_log

    return report_problems(check_drill_log(args.file, load_plan_or_fail(settings.plan)), args.file)


def cmd_drill_record(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.drill_files import record_topics

    topics = [t.strip() for t in args.topics.split(",") if t.strip()]
    unknown = sorted(set(topics) - set(RECORDABLE))
    if unknown:
        raise UserError(f"--topics: cannot record {', '.join(unknown)}; expected some of {', '.join(RECORDABLE)}",
                        exit_code=2)
    count = record_topics(settings.client_bootstrap, settings.topic_prefix, topics, args.since, args.until, args.out)
    console.print(f"wrote {count} events to {args.out}")
    return 0
