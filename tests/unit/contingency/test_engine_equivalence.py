"""The rule engine rewritten for speed (issue 14) decides exactly as the engine before it (frozen in
reference_engine/): on any report sequence of any Arxan station, with ticks between, the same detections (ids,
statuses, levels, evidence) and the same state, JSON included; and a state written by either is read by the other."""
from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contingency import evaluate, tick
from contingency.state import StationState
from reference_engine import engine as reference
from reference_engine.state import StationState as ReferenceState
from schemas.readings import Measurement, QualityFlag, StationReport
from test_engine_properties import PLAN, START, STATIONS, report_sequences


@st.composite
def long_runs(draw) -> tuple[str, list[tuple[StationReport, dt.datetime]]]:
    """Many reports of one station, mostly in order and a few late, values near the plan's limits and repeated:
    sustained, rate-of-change and flatline rules have windows to fill, runs to keep and break."""
    station_id = draw(st.sampled_from(STATIONS))
    parameters = PLAN.stations[station_id].parameters
    names = sorted(parameters)
    # Few distinct values in a run make stuck sensors (flatline); many make rises, falls and exceedances.
    palette = draw(st.lists(st.sampled_from([0.0, 0.4, 0.5, 1.0, 1.2, 2.1, 4.0, 4.4, 5.0, 6.0, 7.5, 9.0, 50.0, 80.0,
                                             150.0, 1500.0]), min_size=1, max_size=16, unique=True))
    at, sequence = START, []
    for _ in range(draw(st.integers(min_value=10, max_value=60))):
        at += dt.timedelta(minutes=draw(st.sampled_from([1, 5, 10, 30, 60, 240])))
        observed = at - dt.timedelta(minutes=draw(st.sampled_from([0, 0, 0, 0, 45, 300])))  # now and then late
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=min(3, len(names)), unique=True))
        measurements = [Measurement(parameter=name, unit=parameters[name].unit,
                                    value=draw(st.sampled_from(palette)),
                                    flag=draw(st.sampled_from([QualityFlag.NORMAL] * 6 + list(QualityFlag))))
                        for name in chosen]
        sequence.append((StationReport(station_id=station_id, observed_at=observed, measurements=measurements), at))
    return station_id, sequence


def _as_json(state: object) -> dict:
    return state.to_json()  # type: ignore[attr-defined]


def _as_msgspec_json(state: StationState) -> bytes:
    """The compact JSON the worker before this one stored (contingency.state version 2)."""
    import msgspec

    from contingency.state import _Stored

    return msgspec.json.encode(_Stored(
        2, state.station_id, state.watch_since, state.last_heard_at, state.latest_observed_at, state.drill_id,
        state.last_report_id, state.recent_event_ids, state.recent_observed, state.history, state.latest, state.runs,
        state.firing))


def _same(ours: StationState, theirs: ReferenceState) -> None:
    """The same state: equal after a round trip through JSON (times compared as instants: the engine keeps them in
    UTC, the one before it in the zone the report gave)."""
    assert StationState.from_json(_as_json(ours)) == StationState.from_json(_as_json(theirs))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(report_sequences(), long_runs()))
def test_the_engine_decides_as_the_engine_before_it(case) -> None:
    station_id, sequence = case
    ours: StationState | None = None
    theirs: ReferenceState | None = None
    for step, (report, now) in enumerate(sequence):
        if ours is not None and step % 5 == 4:  # as a restarted worker reads it: derived windows rebuilt
            ours = StationState.from_bytes(ours.to_bytes()) if step % 2 else StationState.from_json(_as_json(ours))
        ours, got = evaluate(PLAN, ours, report, now)
        theirs, want = reference.evaluate(PLAN, theirs, report, now)
        assert [d.model_dump() for d in got] == [d.model_dump() for d in want]
        _same(ours, theirs)
        later = now + dt.timedelta(hours=3)
        ours, got = tick(PLAN, ours, station_id, later)
        theirs, want = reference.tick(PLAN, theirs, station_id, later)
        assert [d.model_dump() for d in got] == [d.model_dump() for d in want]
        _same(ours, theirs)
        # Each reads the other's state: a worker upgraded mid-stream continues from the changelog (which holds the
        # plain JSON of the engine before, and the compact bytes of this one).
        assert StationState.from_bytes(ours.to_bytes()) == ours
        assert StationState.from_bytes(_as_msgspec_json(ours)) == ours  # as the worker before wrote it (version 2)
        _same(StationState.from_bytes(json.dumps(_as_json(theirs)).encode()), theirs)
        _same(StationState.from_json(_as_json(theirs)), theirs)
        _same(ours, ReferenceState.from_json(_as_json(ours)))
