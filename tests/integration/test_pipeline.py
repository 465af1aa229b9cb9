"""The pipeline end to end on a real broker: readings in, incidents and dead letters out (issue 2)."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration


def now_iso(offset_minutes: float = 0) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=offset_minutes)).isoformat()


def reading(station: str, parameter: str, value: float, unit: str = "mg/L", **extra: object) -> dict:
    return {"event_id": str(uuid.uuid4()), "station_id": station, "observed_at": now_iso(),
            "measurements": [{"parameter": parameter, "value": value, "unit": unit}], **extra}


@pytest.fixture(scope="module")
def worker(broker: str, twilio_api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), twilio_api).start()
    yield process
    process.stop()


@pytest.fixture
def incidents(broker: str, worker: WorkerProcess) -> Iterator[TopicReader]:
    reader = TopicReader(broker, worker.topic("incidents"))
    yield reader
    reader.close()


@pytest.fixture
def dlq(broker: str, worker: WorkerProcess) -> Iterator[TopicReader]:
    reader = TopicReader(broker, worker.topic("dlq"))
    yield reader
    reader.close()


def opened_for(records: list[dict], source: str, rule: str) -> list[dict]:
    return [r for r in records if r["type"] == "incident.opened" and r["source_id"] == source and r["rule_id"] == rule]


def test_reading_over_threshold_opens_an_incident_within_10_s(broker: str, worker: WorkerProcess,
                                                               incidents: TopicReader) -> None:
    send(broker, worker.topic("readings"), reading("yirshi_wwtp_online", "cod", 72.0), key="yirshi_wwtp_online")
    records = incidents.wait_for(lambda rs: opened_for(rs, "yirshi_wwtp_outfall", "outfall_cod"), timeout=10)
    opened = opened_for(records, "yirshi_wwtp_outfall", "outfall_cod")[0]
    assert opened["level"] == "blue"
    evidence = opened["evidence"][0]
    assert (evidence["parameter"], evidence["parameter_name"], evidence["value"]) == ("cod", "化学需氧量", 72.0)
    assert len(opened["code"]) == 3


def test_reading_within_limits_opens_nothing(broker: str, worker: WorkerProcess, incidents: TopicReader) -> None:
    send(broker, worker.topic("readings"), reading("city_air_auto", "so2", 20.0, unit="ug/m3"), key="city_air_auto")
    records = incidents.settle(4)
    assert not [r for r in records if r["source_id"] == "arxan_city_air"]


def test_garbage_and_invalid_events_go_to_the_dlq_and_processing_goes_on(
        broker: str, worker: WorkerProcess, incidents: TopicReader, dlq: TopicReader) -> None:
    readings = worker.topic("readings")
    send(broker, readings, b"\x00garbage, not json")
    send(broker, readings, reading("city_source_auto", "ammonia_nitrogen", 0.3, observed_at="yesterday"),
         key="city_source_auto")
    send(broker, readings, reading("no_such_station", "pH", 7.0, unit="dimensionless"), key="no_such_station")
    send(broker, readings, reading("city_source_auto", "ammonia_nitrogen", 1.4), key="city_source_auto")

    letters = dlq.wait_for(lambda rs: len(rs) >= 3, timeout=15)
    by_error = {letter["error"]: letter for letter in letters}
    garbage = next(letter for letter in letters if "Invalid JSON" in letter["error"])
    assert garbage["source_topic"] == readings and garbage["offset"] >= 0 and garbage["agent"] == "rules"
    assert garbage["payload"] == "\x00garbage, not json"
    assert any("observed_at" in error for error in by_error)
    assert any("unknown station 'no_such_station'" in error for error in by_error)

    incidents.wait_for(lambda rs: opened_for(rs, "arxan_city_drinking_source", "drinking_nh3_over_iii"), timeout=10)


def test_a_reading_without_key_is_rekeyed_and_processed(broker: str, worker: WorkerProcess,
                                                       incidents: TopicReader) -> None:
    send(broker, worker.topic("readings"), reading("tailings_example_online", "seepage_flow", 7.5, unit="L/s"))
    incidents.wait_for(lambda rs: opened_for(rs, "tailings_example", "tailings_seepage"), timeout=10)


def test_the_produce_command_sends_a_file(broker: str, worker: WorkerProcess, dlq: TopicReader,
                                          tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "e.jsonl"
    path.write_text("not json from a file\n")
    env = {**worker.env}
    result = subprocess.run([sys.executable, "-m", "streams.cli", "produce", str(path)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    dlq.wait_for(lambda rs: any(r["payload"] == "not json from a file" for r in rs), timeout=10)


def test_health_answers_ok_for_a_worker_that_keeps_up(worker: WorkerProcess) -> None:
    import requests

    answer = requests.get(worker.public_url + "/health", timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ok" and body["stall_after_seconds"] == 60.0
    assert isinstance(body["seconds_since_last_event"], float)
