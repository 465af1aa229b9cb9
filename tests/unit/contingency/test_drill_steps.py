"""What a drill run sends and when (contingency.drill_steps)."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from contingency.drill_log import parse_drill_log
from contingency.drill_steps import drill_steps, log_digest, log_stations, step_events
from schemas import ClockTick, Command, StationReport, StationTick

T = "2026-07-22T06:{:02d}:{:02d}+08:00"


def reading(minute: int, second: int = 20, station: str = "hlh_dsk_auto") -> str:
    at = T.format(minute, second)
    return json.dumps({"topic": "readings", "key": station, "at": at, "payload": {
        "type": "station_report", "station_id": station, "observed_at": at,
        "measurements": [{"parameter": "pH", "value": 7.2, "unit": "dimensionless"}]}})


def ack(minute: int, code: str = "@first:halaha_dashankuang") -> str:
    at = T.format(minute, 0)
    return json.dumps({"topic": "commands", "key": "halaha_dashankuang", "at": at, "payload": {
        "type": "command", "action": "ack", "incident_code": code, "actor": "qian_xiaomei",
        "channel": "drill", "issued_at": at, "source_id": "halaha_dashankuang"}})


LINES = [reading(0), reading(2, 0), ack(3), reading(3, 30, "tailings_example_online")]
LOG = parse_drill_log(LINES, "t.jsonl")


def test_clock_steps_every_minute_from_start_to_end_clock_first_at_equal_times() -> None:
    steps = list(drill_steps(LOG))
    described = [(s.at.strftime("%H:%M:%S"), "clock" if s.is_clock else s.entry.topic) for s in steps]
    assert described == [("06:00:20", "readings"), ("06:01:00", "clock"), ("06:02:00", "clock"),
                         ("06:02:00", "readings"), ("06:03:00", "clock"), ("06:03:00", "commands"),
                         ("06:03:30", "readings")]
    assert all(s.at.utcoffset() == dt.timedelta(hours=8) for s in steps)
    half = [s for s in drill_steps(LOG, dt.timedelta(seconds=30)) if s.is_clock]
    assert len(half) == 7  # 06:00:30 ... 06:03:30
    with pytest.raises(ValueError):
        list(drill_steps(LOG, dt.timedelta(0)))


def test_ticks_only_for_stations_of_the_log() -> None:
    assert log_stations(LOG) == ["hlh_dsk_auto", "tailings_example_online"]
    clock_step = next(s for s in drill_steps(LOG) if s.is_clock)
    out = step_events(clock_step, "d1", "abc", log_stations(LOG), {})
    assert [(o.topic.suffix, o.key, type(o.event)) for o in out] == [
        ("ticks", "hlh_dsk_auto", StationTick), ("ticks", "tailings_example_online", StationTick),
        ("clock", "clock", ClockTick)]
    assert all(o.event.drill_id == "d1" and o.at == clock_step.at for o in out)


def test_events_carry_the_drill_id_and_ids_from_the_log_not_the_drill() -> None:
    first = next(s for s in drill_steps(LOG) if not s.is_clock)
    [one] = step_events(first, "drill-1", log_digest(LINES), [], {})
    [two] = step_events(first, "drill-2", log_digest(LINES), [], {})
    assert isinstance(one.event, StationReport) and one.event.drill_id == "drill-1" and two.event.drill_id == "drill-2"
    assert one.event.event_id == two.event.event_id, "two runs of one log give the same ids (and incident codes)"
    [other] = step_events(first, "drill-1", log_digest(LINES + [""]), [], {})
    assert other.event.event_id != one.event.event_id, "another log, other ids"


def test_first_references_resolve_to_the_code_of_the_first_incident() -> None:
    command_step = next(s for s in drill_steps(LOG) if s.entry is not None and s.entry.topic == "commands")
    with pytest.raises(KeyError):
        step_events(command_step, "d1", "abc", [], {})
    [out] = step_events(command_step, "d1", "abc", [], {"halaha_dashankuang": "K7Q"})
    assert isinstance(out.event, Command) and out.event.incident_code == "K7Q" and out.event.drill_id == "d1"


def test_an_empty_log_has_no_steps() -> None:
    assert list(drill_steps(parse_drill_log([], "empty.jsonl"))) == []


def packet_line(minute: int, mn: str = "150000HLHDSK000000000001", station: str = "hlh_dsk_auto") -> str:
    at = T.format(minute, 20)
    return json.dumps({"topic": "hj212-raw", "key": mn, "at": at, "payload": {
        "type": "station_packet", "mn": mn, "station_id": station, "cn": "2011", "version": "2017",
        "packet": "##0010QN=1;CP=&&&&0000", "peer": "10.0.0.7:40001", "received_at": at}})


def made_reading(minute: int, event_id: str) -> StationReport:
    return StationReport.model_validate({
        "event_id": event_id, "station_id": "hlh_dsk_auto", "observed_at": T.format(minute, 0),
        "measurements": [{"parameter": "pH", "value": 6.1, "unit": "dimensionless"}]})


def test_a_packet_goes_to_the_raw_archive_and_its_reading_to_readings_with_the_drill_id() -> None:
    lines = [packet_line(0), packet_line(1), packet_line(2, "150000YRSWWTP00000000001", "yirshi_wwtp_online")]
    log = parse_drill_log(lines, "p.jsonl")
    same = "7c6f7d4e-57a8-5d76-9a8b-1f1a6f1c2b10"
    made = {1: made_reading(0, same), 2: made_reading(0, same)}  # line 2: the station resent line 1's packet
    assert log_stations(log, made) == ["hlh_dsk_auto"], "stations whose packets make readings get ticks"
    steps = [s for s in drill_steps(log) if not s.is_clock]
    first, resent, archived_only = (step_events(s, "d1", log_digest(lines), [], {}, made) for s in steps)
    assert [(o.topic.suffix, o.key) for o in first] == [("hj212-raw", "150000HLHDSK000000000001"),
                                                        ("readings", "hlh_dsk_auto")]
    assert all(o.event.drill_id == "d1" and o.at == steps[0].at for o in first)
    assert first[1].event.observed_at == made[1].observed_at, "the reading keeps the packet's DataTime"
    assert first[1].event.event_id != made[1].event_id, "a drill's ids are not production's"
    assert resent[1].event.event_id == first[1].event.event_id, "a resent packet is the same reading, as live"
    assert first[0].event.event_id != resent[0].event.event_id, "but each packet is archived"
    assert [o.topic.suffix for o in archived_only] == ["hj212-raw"]
    with_none = step_events(steps[0], "d1", log_digest(lines), [], {})
    assert [o.topic.suffix for o in with_none] == ["hj212-raw"]
