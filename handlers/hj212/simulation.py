"""What `ers station simulate` uploads: values from a JSON Lines file, or a seeded random walk that stays inside
the plan's limits unless told otherwise (`--set cadmium=0.02` holds a parameter at a value).

A file line is ``{"values": {"cadmium": 0.02, "w21003": 0.3}, "flags": {"cadmium": "M"}, "data_time": "..."}``;
keys are the plan's parameter ids or factor codes, `flags` and `data_time` (ISO, with offset) are optional.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from contingency import CompiledPlan
from contingency.bounds import Bound
from contingency.hj212 import StationLink
from handlers.hj212.station import Value

STEP = 0.03  # the walk's relative step per upload


@dataclass(frozen=True)
class Sample:
    values: dict[str, Value]          # by factor code
    data_time: dt.datetime | None = None


class SimulationError(ValueError):
    pass


def station_bounds(plan: CompiledPlan, station_id: str) -> dict[str, Bound]:
    """The tightest limit the plan judges each of the station's parameters by."""
    bounds: dict[str, Bound] = {}
    for bound_rule in plan.rules_for(station_id):
        parameter = getattr(bound_rule.rule, "parameter", None)
        if parameter is None or bound_rule.bound is None:
            continue
        bounds.setdefault(parameter, bound_rule.bound)
    return bounds


def normal_value(bound: Bound | None) -> float:
    """A comfortable value inside the limit: the middle of a range, 40 % of an upper limit, 150 % of a lower."""
    if bound is None:
        return 1.0
    if bound.lower is not None and bound.upper is not None:
        return (bound.lower + bound.upper) / 2
    if bound.upper is not None:
        return bound.upper * 0.4 if bound.upper > 0 else 0.0
    assert bound.lower is not None
    return bound.lower * 1.5 if bound.lower > 0 else 1.0


class RandomWalk:
    """Each parameter wanders ±3 % per upload within 50-150 % of its normal value; fixed ones stay put."""

    def __init__(self, link: StationLink, edition_2017: bool, bounds: Mapping[str, Bound],
                 fixed: Mapping[str, float], seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._codes = {p: c for p in link.units if (c := link.code_for(p, edition_2017)) is not None}
        unknown = sorted(set(fixed) - set(self._codes))
        if unknown:
            raise SimulationError(f"--set: station {link.station_id} has no parameter {', '.join(unknown)} with a "
                                  f"factor code; expected some of {', '.join(sorted(self._codes))}")
        self._normal = {p: normal_value(bounds.get(p)) for p in self._codes}
        self._now = dict(self._normal)
        self._fixed = dict(fixed)

    def __iter__(self) -> Iterator[Sample]:
        while True:
            values = {}
            for parameter, code in self._codes.items():
                if parameter in self._fixed:
                    value = self._fixed[parameter]
                else:
                    normal = self._normal[parameter]
                    value = self._now[parameter] * (1 + self._rng.uniform(-STEP, STEP))
                    value = min(max(value, normal * 0.5), normal * 1.5) if normal > 0 else value
                    self._now[parameter] = value
                values[code] = Value(round(value, 4))
            yield Sample(values)


def samples_from_file(path: Path, link: StationLink, edition_2017: bool) -> Iterator[Sample]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        yield _sample(f"{path}:{number}", line, link, edition_2017)


def _sample(where: str, line: str, link: StationLink, edition_2017: bool) -> Sample:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SimulationError(f"{where}: not JSON: {exc.msg}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("values"), dict) or not raw["values"]:
        raise SimulationError(f'{where}: expected {{"values": {{parameter or code: number, ...}}}}')
    flags = raw.get("flags", {})
    values = {}
    for key, value in raw["values"].items():
        code = link.code_for(key, edition_2017) if key in link.units else key
        if code is None or code not in link.codes:
            raise SimulationError(f"{where}: values.{key}: station {link.station_id} has no such parameter or "
                                  f"factor code")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SimulationError(f"{where}: values.{key}: expected a number, got {value!r}")
        values[code] = Value(float(value), str(flags.get(key, "N")))
    data_time = None
    if "data_time" in raw:
        try:
            data_time = dt.datetime.fromisoformat(raw["data_time"])
        except (TypeError, ValueError) as exc:
            raise SimulationError(f"{where}: data_time: expected an ISO time with offset") from exc
        if data_time.tzinfo is None:
            raise SimulationError(f"{where}: data_time: {raw['data_time']!r} has no offset")
    return Sample(values, data_time)
