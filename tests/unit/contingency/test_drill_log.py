"""The drill log format (issue 6): parsing, every kind of error with its line, @first: references, the shipped
scenarios."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from contingency import Plan
from contingency.drill_log import (
    DrillLogError,
    check_drill_log,
    entry_from_json,
    format_entry,
    parse_aware_time,
    parse_drill_log,
)
from schemas import Command, IncidentReport, InventoryMovement, StationReport

DRILLS = Path(__file__).resolve().parents[3] / "drills"
SCENARIOS = ["tailings-seepage.jsonl", "drinking-water-ammonia.jsonl", "diesel-tanker.jsonl", "winter-cadmium.jsonl"]


def reading(at: str = "2026-07-01T08:00:00+08:00", station: str = "hlh_dsk_auto", **line: object) -> dict:
    payload = {"station_id": station, "observed_at": at,
               "measurements": [{"parameter": "pH", "value": 7.2, "unit": "dimensionless"}]}
    return {"topic": "readings", "key": station, "headers": {}, "at": at, "payload": payload, **line}


def command(at: str = "2026-07-01T08:10:00+08:00", code: str = "@first:halaha_dashankuang") -> dict:
    return {"topic": "commands", "key": "halaha_dashankuang", "at": at,
            "payload": {"action": "ack", "incident_code": code, "source_id": "halaha_dashankuang",
                        "actor": "zhao_lei", "channel": "drill", "issued_at": at}}


def report(at: str = "2026-07-01T08:05:00+08:00") -> dict:
    return {"topic": "reports", "key": "unassigned", "at": at,
            "payload": {"reported_at": at, "category": "oil_spill", "location": {"lat": 47.29, "lon": 119.84}}}


def movement(at: str = "2026-07-01T08:20:00+08:00") -> dict:
    return {"topic": "inventory", "key": "yirshi", "at": at,
            "payload": {"kind": "dispatch", "depot_id": "yirshi", "item_id": "oil_boom", "quantity": 300,
                        "unit": "m", "occurred_at": at}}


def lines(*objects: object) -> list[str]:
    return [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objects]


def problems(*objects: object, plan: Plan | None = None) -> list[str]:
    with pytest.raises(DrillLogError) as caught:
        parse_drill_log(lines(*objects), "d.jsonl", plan)
    return [str(problem) for problem in caught.value.problems]


def test_a_good_log_gives_typed_entries_in_order(arxan: Plan) -> None:
    log = parse_drill_log(lines(reading(), "", report(), command(), movement()), "d.jsonl", arxan)
    assert [e.topic for e in log.entries] == ["readings", "reports", "commands", "inventory"]
    assert [e.line for e in log.entries] == [1, 3, 4, 5]  # blank lines are skipped, numbering is the file's
    assert [type(e.event) for e in log.entries] == [StationReport, IncidentReport, Command, InventoryMovement]
    assert log.start.isoformat() == "2026-07-01T08:00:00+08:00"
    assert log.end.isoformat() == "2026-07-01T08:20:00+08:00"
    assert log.entries[0].headers == {}


def test_first_reference_is_accepted_and_resolved() -> None:
    log = parse_drill_log(lines(command()), "d.jsonl")
    entry = log.entries[0]
    assert entry.first_of == "halaha_dashankuang"
    assert log.first_sources == {"halaha_dashankuang"}
    resolved = entry.resolve({"halaha_dashankuang": "YJA"})
    assert isinstance(resolved, Command) and resolved.incident_code == "YJA"
    with pytest.raises(KeyError):
        entry.resolve({})


def test_a_plain_code_is_not_a_reference() -> None:
    entry = parse_drill_log(lines(command(code="YJA")), "d.jsonl").entries[0]
    assert entry.first_of is None
    assert entry.resolve({}).incident_code == "YJA"


def test_bad_references() -> None:
    assert problems(command(code="@last:halaha_dashankuang")) == [
        "d.jsonl:1: payload.incident_code: '@last:halaha_dashankuang': a reference is written @first:<source_id>"]
    other = command(code="@first:tailings_example")
    assert problems(other) == ["d.jsonl:1: payload.incident_code: '@first:tailings_example' names another source "
                               "than source_id 'halaha_dashankuang'"]


def test_not_json_and_not_an_object() -> None:
    found = problems(reading(), "{oops", "[1, 2]")
    assert found[0].startswith("d.jsonl:2: (line): not JSON")
    assert found[1] == "d.jsonl:3: (line): a line is a JSON object with topic, key, headers, at, payload"


def test_missing_and_unknown_fields() -> None:
    line = reading()
    del line["payload"]
    line["value"] = {}
    assert problems(line) == ["d.jsonl:1: value: unknown field", "d.jsonl:1: payload: missing"]


def test_unknown_topic_and_prefixed_topic() -> None:
    assert problems(reading(topic="ers.readings")) == [
        "d.jsonl:1: topic: unknown topic 'ers.readings': one of readings, reports, commands, inventory, hj212-raw "
        "(a suffix, without prefix)"]


def test_time_without_offset_and_decreasing_times() -> None:
    assert problems(reading(at="2026-07-01T08:00:00")) == [
        "d.jsonl:1: at: '2026-07-01T08:00:00' is not an ISO time with an offset",
        "d.jsonl:1: payload.observed_at: Input should have timezone info"]
    found = problems(reading(at="2026-07-01T08:10:00+08:00"), reading(at="2026-07-01T08:05:00+08:00"))
    assert found == ["d.jsonl:2: at: 2026-07-01T08:05:00+08:00 is before 2026-07-01T08:10:00+08:00 of line 1: "
                     "times must not decrease"]


def test_observed_after_at() -> None:
    line = reading()
    line["payload"]["observed_at"] = "2026-07-01T08:01:00+08:00"
    assert problems(line) == ["d.jsonl:1: payload.observed_at: 2026-07-01T08:01:00+08:00 is after the line's at "
                              "2026-07-01T08:00:00+08:00"]


def test_payload_against_its_schema() -> None:
    line = reading()
    line["payload"]["measurements"][0]["value"] = "high"
    line["payload"]["colour"] = "red"
    found = problems(line)
    assert "d.jsonl:1: payload.measurements.0.value: Input should be a valid number, not a string ('high': numbers " \
           "are written without quotes)" in found
    assert "d.jsonl:1: payload.colour: Extra inputs are not permitted" in found
    bare = command(code="YJA")
    del bare["payload"]["incident_code"]
    assert problems(bare) == ["d.jsonl:1: payload: Value error, a command names incident_id or incident_code"]


def test_key_must_be_the_payloads_key() -> None:
    assert problems(reading(key="city_source_auto")) == [
        "d.jsonl:1: key: 'city_source_auto' but the payload's key is 'hlh_dsk_auto'"]
    wrong = report()
    wrong["key"] = "halaha_dashankuang"
    assert problems(wrong) == ["d.jsonl:1: key: 'halaha_dashankuang' but the payload's key is 'unassigned'"]


def test_duplicate_event_ids() -> None:
    first, second = reading(), reading(at="2026-07-01T08:05:00+08:00")
    first["payload"]["event_id"] = second["payload"]["event_id"] = "6f1c2a52-1111-4a4a-8888-000000000001"
    assert problems(first, second) == ["d.jsonl:2: payload.event_id: 6f1c2a52-1111-4a4a-8888-000000000001 is already "
                                       "used on line 1"]


def test_against_the_plan(arxan: Plan) -> None:
    assert problems(reading(station="nowhere_auto"), plan=arxan) == [
        "d.jsonl:1: payload.station_id: unknown station 'nowhere_auto' (not in plan arxan)"]
    line = reading()
    line["payload"]["measurements"] = [{"parameter": "uranium", "value": 0.01, "unit": "mg/L"},
                                       {"parameter": "pH", "value": 7, "unit": "pH"}]
    assert problems(line, plan=arxan) == [
        "d.jsonl:1: payload.measurements.0.parameter: station hlh_dsk_auto has no parameter 'uranium'",
        "d.jsonl:1: payload.measurements.1.unit: 'pH' but the plan gives pH in 'dimensionless'"]
    unknown = command(code="@first:nowhere")
    unknown["key"] = unknown["payload"]["source_id"] = "nowhere"
    assert problems(unknown, plan=arxan) == ["d.jsonl:1: payload.source_id: unknown source 'nowhere'",
                                             "d.jsonl:1: payload.incident_code: @first: names unknown source 'nowhere'"]
    wrong = movement()
    wrong["payload"]["unit"] = "km"
    assert problems(wrong, plan=arxan) == ["d.jsonl:1: payload.unit: 'km' but the plan counts oil_boom in 'm'"]
    # without a plan the same lines are fine
    assert parse_drill_log(lines(reading(station="nowhere_auto")), "d.jsonl").entries


def packet(station: str = "hlh_dsk_auto", mn: str = "150000HLHDSK000000000001",
           at: str = "2026-07-01T08:00:20+08:00") -> dict:
    return {"topic": "hj212-raw", "key": mn, "at": at,
            "payload": {"mn": mn, "station_id": station, "cn": "2011", "version": "2017", "peer": "10.0.0.7:40001",
                        "packet": "##0010QN=1;CP=&&&&0000", "received_at": at}}


def test_hj212_packets_against_the_plan(arxan: Plan) -> None:
    assert parse_drill_log(lines(packet()), "d.jsonl", arxan).entries[0].topic == "hj212-raw"
    assert problems({**packet(), "key": "x"}) == [
        "d.jsonl:1: key: 'x' but the payload's key is '150000HLHDSK000000000001'"]
    assert problems(packet(station="nowhere_auto"), plan=arxan) == [
        "d.jsonl:1: payload.station_id: unknown station 'nowhere_auto' (not in plan arxan)"]
    assert problems(packet(station="tailings_example_online"), plan=arxan) == [
        "d.jsonl:1: payload.station_id: station tailings_example_online has no hj212 identity in plan arxan"]
    assert problems(packet(mn="150000ARXSY0000000000001"), plan=arxan) == [
        "d.jsonl:1: payload.mn: '150000ARXSY0000000000001' but plan arxan gives station hlh_dsk_auto MN "
        "'150000HLHDSK000000000001'"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    found = problems("nope", reading(key="x"), reading(at="2026-07-01T07:00:00+08:00"))
    assert [p.split(": ")[0] for p in found] == ["d.jsonl:1", "d.jsonl:2", "d.jsonl:3"]
    assert found[2].startswith("d.jsonl:3: at: 2026-07-01T07:00:00+08:00 is before")


def test_format_entry_round_trips() -> None:
    entry = parse_drill_log(lines(command()), "d.jsonl").entries[0]
    again, found = entry_from_json(json.loads(format_entry(entry)))
    assert found == [] and again == entry


def test_check_drill_log_reads_a_file(tmp_path: Path, arxan: Plan) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines(reading(), reading(station="x_auto"))) + "\n", encoding="utf-8")
    assert [str(p) for p in check_drill_log(path, arxan)] == [
        f"{path}:2: payload.station_id: unknown station 'x_auto' (not in plan arxan)"]
    assert check_drill_log(path) == []
    assert "cannot read" in str(check_drill_log(tmp_path / "missing.jsonl")[0])


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenarios_validate_against_the_arxan_plan(name: str, arxan: Plan) -> None:
    assert [str(p) for p in check_drill_log(DRILLS / name, arxan)] == []
    log = parse_drill_log((DRILLS / name).read_text(encoding="utf-8").splitlines(), name, arxan)
    commands = [e for e in log.entries if e.topic == "commands"]
    assert commands and all(e.first_of for e in commands)
    assert all(e.event.channel == "drill" for e in commands)
    assert (log.end - log.start).total_seconds() >= 2.5 * 3600


def test_parse_aware_time() -> None:
    assert parse_aware_time("2026-07-22T06:00+08:00").utcoffset().total_seconds() == 8 * 3600
    assert parse_aware_time("2026-07-22T06:00") is None
    assert parse_aware_time("yesterday") is None
