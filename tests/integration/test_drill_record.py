"""`record` against the real broker: produce to a unique prefix, record, parse back (issue 6)."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from handlers.drill_files import read_drill_log, record_topics
from schemas.topics import BY_SUFFIX, COMMANDS, READINGS, TopicNames

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.timezone.utc)


def reading(station: str, minutes: int, value: float) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": "station_report", "schema_version": 1, "station_id": station,
            "observed_at": (T0 + dt.timedelta(minutes=minutes)).isoformat(), "drill_id": None,
            "measurements": [{"parameter": "pH", "value": value, "unit": "dimensionless", "flag": "N"}]}


def command(minutes: int) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": "command", "schema_version": 1, "action": "ack",
            "incident_id": None, "incident_code": "YJA", "source_id": "halaha_dashankuang", "actor": "zhao_lei",
            "channel": "drill", "issued_at": (T0 + dt.timedelta(minutes=minutes)).isoformat(), "note": "",
            "drill_id": None}


def ms(minutes: int) -> int:
    return int((T0 + dt.timedelta(minutes=minutes)).timestamp() * 1000)


@pytest.fixture(scope="module")
def produced(broker: str) -> tuple[str, list[tuple[str, str, int, dict]]]:
    prefix = f"d{uuid.uuid4().hex[:8]}."
    names = TopicNames(prefix, 4)
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        admin.create_topics([NewTopic(names.of(READINGS), 3, 1), NewTopic(names.of(COMMANDS), 1, 1)])
    finally:
        admin.close()
    events = [  # (topic, key, timestamp ms, payload), sent out of order across topics and partitions
        ("readings", "hlh_dsk_auto", ms(0), reading("hlh_dsk_auto", 0, 7.1)),
        ("readings", "city_source_auto", ms(5), reading("city_source_auto", 5, 7.3)),
        ("commands", "halaha_dashankuang", ms(12), command(12)),
        ("readings", "hlh_dsk_auto", ms(10), reading("hlh_dsk_auto", 10, 5.6)),
        ("readings", "yirshi_wwtp_online", ms(20), reading("yirshi_wwtp_online", 20, 6.9)),
    ]
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    try:
        for topic, key, timestamp, payload in events:
            producer.send(names.of(BY_SUFFIX[topic]), key=key.encode(), value=json.dumps(payload).encode(),
                          headers=[("ers-drill", b"t1")], timestamp_ms=timestamp)
        producer.send(names.of(READINGS), key=b"junk", value=b"not json", timestamp_ms=ms(15))
        producer.flush(timeout=30)
    finally:
        producer.close()
    time.sleep(0.5)
    return prefix, events


def test_record_merges_topics_by_timestamp_and_parses_back(broker: str, produced, tmp_path: Path) -> None:
    prefix, events = produced
    out = tmp_path / "recorded.jsonl"
    written = record_topics(broker, TopicNames(prefix, 4), [READINGS, COMMANDS], None, None, out)
    assert written == len(events)  # the garbage record is skipped
    log = read_drill_log(out)
    expected = sorted(events, key=lambda e: e[2])
    assert [(e.topic, e.key, e.payload) for e in log.entries] == [(t, k, p) for t, k, _, p in expected]
    assert [int(e.at.timestamp() * 1000) for e in log.entries] == [e[2] for e in expected]
    assert all(e.headers == {"ers-drill": "t1"} for e in log.entries)


def test_record_since_and_until(broker: str, produced, tmp_path: Path) -> None:
    prefix, events = produced
    out = tmp_path / "window.jsonl"
    since, until = T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=20)
    written = record_topics(broker, TopicNames(prefix, 4), [READINGS, COMMANDS], since, until, out)
    log = read_drill_log(out)
    assert written == 3
    assert [e.at for e in log.entries] == [T0 + dt.timedelta(minutes=m) for m in (5, 10, 12)]


def test_recording_packets_and_readings_leaves_out_the_readings_the_packets_make(broker: str, tmp_path: Path) -> None:
    from contingency.hj212 import station_links
    from contingency.loader import load_plan, load_standards
    from handlers.hj212.frame import encode_frame
    from handlers.hj212.packet import encode_segment
    from handlers.hj212.replay import PacketReplay
    from handlers.hj212.station import Value, upload_packet
    from schemas import encode
    from schemas.stations import StationPacket
    from schemas.topics import HJ212_RAW
    from tests.integration.harness import DEFAULT_PLAN

    mn = "150000HLHDSK000000000001"
    replay = PacketReplay(station_links(load_plan(DEFAULT_PLAN), load_standards().hj212), load_standards().hj212)
    names = TopicNames(f"d{uuid.uuid4().hex[:8]}.", 4)
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        admin.create_topics([NewTopic(names.of(READINGS), 1, 1), NewTopic(names.of(HJ212_RAW), 1, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    try:
        for minute in (0, 5):  # what the gateway sends for each packet: the raw archive and the reading
            at = T0 + dt.timedelta(minutes=minute)
            frame = encode_frame(encode_segment(upload_packet(mn, "pw123456", at, {"w01001": Value(7.1)}, at)))
            packet = StationPacket(mn=mn, station_id="hlh_dsk_auto", cn="2011", version="2017", peer="10.0.0.7:1",
                                   packet=frame.decode("ascii").rstrip("\r\n"), received_at=at)
            made = replay.read(packet)
            assert made is not None
            producer.send(names.of(HJ212_RAW), key=mn.encode(), value=encode(packet), timestamp_ms=ms(minute))
            producer.send(names.of(READINGS), key=b"hlh_dsk_auto", value=encode(made), timestamp_ms=ms(minute))
        # a reading that came another way (JSON on the topic) stays in the log
        producer.send(names.of(READINGS), key=b"hlh_dsk_auto", value=json.dumps(reading("hlh_dsk_auto", 7, 7.0))
                      .encode(), timestamp_ms=ms(7))
        producer.flush(timeout=30)
    finally:
        producer.close()

    both = tmp_path / "both.jsonl"
    assert record_topics(broker, names, [READINGS, HJ212_RAW], None, None, both) == 3
    assert [e.topic for e in read_drill_log(both).entries] == ["hj212-raw", "hj212-raw", "readings"]
    readings_only = tmp_path / "readings.jsonl"
    assert record_topics(broker, names, [READINGS], None, None, readings_only) == 3
