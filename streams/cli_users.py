"""`ers users`: console accounts (issue 16) — add, passwd, disable/enable, list, and the audit log.

A new password is read from ERS_NEW_PASSWORD when set (scripts, tests), else asked twice without echo; it is never
an argument (a command line shows in `ps` and the shell's history)."""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys

from rich.console import Console
from rich.table import Table

from contingency.access import ROLE_NAMES, ROLES
from streams.cli_support import UserError, console
from streams.config import Settings

NEW_PASSWORD_ENV = "ERS_NEW_PASSWORD"


def add_user_commands(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="console accounts: add, passwd, disable, enable, list, audit")
    actions = users.add_subparsers(title="users commands", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="a new account (the password is asked for, or read from "
                                         f"{NEW_PASSWORD_ENV})")
    add.add_argument("username", help="2-64 letters, digits, '.', '_' or '-'")
    add.add_argument("--role", required=True, choices=ROLES, help="what the account may do")
    add.add_argument("--name", default="", help="the name shown, e.g. 钱晓梅 (default: the user name)")
    add.add_argument("--person", default=None, metavar="ID", help="the roster person id, so the console's actions "
                                                                 "carry it as an SMS reply would")
    add.set_defaults(handler=cmd_users_add)
    passwd = actions.add_parser("passwd", help="set a new password")
    passwd.add_argument("username")
    passwd.set_defaults(handler=cmd_users_passwd)
    for name, disabled in (("disable", True), ("enable", False)):
        command = actions.add_parser(name, help=f"{name} an account (it is kept, with its audit entries)")
        command.add_argument("username")
        command.set_defaults(handler=cmd_users_disable, disabled=disabled)
    listing = actions.add_parser("list", help="the accounts")
    listing.set_defaults(handler=cmd_users_list)
    audit = actions.add_parser("audit", help="the latest audit entries (who, when, what, from where)")
    audit.add_argument("--limit", type=_count, default=50, help="how many (default 50)")
    audit.set_defaults(handler=cmd_users_audit)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 10000, got {text!r}")
    return value


def _engine(settings: Settings):
    from handlers.database import make_engine, migrate

    migrate(settings.database_url)  # the first account is made before anything else runs
    return make_engine(settings.database_url)


def _tz() -> dt.tzinfo:
    """Times as the duty room reads them (the plans' zone; ERS's users are in China)."""
    from contingency.sms_text import SHANGHAI

    return SHANGHAI


def _actor() -> str:
    return "cli:" + (os.environ.get("USER") or getpass.getuser() or "?")


def _new_password() -> str:
    given = os.environ.get(NEW_PASSWORD_ENV)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise UserError(f"no terminal to ask for the password: set {NEW_PASSWORD_ENV}")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def _run(change) -> int:
    from handlers.console_users import AccountError

    try:
        change()
    except AccountError as exc:
        raise UserError(str(exc)) from None
    return 0


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.console_users import add_user

    if args.person is not None:
        from contingency.roster import person_by_id
        from streams.cli_support import load_plan_or_fail, load_roster_or_fail

        roster = load_roster_or_fail(settings.roster, load_plan_or_fail(settings.plan))
        if person_by_id(roster, args.person) is None:
            raise UserError(f"--person: expected a person id of the roster {settings.roster} "
                            f"({', '.join(sorted(roster.people))}), got {args.person!r}")
    engine = _engine(settings)
    password = _new_password()
    _run(lambda: add_user(engine, args.username, args.name, args.role, password, dt.datetime.now(dt.timezone.utc),
                          person_id=args.person, actor=_actor()))
    console.print(f"added {args.username.strip().lower()} ({args.role})")
    return 0


def cmd_users_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.console_users import set_password

    engine = _engine(settings)
    password = _new_password()
    _run(lambda: set_password(engine, args.username, password, dt.datetime.now(dt.timezone.utc), actor=_actor()))
    console.print(f"password of {args.username.strip().lower()} changed")
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.console_users import set_disabled

    engine = _engine(settings)
    _run(lambda: set_disabled(engine, args.username, args.disabled, dt.datetime.now(dt.timezone.utc),
                              actor=_actor()))
    console.print(f"{args.username.strip().lower()} {'disabled' if args.disabled else 'enabled'}")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.console_users import list_users

    zh = settings.language == "zh-CN"
    names = ROLE_NAMES["zh-CN" if zh else "en"]
    table = Table(title=("控制台账户" if zh else "Console accounts"))
    for column in (("账户", "user"), ("姓名", "name"), ("角色", "role"), ("值班表人员", "roster person"),
                   ("状态", "state"), ("密码更改", "password changed")):
        table.add_column(column[0] if zh else column[1])
    for user in list_users(_engine(settings)):
        state = ("停用" if zh else "disabled") if user.disabled else ("启用" if zh else "enabled")
        table.add_row(user.username, user.display_name, names.get(user.role, user.role),  # type: ignore[call-overload]
                      user.person_id or "", state, f"{user.password_changed_at.astimezone(_tz()):%Y-%m-%d %H:%M}")
    Console().print(table)
    return 0


def cmd_users_audit(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.console_users import read_audit

    zh = settings.language == "zh-CN"
    table = Table(title=("审计日志" if zh else "Audit log"))
    for column in (("时间", "at"), ("操作人", "who"), ("操作", "action"), ("对象", "target"), ("来源", "from"),
                   ("结果", "outcome"), ("说明", "detail")):
        table.add_column(column[0] if zh else column[1])
    for entry in read_audit(_engine(settings), args.limit):
        table.add_row(f"{entry.at.astimezone(_tz()):%Y-%m-%d %H:%M:%S}", entry.actor, entry.action, entry.target, entry.source,
                      entry.outcome, entry.detail)
    Console().print(table)
    return 0
