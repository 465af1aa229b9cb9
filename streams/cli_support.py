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
