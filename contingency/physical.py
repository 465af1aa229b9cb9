"""Physical ranges: values no instrument can truly read (a negative concentration, pH 15). A reading holding one
is a fault or a forgery, refused whole as a dead letter naming the measurement and the range, rather than judged.

A station parameter's range is the plan's `physical: [low, high]` when given (either end may be null), else the
built-in range of the parameter, else of its unit; a parameter with none is not checked. Pure: the ranges are
resolved once per plan (`physical_ranges`) and passed to the rules agent.
"""
from __future__ import annotations

from dataclasses import dataclass

from contingency.bounds import Bound, describe
from contingency.limits import normal_unit, same_unit
from contingency.plan import Plan
from schemas import StationReport

# By parameter id: pH is defined on 0-14 for the waters a station measures (aqueous solutions, GB 3838's 6-9).
BY_PARAMETER: dict[str, tuple[float | None, float | None]] = {"pH": (0.0, 14.0)}
# By (normalised) unit: a concentration or a flow is never negative; a substance dissolved in water is never
# more than the solution weighs (no aqueous solution reaches 3 kg/L: 3e6 mg/L), nor one in air more than 10 kg/m3
# (air itself weighs 1.2 kg/m3); a temperature below the coldest air ever measured (-89.2 degC, Vostok 1983) or
# above boiling water is no reading of water or air.
BY_UNIT: dict[str, tuple[float | None, float | None]] = {
    **{unit: (0.0, None) for unit in ("count/l", "l/s", "m3/s", "m3/h", "ntu")},
    "mg/l": (0.0, 3e6), "ug/l": (0.0, 3e9), "ng/l": (0.0, 3e12),
    "mg/m3": (0.0, 1e7), "ug/m3": (0.0, 1e10), "ng/m3": (0.0, 1e13),
    "degc": (-90.0, 100.0),
}


@dataclass(frozen=True)
class PhysicalRange:
    bound: Bound  # its text names where the range comes from, for the dead letter
    unit: str


def physical_ranges(plan: Plan) -> dict[tuple[str, str], PhysicalRange]:
    """(station id, parameter id) -> its range, for every station parameter that has one."""
    ranges = {}
    for station_id, station in plan.stations.items():
        for parameter_id, parameter in station.parameters.items():
            if parameter.physical is not None:
                low, high, origin = (*parameter.physical,
                                     f"plan: stations.{station_id}.parameters.{parameter_id}.physical")
            elif parameter_id in BY_PARAMETER:
                low, high, origin = (*BY_PARAMETER[parameter_id], f"physical range of {parameter_id}")
            elif (unit := normal_unit(parameter.unit)) in BY_UNIT:
                low, high, origin = (*BY_UNIT[unit], f"physical range of {parameter.unit}")
            else:
                continue
            if low is not None or high is not None:
                ranges[(station_id, parameter_id)] = PhysicalRange(
                    Bound(low, high, describe(low, high, parameter.unit, origin)), parameter.unit)
    return ranges


def implausible_value(report: StationReport, ranges: dict[tuple[str, str], PhysicalRange]) -> str | None:
    """Why the report cannot be true ("field: why"), for its first measurement outside its range; None when
    none is. A measurement in another unit than the plan's is not judged, so not checked either."""
    for index, measurement in enumerate(report.measurements):
        found = ranges.get((report.station_id, measurement.parameter))
        if (found is not None and same_unit(measurement.unit, found.unit)
                and not found.bound.complies(measurement.value)):
            return (f"measurements[{index}].value: {measurement.value:g} {measurement.unit} for "
                    f"{measurement.parameter} is outside its physical range {found.bound.text}")
    return None
