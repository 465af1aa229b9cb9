"""A resolved limit: the numbers a measurement is judged against, and how the plan states them."""
from __future__ import annotations

from dataclasses import dataclass

from contingency.aqi import reported


@dataclass(frozen=True)
class Bound:
    """Inclusive limits: a value exactly at a limit complies (GB 3838-2002 reads "<=" / ">=")."""

    lower: float | None
    upper: float | None
    text: str
    decimals: int | None = None  # a value is rounded to this many places before it is judged (HJ 633)
    scale: tuple[tuple[float, ...], tuple[int, ...]] | None = None  # HJ 633: the item's breakpoints and indexes

    def complies(self, value: float) -> bool:
        if self.decimals is not None:
            value = reported(value, self.decimals)
        if self.lower is not None and value < self.lower:
            return False
        if self.upper is not None and value > self.upper:
            return False
        return True


def describe(lower: float | None, upper: float | None, unit: str, origin: str = "") -> str:
    if lower is not None and upper is not None:
        text = f"{_num(lower)}..{_num(upper)} {unit}"
    elif upper is not None:
        text = f"<= {_num(upper)} {unit}"
    else:
        text = f">= {_num(lower)} {unit}"
    return f"{text} ({origin})" if origin else text


def _num(value: float | None) -> str:
    return f"{value:g}"
