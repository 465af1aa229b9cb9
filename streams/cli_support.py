"""What every `ers` command shares: the console, user errors, loading the plan."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.logging import RichHandler

if TYPE_CHECKING:
    from streams.config import Settings

console = Console(stderr=True)


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def load_plan_or_fail(path: Path):  # -> contingency.Plan
    from contingency import PlanError, load_plan

    try:
        return load_plan(path)
    except PlanError as exc:
        raise UserError(str(exc)) from exc


def load_roster_or_fail(path: Path, plan):  # -> contingency.roster.Roster
    from contingency import PlanError
    from contingency.roster import load_roster

    try:
        return load_roster(path, plan)
    except PlanError as exc:
        raise UserError(str(exc)) from exc


def report_problems(problems: list, path: Path) -> int:
    """One `file:line: field: what is wrong` per line on stdout; exit code 1 if there are any."""
    for problem in problems:
        print(problem)
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/] in {path}")
        return 1
    console.print(f"[green]ok[/]: {path}")
    return 0


def aware_time(text: str) -> dt.datetime:
    """argparse type: an ISO time that carries its offset."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time like 2026-07-01T09:00+08:00, got {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"expected a time with its offset (+08:00), got {text!r}")
    return value


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(name)s: %(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=True)],
    )
    from handlers.phones import MaskPhonesFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskPhonesFilter())
    # kafka-python logs every refused connection while a broker starts; its failures reach us as
    # exceptions anyway. aiokafka (the worker's client) keeps its warnings.
    if settings.log_level != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
