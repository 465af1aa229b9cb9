"""National standards as data: GB 3838-2002 surface-water limits and HJ 633-2012 AQI breakpoints.

The numbers live in `contingency/data/*.yaml` (read by `contingency.loader.load_standards`); this module
only turns them into lookups, so a rule can say "class III" and get the right, inclusive limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contingency.aqi import SWITCH, Index, air_quality_index, decimals_for, iaqi
from contingency.bounds import Bound, describe
from contingency.hj212 import FactorTable, factor_table_from_data

GB3838 = "GB 3838-2002"
HJ633 = "HJ 633-2012"
WATER_CLASSES = ("I", "II", "III", "IV", "V")
WaterBody = Literal["river", "lake_reservoir"]


class StandardLookupError(ValueError):
    """A rule asks a standard for something it does not define."""


@dataclass(frozen=True)
class WaterItem:
    id: str
    name: str
    unit: str
    direction: Literal["upper", "lower", "range", "none"]
    # class -> (lower, upper); one entry per water body when the limit differs (TP: river vs lake)
    limits: dict[str, dict[str, tuple[float | None, float | None]]] = field(default_factory=dict)
    table: Literal[1, 2, 3] = 1  # 2 and 3: one limit for every class (drinking-water sources)
    applies_to: WaterBody | None = None
    note: str = ""
    confidence: Literal["verified", "once", "not verified"] = "verified"  # as the data file marks the value


@dataclass(frozen=True)
class AqiItem:
    id: str
    unit: str
    breakpoints: tuple[float, ...]


@dataclass(frozen=True)
class Standards:
    water: dict[str, WaterItem]
    aqi: dict[str, AqiItem]
    iaqi_levels: tuple[int, ...]
    hj212: "FactorTable" = field(default_factory=lambda: FactorTable({}, {}))
    aqi_superseded: str | None = None  # what the data file says replaced HJ 633-2012, if anything

    def names(self) -> tuple[str, ...]:
        return (GB3838, HJ633)

    def items(self, standard: str) -> list[str]:
        if standard == GB3838:
            return sorted(self.water)
        if standard == HJ633:
            return sorted(self.aqi)
        return []

    def unit(self, standard: str, item: str) -> str:
        if standard == GB3838:
            return self.water[item].unit
        return self.aqi[item].unit

    def water_bound(self, item_id: str, water_class: str | None, water_body: WaterBody | None) -> Bound:
        item = self.water.get(item_id)
        if item is None:
            raise StandardLookupError(f"{GB3838} has no item {item_id!r} (known: {', '.join(sorted(self.water))})")
        if item.direction == "none":
            raise StandardLookupError(f"{GB3838} gives no numeric limit for {item_id} ({item.note})")
        if item.applies_to and water_body and water_body != item.applies_to:
            raise StandardLookupError(
                f"{GB3838} limits {item_id} for {item.applies_to} only; use a fixed limit for a {water_body}")
        if item.table != 1:
            if water_class is not None:
                raise StandardLookupError(f"{item_id} is a Table {item.table} item with one limit for all classes: "
                                          f"drop 'class'")
            lower, upper = item.limits["any"]["any"]
            origin = f"{GB3838} Table {item.table}"
        else:
            if water_class is None:
                raise StandardLookupError(f"{item_id} needs a water class (I-V) from the rule or its source")
            if water_class not in WATER_CLASSES:
                raise StandardLookupError(f"unknown water class {water_class!r} (I, II, III, IV or V)")
            by_body = item.limits[water_class]
            if "any" in by_body:
                lower, upper = by_body["any"]
            elif water_body is None:
                raise StandardLookupError(f"{item_id} differs for rivers and lakes: set the source's water_body")
            else:
                lower, upper = by_body[water_body]
            origin = f"{GB3838} {water_class}"
        return Bound(lower, upper, describe(lower, upper, item.unit, origin))

    def aqi_bound(self, item_id: str, iaqi: int) -> Bound:
        """The concentration at which an item's IAQI reaches `iaqi`: IAQI rises with concentration, so
        "IAQI <= 150" is the same test as "concentration <= the 150 breakpoint"."""
        item = self.aqi.get(item_id)
        if item is None:
            raise StandardLookupError(f"{HJ633} has no item {item_id!r} (known: {', '.join(sorted(self.aqi))})")
        if iaqi not in self.iaqi_levels:
            raise StandardLookupError(f"IAQI {iaqi} is not a breakpoint (one of {list(self.iaqi_levels)})")
        index = self.iaqi_levels.index(iaqi)
        if index >= len(item.breakpoints):
            top = self.iaqi_levels[len(item.breakpoints) - 1]
            instead = SWITCH.get(item_id)
            raise StandardLookupError(
                f"{HJ633} gives {item_id} breakpoints only up to IAQI {top}" + (
                    f"; above {item.breakpoints[-1]:g} {item.unit} it reports the index of {instead} instead "
                    f"(Table 1 note): use item {instead}" if instead else ""))
        upper = item.breakpoints[index]
        return Bound(None, upper, describe(None, upper, item.unit, f"{HJ633} {item_id} IAQI {iaqi}"),
                     decimals=decimals_for(item.unit), scale=(item.breakpoints, self.iaqi_levels))

    def iaqi(self, item_id: str, concentration: float) -> int | None:
        """HJ 633 individual index (contingency.aqi); None above the table's last breakpoint."""
        item = self.aqi[item_id]
        return iaqi(item.breakpoints, self.iaqi_levels, concentration, decimals_for(item.unit))

    def air_quality_index(self, concentrations: dict[str, float]) -> Index:
        """The AQI of concentrations by item, with HJ 633's switches (contingency.aqi)."""
        tables = {item_id: (self.aqi[item_id].breakpoints, decimals_for(self.aqi[item_id].unit))
                  for item_id in concentrations}
        return air_quality_index(tables, self.iaqi_levels, concentrations)


def standards_from_data(gb3838: dict[str, Any], hj633: dict[str, Any],
                        hj212: dict[str, Any] | None = None) -> Standards:
    """Build the lookups from the data files as parsed YAML."""
    return Standards(water=_water_items(gb3838), aqi=_aqi_items(hj633), iaqi_levels=tuple(hj633["iaqi"]),
                     hj212=factor_table_from_data(hj212 or {"factors": {}}), aqi_superseded=hj633.get("superseded"))


_DIRECTIONS = {"upper_limit": "upper", "lower_limit": "lower", "range": "range", "note": "none"}


def _water_items(data: dict[str, Any]) -> dict[str, WaterItem]:
    default_unit = data.get("unit_default", "mg/L")
    items: dict[str, WaterItem] = {}
    for item_id, raw in data["table1"].items():
        direction = _DIRECTIONS[raw["direction"]]
        limits: dict[str, dict[str, tuple[float | None, float | None]]] = {}
        for index, water_class in enumerate(WATER_CLASSES):
            if direction == "range":
                limits[water_class] = {"any": (float(raw["limits"]["min"]), float(raw["limits"]["max"]))}
            elif direction == "none":
                continue
            elif "limits" in raw:
                limits[water_class] = {"any": _one_sided(direction, raw["limits"][index])}
            else:
                limits[water_class] = {"river": _one_sided(direction, raw["limits_river"][index]),
                                       "lake_reservoir": _one_sided(direction, raw["limits_lake_reservoir"][index])}
        items[item_id] = WaterItem(
            id=item_id, name=raw.get("cn", item_id), unit=raw.get("unit", default_unit), direction=direction,
            limits=limits, applies_to="lake_reservoir" if raw.get("applies_to") == "lakes_reservoirs" else None,
            note=raw.get("note", ""))
    for table, key in ((2, "table2_drinking_source_supplementary"), (3, "table3_drinking_source_specific")):
        for item_id, raw in data.get(key, {}).items():
            items[item_id] = WaterItem(id=item_id, name=raw.get("cn", item_id), unit=default_unit, direction="upper",
                                       limits={"any": {"any": (None, float(raw["limit"]))}}, table=table,
                                       note=raw.get("note", ""), confidence=raw.get("confidence", "verified"))
    return items


def _one_sided(direction: str, value: float) -> tuple[float | None, float | None]:
    return (float(value), None) if direction == "lower" else (None, float(value))


def _aqi_items(data: dict[str, Any]) -> dict[str, AqiItem]:
    return {item_id: AqiItem(id=item_id, unit="mg/m3" if item_id.startswith("co_") else "ug/m3",
                             breakpoints=tuple(float(v) for v in points))
            for item_id, points in data["breakpoints"].items()}
