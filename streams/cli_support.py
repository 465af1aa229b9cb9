"""What every `ers` command shares: the console, user errors, loading the plan."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

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


def report_problems(problems: list, path: Path) -> int:
    """One `file:line: field: what is wrong` per line on stdout; exit code 1 if there are any."""
    for problem in problems:
        print(problem)
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/] in {path}")
        return 1
    console.print(f"[green]ok[/]: {path}")
    return 0
