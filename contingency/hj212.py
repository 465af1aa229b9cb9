"""HJ 212 factor codes and the plan's stations as the gateway sees them: which MN is which station, and which
factor code (of either version) is which of its parameters. Pure: passwords stay environment variable names."""
from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

from contingency.plan import Plan
from contingency.problems import Problem

CODE_2017 = re.compile(r"^[a-z]\d{5}$")   # w01018, a21026; HJ/T 212-2005 codes are 011, B01, 02


@dataclass(frozen=True)
class Factor:
    parameter: str
    name: str
    code_2017: str
    code_2005: str | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.code_2017,) + ((self.code_2005,) if self.code_2005 else ())


@dataclass(frozen=True)
class FactorTable:
    by_parameter: dict[str, Factor]
    by_code: dict[str, Factor]

    def knows(self, code: str) -> bool:
        return code in self.by_code


def factor_table_from_data(data: dict[str, Any]) -> FactorTable:
    factors = [Factor(parameter, raw["name"], raw["hj212_2017"], raw.get("hj212_2005"))
               for parameter, raw in data["factors"].items()]
    return FactorTable({f.parameter: f for f in factors}, {code: f for f in factors for code in f.codes})


@dataclass(frozen=True)
class StationLink:
    station_id: str
    mn: str
    password_env: str
    readings_from: frozenset[str]
    codes: dict[str, str]   # factor code, of either version -> parameter id
    units: dict[str, str]   # parameter id -> the plan's unit
    source_id: str

    def code_for(self, parameter_id: str, edition_2017: bool) -> str | None:
        """The factor code to name a parameter by in a command (3012's PolId), in the station's edition."""
        codes = [code for code, parameter in self.codes.items() if parameter == parameter_id]
        for code in codes:
            if bool(CODE_2017.match(code)) == edition_2017:
                return code
        return codes[0] if codes else None


def codes_of(parameter_id: str, hj212_code: str | None, table: FactorTable) -> tuple[str, ...]:
    """The factor codes a parameter is sent under: the plan's code (and its other-version twin from the table),
    else the table's codes for the parameter id; none for a parameter neither knows."""
    if hj212_code is not None:
        known = table.by_code.get(hj212_code)
        return known.codes if known else (hj212_code,)
    known = table.by_parameter.get(parameter_id)
    return known.codes if known else ()


def station_links(plan: Plan, table: FactorTable) -> dict[str, StationLink]:
    """The plan's HJ 212 stations by MN."""
    links = {}
    for station_id, station in plan.stations.items():
        if station.hj212 is None:
            continue
        codes = {code: parameter_id for parameter_id, parameter in station.parameters.items()
                 for code in codes_of(parameter_id, parameter.hj212_code, table)}
        links[station.hj212.mn] = StationLink(
            station_id, station.hj212.mn, station.hj212.password_env, frozenset(station.hj212.readings_from), codes,
            {pid: p.unit for pid, p in station.parameters.items()}, station.source)
    return links


def check_hj212(plan: Plan, table: FactorTable) -> list[Problem]:
    problems: list[Problem] = []
    seen_mn: dict[str, str] = {}
    for station_id, station in plan.stations.items():
        if station.hj212 is None:
            continue
        base = ("stations", station_id, "hj212")
        mn = station.hj212.mn
        if mn in seen_mn:
            problems.append(Problem(base + ("mn",), f"MN {mn} is also station {seen_mn[mn]}'s"))
        seen_mn.setdefault(mn, station_id)
        claimed: dict[str, str] = {}
        for parameter_id, parameter in station.parameters.items():
            for code in codes_of(parameter_id, parameter.hj212_code, table):
                if code in claimed:
                    problems.append(Problem(("stations", station_id, "parameters", parameter_id, "hj212_code"),
                                            f"factor code {code} is already parameter {claimed[code]}'s"))
                claimed.setdefault(code, parameter_id)
        on_incident = plan.sources[station.source].hj212_on_incident if station.source in plan.sources else None
        if on_incident is not None and station.hj212.rtd_interval_seconds is None:
            problems.append(Problem(base + ("rtd_interval_seconds",),
                                    f"needed to restore the real-time interval after an incident: source "
                                    f"{station.source} sets hj212_on_incident"))
    return problems


@dataclass(frozen=True)
class OpenIncident:
    incident_id: str
    parameter_id: str = ""   # what was measured out of limits; empty for reports and silences


@dataclass(frozen=True)
class SampleOrder:
    incident_id: str
    parameter_id: str        # the analyser to sample for (3012's PolId): the incident's, else the station's first


@dataclass(frozen=True)
class StationOrders:
    """What the gateway should have asked of one station, given the incidents open now."""

    station_id: str
    rtd_interval_seconds: int | None         # the real-time interval it should report at; None: no wish
    because_of: str | None = None            # the incident (id) that shortens it; None: the normal interval
    samples: tuple[SampleOrder, ...] = ()    # one sample per open incident, from stations that can take one


def station_orders(plan: Plan, open_incidents: dict[str, list[OpenIncident]]) -> dict[str, StationOrders]:
    """Orders for every HJ 212 station at a source whose plan sets `hj212_on_incident`. `open_incidents`: source
    id -> its open incidents, oldest first (drill incidents never reach real stations: leave them out)."""
    orders = {}
    for station_id, station in plan.stations.items():
        on_incident = plan.sources[station.source].hj212_on_incident
        if station.hj212 is None or on_incident is None:
            continue
        incidents = open_incidents.get(station.source, [])
        if not incidents:
            orders[station_id] = StationOrders(station_id, station.hj212.rtd_interval_seconds)
            continue
        samples: tuple[SampleOrder, ...] = ()
        if on_incident.sample and station.hj212.can_sample:
            first = next(iter(station.parameters))
            samples = tuple(SampleOrder(i.incident_id, i.parameter_id if i.parameter_id in station.parameters
                                        else first) for i in incidents)
        orders[station_id] = StationOrders(station_id, on_incident.rtd_interval_seconds, incidents[0].incident_id,
                                           samples)
    return orders
