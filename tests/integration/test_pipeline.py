"""The pipeline end to end on a real broker: readings in, incidents and dead letters out (issue 2)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

from handlers.kafka_admin import record_limits
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


def value_filling(batch_bytes: int, key: bytes) -> int:
    """The size of a value whose record batch, alone, is `batch_bytes` long (the most a topic limit lets in: for
    the broker's default, 12 bytes more than aiokafka's default fetch size)."""
    probe = 1_000_000  # as many varint bytes as the answer
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=2 * probe)
    builder.append(0, timestamp=0, key=key, value=b"\0" * probe, headers=[])
    return batch_bytes - (len(builder.build()) - probe)


def test_oversize_values_leave_one_dead_letter_each_and_processing_goes_on(
        broker: str, worker: WorkerProcess, incidents: TopicReader, dlq: TopicReader) -> None:
    """Embedded, these would not fit in a dead letter (base64 grows the first by a third, JSON-escaping the second
    doubles it): each letter has the original's size, SHA-256 and first bytes instead (issue 13)."""
    readings, reports = worker.topic("readings"), worker.topic("reports")
    invalid_utf8 = b"\xff" + bytes(range(256)) * 3515                      # 900 KB
    escaped_quotes = b'"' + b'\\"' * 450_000 + b'"'                        # 900 KB
    near_limit = b"\xfe" * value_filling(record_limits(broker, [readings])[readings], b"hlh_dsk_auto")
    hostile = {
        invalid_utf8: (send(broker, readings, invalid_utf8, key="hlh_dsk_auto", max_request_size=2**21), "rules"),
        escaped_quotes: (send(broker, reports, escaped_quotes, max_request_size=2**21), "reports"),
        near_limit: (send(broker, readings, near_limit, key="hlh_dsk_auto", max_request_size=2**21), "rules"),
    }
    send(broker, readings, reading("hlh_dsk_auto", "ammonia_nitrogen", 1.4), key="hlh_dsk_auto")
    send(broker, reports, b"a report after the big one")

    # Same key, same partition: the valid reading comes after two of them and is still handled (an incident
    # opened, or one upstream updated, when an earlier test opened it).
    incidents.wait_for(lambda rs: any(r.get("rule_id") == "section_nh3_over_iii" and r.get("evidence") and
                                      r["evidence"][0]["station_id"] == "hlh_dsk_auto" for r in rs), timeout=30)
    dlq.wait_for(lambda rs: any(r["payload"] == "a report after the big one" for r in rs), timeout=15)
    sha = {hashlib.sha256(value).hexdigest(): value for value in hostile}
    dlq.wait_for(lambda rs: {r.get("payload_sha256") for r in rs} >= set(sha), timeout=15)
    letters = [r for r in dlq.settle(2) if r.get("payload_sha256") in sha]
    assert sorted(letter["payload_sha256"] for letter in letters) == sorted(sha), "exactly one letter each"
    for letter in letters:
        value = sha[letter["payload_sha256"]]
        written, agent = hostile[value]
        assert (letter["source_topic"], letter["partition"], letter["offset"], letter["agent"]) == (
            written.topic, written.partition, written.offset, agent)
        assert letter["payload_truncated"] and letter["payload_bytes"] == len(value)
        first = (base64.b64decode(letter["payload"]) if letter["payload_encoding"] == "base64"
                 else letter["payload"].encode("utf-8"))
        assert len(first) >= 1024 and value.startswith(first)
        assert letter["error"] == ("(message): Input should be an object" if agent == "reports"
                                   else "(message): Invalid JSON: expected value at line 1 column 1")


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


def test_the_tables_changelogs_close_small_segments_so_a_restart_reads_little(broker: str,
                                                                              worker: WorkerProcess) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    from streams.agents.common import CHANGELOG_CONFIG

    app_id = worker.env["ERS_APP_ID"]
    changelogs = [f"{app_id}-station_state-changelog", f"{app_id}-incident_book-changelog"]
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, [*CHANGELOG_CONFIG,
                                                                                              "cleanup.policy"])
                                            for name in changelogs], config_filter="all")["topic"]
    finally:
        admin.close()
    for name in changelogs:
        assert {key: described[name][key]["value"] for key in CHANGELOG_CONFIG} == CHANGELOG_CONFIG, name
        assert described[name]["cleanup.policy"]["value"] == "compact", name


def test_a_station_state_reaches_its_changelog_where_faust_recovers_it_from(broker: str,
                                                                             worker: WorkerProcess) -> None:
    """The rules stage writes its states in record batches of its own (streams.changelog), not through Faust's
    table: a restarted worker recovers them only if each is in the partition of the station's readings, under the
    key Faust's JSON key serializer writes."""
    import json
    import time

    from kafka import KafkaConsumer, TopicPartition

    from contingency.state import StationState
    from streams.agents.rules import unpack

    event = reading("city_source_auto", "pH", 7.31, unit="dimensionless")
    where = send(broker, worker.topic("readings"), event, key="city_source_auto")
    changelog = TopicPartition(f"{worker.env['ERS_APP_ID']}-station_state-changelog", where.partition)
    consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, consumer_timeout_ms=500)
    consumer.assign([changelog])
    consumer.seek_to_beginning(changelog)
    found = None
    deadline = time.monotonic() + 15
    try:
        while found is None and time.monotonic() < deadline:
            for record in consumer:
                if record.key == json.dumps("city_source_auto").encode():
                    state = StationState.from_bytes(unpack(record.value)[1])
                    if event["event_id"] in state.recent_event_ids:
                        found = state
    finally:
        consumer.close()
    assert found is not None, "no state of city_source_auto holding the reading on its changelog partition"
    assert found.latest["pH"].value == 7.31
