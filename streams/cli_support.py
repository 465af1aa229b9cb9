"""What every `ers` command shares: the console, user errors, loading the plan."""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from streams.config import Settings

console = Console(stderr=True)


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def load_plan_or_fail(path: Path, cache_dir: Path | None = None):  # -> contingency.CompiledPlan
    """The plan at `path`; with `cache_dir`, kept there once checked, so that the next start skips the YAML."""
    from contingency import PlanError, load_plan
    from handlers.plan_cache import load_plan_cached

    try:
        return load_plan(path) if cache_dir is None else load_plan_cached(path, cache_dir)
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
