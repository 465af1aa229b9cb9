"""Sustained exceedance, rate of change, station silence, flatline; duplicates and out-of-order reports."""
from __future__ import annotations

from contingency import StationState, evaluate, tick
from contingency_helpers import T0, hours, minutes, report
from schemas.readings import QualityFlag

SECTION = "hlh_dsk_auto"
TAILINGS = "tailings_example_online"
AIR = "city_air_auto"


def feed(plan, station, series, state=None, step=hours(4), start=T0, unit="mg/L", parameter="ammonia_nitrogen"):
    """Evaluate a series of values one step apart; returns the state and (index, rule, status) of detections."""
    seen = []
    for i, value in enumerate(series):
        at = start + step * i
        state, detections = evaluate(plan, state, report(station, at, (parameter, value, unit)), at)
        seen += [(i, d.rule_id, d.status) for d in detections]
    return state, seen


def only(seen, rule):
    return [(i, status) for i, r, status in seen if r == rule]


# --- sustained: k of the last n ---

def test_sustained_fires_at_k_of_n_and_clears_below(arxan):
    # section_nh3_sustained: 3 of the last 4 above 1.0
    _, seen = feed(arxan, SECTION, [1.1, 0.9, 1.1, 1.0, 1.1, 1.1, 0.5, 0.5])
    assert only(seen, "section_nh3_sustained") == [(5, "firing"), (6, "cleared")]


def test_sustained_counts_the_limit_inclusively(arxan):
    _, seen = feed(arxan, SECTION, [1.0, 1.0, 1.0, 1.0])
    assert only(seen, "section_nh3_sustained") == []


def test_sustained_skips_flagged_readings(arxan):
    state = None
    for i, flag in enumerate([QualityFlag.NORMAL, QualityFlag.CALIBRATION, QualityFlag.NORMAL, QualityFlag.NORMAL]):
        at = T0 + hours(4 * i)
        value = 1.2 if flag == QualityFlag.NORMAL else 5.0
        state, detections = evaluate(arxan, state, report(SECTION, at, ("ammonia_nitrogen", value, "mg/L", flag)), at)
    assert "section_nh3_sustained" in state.firing  # three normal readings above the limit
    assert [r.value for r in state.history["ammonia_nitrogen"]] == [1.2, 1.2, 1.2]


def test_air_day_of_heavy_pollution(arxan):
    series = [160.0] * 17 + [100.0] * 6 + [160.0]
    _, seen = feed(arxan, AIR, series, step=hours(1), unit="ug/m3", parameter="pm25")
    assert only(seen, "air_pm25_heavy_day") == [(23, "firing")]


# --- rate of change ---

def test_rise_within_the_window_fires(arxan):
    _, seen = feed(arxan, SECTION, [0.2, 0.4, 0.71])  # rise 0.51 within 8 h
    assert only(seen, "section_nh3_jump") == [(2, "firing")]


def test_rise_exactly_at_the_limit_does_not_fire(arxan):
    _, seen = feed(arxan, SECTION, [0.25, 0.75])
    assert only(seen, "section_nh3_jump") == []


def test_rise_spread_beyond_the_window_does_not_fire(arxan):
    _, seen = feed(arxan, SECTION, [0.2, 0.45, 0.7], step=hours(4.5))  # 0.2 is 9 h before 0.7
    assert only(seen, "section_nh3_jump") == []


def test_rate_clears_when_the_rise_leaves_the_window(arxan):
    # 24 h window: at 36 h the reading of 12 h (10 mm) is still inside it; at 48 h it is not
    _, seen = feed(arxan, TAILINGS, [10, 10, 21, 21, 21], step=hours(12), unit="mm", parameter="dam_displacement")
    assert only(seen, "tailings_displacement_rate") == [(2, "firing"), (4, "cleared")]


# --- station silence (tick) ---

def test_silence_fires_once_after_the_timeout(arxan):
    state, _ = evaluate(arxan, None, report(TAILINGS, T0, ("rainfall_24h", 1.0, "mm")), T0)
    assert tick(arxan, state, TAILINGS, T0 + minutes(120)) == (state, [])  # exactly at the limit: not yet
    state2, detections = tick(arxan, state, TAILINGS, T0 + minutes(121))
    assert [(d.rule_id, d.family, d.level, d.status) for d in detections] == [
        ("tailings_station_silent", "station_silence", "yellow", "firing")]
    assert detections[0].observed_at == T0 + minutes(120)
    # later ticks say nothing more, and a tick at another time gives the identical detection
    assert tick(arxan, state2, TAILINGS, T0 + minutes(300)) == (state2, [])
    assert tick(arxan, state, TAILINGS, T0 + minutes(500))[1] == detections


def test_station_coming_back_clears_silence(arxan):
    state, _ = evaluate(arxan, None, report(TAILINGS, T0, ("rainfall_24h", 1.0, "mm")), T0)
    state, _ = tick(arxan, state, TAILINGS, T0 + hours(3))
    back = T0 + hours(5)
    state, detections = evaluate(arxan, state, report(TAILINGS, back, ("rainfall_24h", 60.0, "mm")), back)
    assert [(d.rule_id, d.status) for d in detections] == [("tailings_rainstorm", "firing"),
                                                          ("tailings_station_silent", "cleared")]
    cleared = detections[1]
    assert cleared.evidence[0].value == 300.0 and cleared.evidence[0].unit == "min"
    assert "tailings_station_silent" not in state.firing
    # and it can go silent again, counted from its return
    assert tick(arxan, state, TAILINGS, back + minutes(119))[1] == []
    assert tick(arxan, state, TAILINGS, back + minutes(121))[1][0].observed_at == back + minutes(120)


def test_never_heard_station_goes_silent_from_watch_start(arxan):
    state = StationState.initial(AIR, T0)
    _, detections = tick(arxan, state, AIR, T0 + hours(4))
    assert [d.rule_id for d in detections] == ["air_station_silent"]
    assert detections[0].caused_by is None


def test_flagged_report_still_counts_as_heard(arxan):
    flagged = report(TAILINGS, T0 + hours(1), ("rainfall_24h", 1.0, "mm", QualityFlag.MAINTENANCE))
    state, _ = evaluate(arxan, None, report(TAILINGS, T0, ("rainfall_24h", 1.0, "mm")), T0)
    state, _ = evaluate(arxan, state, flagged, T0 + hours(1))
    assert tick(arxan, state, TAILINGS, T0 + hours(2.5))[1] == []


# --- flatline ---

def test_flatline_fires_after_the_stuck_time_with_enough_readings(arxan):
    # section_nh3_stuck: 1440 min, min_readings 6, tolerance 0
    _, seen = feed(arxan, SECTION, [0.3] * 7 + [0.31])
    assert only(seen, "section_nh3_stuck") == [(6, "firing"), (7, "cleared")]


def test_flatline_tolerance(arxan):
    # tailings_phreatic_stuck: tolerance 0.001 m over 1440 min (min_readings 3)
    values = [6.0, 6.0005, 6.001, 6.0, 6.0008]
    _, seen = feed(arxan, TAILINGS, values, step=hours(8), unit="m", parameter="phreatic_depth")
    assert only(seen, "tailings_phreatic_stuck") == [(3, "firing")]
    _, seen = feed(arxan, TAILINGS, [6.0, 6.0, 6.002, 6.002, 6.002], step=hours(8), unit="m",
                   parameter="phreatic_depth")
    assert only(seen, "tailings_phreatic_stuck") == []


# --- duplicates and order ---

def test_duplicate_event_id_or_observation_time_gives_nothing(arxan):
    first = report(SECTION, T0, ("ammonia_nitrogen", 1.5, "mg/L"))
    state, detections = evaluate(arxan, None, first, T0)
    assert detections
    assert evaluate(arxan, state, first, T0 + minutes(5)) == (state, [])
    same_time = report(SECTION, T0, ("ammonia_nitrogen", 0.1, "mg/L"), event=2)
    assert same_time.event_id != first.event_id
    assert evaluate(arxan, state, same_time, T0 + minutes(5)) == (state, [])


def test_late_report_can_fire_but_not_clear(arxan):
    state, _ = evaluate(arxan, None, report(SECTION, T0 + hours(8), ("ammonia_nitrogen", 1.5, "mg/L")), T0)
    late_ok = report(SECTION, T0 + hours(4), ("ammonia_nitrogen", 0.2, "mg/L"))
    state, detections = evaluate(arxan, state, late_ok, T0 + hours(9))
    assert detections == [] and "section_nh3_over_iii" in state.firing

    state, _ = evaluate(arxan, None, report(SECTION, T0 + hours(8), ("ammonia_nitrogen", 0.2, "mg/L")), T0)
    late_bad = report(SECTION, T0 + hours(4), ("ammonia_nitrogen", 1.5, "mg/L"))
    state, detections = evaluate(arxan, state, late_bad, T0 + hours(9))
    assert [(d.rule_id, d.observed_at) for d in detections] == [("section_nh3_over_iii", T0 + hours(4))]
    assert state.latest["ammonia_nitrogen"].at == T0 + hours(8)
    assert [r.at for r in state.history["ammonia_nitrogen"]] == [T0 + hours(4), T0 + hours(8)]


def test_state_round_trips_through_json(arxan):
    state, _ = feed(arxan, SECTION, [1.2, 1.3, 0.3, 0.3])
    state, _ = tick(arxan, state, SECTION, T0 + hours(40))
    data = state.to_json()
    import json
    assert StationState.from_json(json.loads(json.dumps(data))) == state
