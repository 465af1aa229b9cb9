"""Property tests: on any valid report sequence for the Arxan plan's stations the engine never raises,
is deterministic, keeps its state JSON-serialisable, and the incident book accepts whatever it emits."""
from __future__ import annotations

import datetime as dt
import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contingency import IncidentBook, StationState, evaluate, load_plan, on_detection, tick
from contingency_helpers import ARXAN
from schemas.readings import Measurement, QualityFlag, StationReport

PLAN = load_plan(ARXAN)
STATIONS = sorted(PLAN.stations)
START = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)

values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-5, max_value=300, allow_nan=False),
    st.sampled_from([0.0, 1.0, 2.0, 5.0, 6.0, 9.0, 50.0, 150.0, 1000.0, 1002.0]),
)
zones = st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-5))])


@st.composite
def measurements(draw, station_id: str) -> Measurement:
    parameters = PLAN.stations[station_id].parameters
    name = draw(st.one_of(st.sampled_from(sorted(parameters)), st.text(min_size=1, max_size=8)))
    unit = parameters[name].unit if name in parameters and draw(st.booleans()) else draw(
        st.sampled_from(["mg/L", "ug/m3", "m", "mm", "x"]))
    return Measurement(parameter=name, value=draw(values), unit=unit, flag=draw(st.sampled_from(list(QualityFlag))))


@st.composite
def report_sequences(draw) -> tuple[str, list[tuple[StationReport, dt.datetime]]]:
    station_id = draw(st.sampled_from(STATIONS))
    ids = draw(st.lists(st.uuids(), min_size=1, max_size=4))  # few ids: duplicates happen
    sequence = []
    for _ in range(draw(st.integers(min_value=1, max_value=10))):
        observed = START + dt.timedelta(minutes=draw(st.integers(min_value=-600, max_value=6000)))
        report = StationReport(
            event_id=draw(st.one_of(st.sampled_from(ids), st.uuids())), station_id=station_id,
            observed_at=observed.astimezone(draw(zones)),
            measurements=draw(st.lists(measurements(station_id), min_size=1, max_size=5)),
            drill_id=draw(st.sampled_from([None, None, "drill-1"])))
        now = observed + dt.timedelta(minutes=draw(st.integers(min_value=0, max_value=600)))
        sequence.append((report, now))
    return station_id, sequence


def run(station_id: str, sequence: list[tuple[StationReport, dt.datetime]]):
    state: StationState | None = None
    book = IncidentBook()
    out = []
    for report, now in sequence:
        state, detections = evaluate(PLAN, state, report, now)
        state, ticked = tick(PLAN, state, station_id, now + dt.timedelta(hours=3))
        for detection in detections + ticked:
            book, events = on_detection(PLAN, book, detection, now)
            out.append((detection, events))
    return state, book, out


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(report_sequences())
def test_engine_never_raises_and_is_deterministic(case):
    station_id, sequence = case
    first = run(station_id, sequence)
    second = run(station_id, sequence)
    assert first == second


@SETTINGS
@given(report_sequences())
def test_state_and_book_survive_a_restart(case):
    """Stopping after any report and continuing from the JSON state gives the same result as not stopping."""
    station_id, sequence = case
    whole_state, whole_book, whole_out = run(station_id, sequence)
    state: StationState | None = None
    book = IncidentBook()
    out = []
    for report, now in sequence:
        if state is not None:
            state = StationState.from_json(json.loads(json.dumps(state.to_json())))
            book = IncidentBook.from_json(json.loads(json.dumps(book.to_json())))
        state, detections = evaluate(PLAN, state, report, now)
        state, ticked = tick(PLAN, state, station_id, now + dt.timedelta(hours=3))
        for detection in detections + ticked:
            book, events = on_detection(PLAN, book, detection, now)
            out.append((detection, events))
    assert out == whole_out
    assert state == whole_state


@SETTINGS
@given(report_sequences())
def test_replaying_a_seen_report_adds_nothing(case):
    station_id, sequence = case
    state, _, _ = run(station_id, sequence)
    report, now = sequence[-1]
    assert evaluate(PLAN, state, report, now + dt.timedelta(minutes=1)) == (state, [])


@SETTINGS
@given(report_sequences())
def test_every_firing_rule_is_recorded_and_detection_ids_are_unique(case):
    station_id, sequence = case
    state, _, out = run(station_id, sequence)
    detection_ids = [detection.event_id for detection, _ in out]
    assert len(detection_ids) == len(set(detection_ids))
    assert set(state.firing) <= {rule.id for rule in PLAN.rules.values()}
    for detection, _ in out:
        assert detection.source_id == PLAN.stations[station_id].source
        assert isinstance(detection.event_id, uuid.UUID)
