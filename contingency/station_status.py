"""A monitoring station's state for the console's map, from what the console already follows: the roster's
maintenance windows (校准/维护) and the open incidents of the read model (a station_silence incident: silent; a
flatline incident, a stuck analyser: fault).

An incident's state names the stations its evidence came from; a state published before it did (no stations) marks
every station of its source the rule applies to. The worker's own per-station state (last heard, in its Faust
table) is not read here.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from contingency.plan import Plan
from contingency.roster import Roster, under_maintenance
from schemas.incident_states import IncidentState

StationStatus = Literal["normal", "silent", "fault", "calibrating"]
_BY_KIND: dict[str, StationStatus] = {"station_silence": "silent", "flatline": "fault"}
_RANK: dict[StationStatus, int] = {"normal": 0, "fault": 1, "silent": 2, "calibrating": 3}


def station_statuses(plan: Plan, roster: Roster, open_incidents: Iterable[IncidentState],
                     now: dt.datetime) -> dict[str, StationStatus]:
    """Every station of the plan -> its state now. A maintenance window explains a silence, so it wins; a station
    both silent and stuck is silent."""
    out: dict[str, StationStatus] = {station_id: "normal" for station_id in plan.stations}
    for state in open_incidents:
        rule = plan.rules.get(state.rule_id)
        status = _BY_KIND.get(rule.kind if rule is not None else state.kind)
        if status is None:
            continue
        for station_id, station in plan.stations.items():
            if state.stations:
                if station_id not in state.stations:
                    continue
            elif station.source != state.source_id or (rule is not None and rule.stations
                                                        and station_id not in rule.stations):
                continue
            if _RANK[status] > _RANK[out[station_id]]:
                out[station_id] = status
    for station_id in plan.stations:
        if under_maintenance(roster, station_id, now) is not None:
            out[station_id] = "calibrating"
    return out
