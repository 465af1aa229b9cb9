"""The air quality index as HJ 633-2012 computes it, from the breakpoints in contingency/data/hj633_2012_aqi.yaml.

- A concentration is first rounded to its reporting precision: whole ug/m3, CO to 0.1 mg/m3 (as implementations
  of the standard do; the rounding is GB/T 8170's, half to even: the HJ 633-2012 text on it was not found).
- IAQI = (IH - IL) / (BPH - BPL) x (C - BPL) + IL, rounded up to a whole number (向上进位取整数).
- Table 1 notes: an SO2 1-hour concentration above 800 ug/m3 gets no index of its own, SO2's index is the one of
  its 24-hour average; an O3 8-hour concentration above 800 ug/m3 likewise, O3's index is its 1-hour one.
- AQI is the highest IAQI; the primary pollutants are the items at it, named only when the AQI is above 50.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

# Items whose index HJ 633 replaces above their table's last concentration, and by which item's.
SWITCH = {"so2_1h": "so2_24h", "o3_8h": "o3_1h"}


def decimals_for(unit: str) -> int:
    """Reporting precision: CO in mg/m3 to one decimal, the others in ug/m3 to whole numbers."""
    return 1 if unit == "mg/m3" else 0


def reported(value: float, decimals: int) -> float:
    """`value` rounded to `decimals` places, half to even, on its decimal digits (4.35 -> 4.4, not the binary 4.3)."""
    if abs(value) >= 1e15:  # no fraction left to round (and beyond the decimal context's 28 digits)
        return value
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN))


def iaqi(breakpoints: tuple[float, ...], levels: tuple[int, ...], concentration: float, decimals: int) -> int | None:
    """An item's individual index, or None above its table's last breakpoint."""
    c = reported(concentration, decimals)
    if c <= breakpoints[0]:
        return levels[0]
    for i in range(1, len(breakpoints)):
        if c <= breakpoints[i]:
            low_c, high_c, low_i, high_i = breakpoints[i - 1], breakpoints[i], levels[i - 1], levels[i]
            # rounded to 9 places first: 200.00000000000003 is 200, not 201
            return math.ceil(round((high_i - low_i) / (high_c - low_c) * (c - low_c) + low_i, 9))
    return None


@dataclass(frozen=True)
class Index:
    aqi: int | None
    primary: tuple[str, ...]        # the items at the AQI, when it is above 50
    iaqi: dict[str, int]            # every item's index, after the switches
    beyond: tuple[str, ...] = ()    # items above their table with nothing to switch to


def air_quality_index(tables: Mapping[str, tuple[tuple[float, ...], int]], levels: tuple[int, ...],
                      concentrations: Mapping[str, float]) -> Index:
    """The AQI of concentrations by item (so2_1h, pm25_24h, ...). `tables`: each item's breakpoints and reporting
    decimals."""
    indexes: dict[str, int] = {}
    beyond = []
    for item, concentration in concentrations.items():
        points, decimals = tables[item]
        value = iaqi(points, levels, concentration, decimals)
        if value is None:
            instead = SWITCH.get(item)
            if instead is not None and instead in concentrations:
                continue  # the other item's index stands for it
            beyond.append(item)
            continue
        indexes[item] = value
    if not indexes:
        return Index(None, (), {}, tuple(beyond))
    top = max(indexes.values())
    primary = tuple(sorted(item for item, value in indexes.items() if value == top)) if top > 50 else ()
    return Index(top, primary, indexes, tuple(beyond))
