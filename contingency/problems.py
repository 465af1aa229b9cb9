"""What is wrong with a plan file, said so a person can find it: `file:line: field: what is wrong`."""
from __future__ import annotations

from dataclasses import dataclass, replace

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    file: str = "<plan>"
    line: int = 0

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.path) or "(plan)"

    def located(self, file: str, line: int) -> "Problem":
        return replace(self, file=file, line=line)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class PlanError(ValueError):
    """A plan that cannot be used; `problems` lists every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))
