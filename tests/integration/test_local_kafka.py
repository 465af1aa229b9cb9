"""The local broker launcher against a real Apache Kafka JVM (needs java and mvn)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from deploy.local.kafka import LocalKafka

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (shutil.which("java") and shutil.which("mvn")), reason="needs java and mvn"),
]


def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, value).get(timeout=30)
    finally:
        producer.close()


def consume_one(bootstrap: str, topic: str, timeout: float = 30.0) -> bytes:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                if records:
                    return bytes(records[0].value)
        raise AssertionError(f"no message on {topic} within {timeout} s")
    finally:
        consumer.close()


@pytest.fixture
def ephemeral_kafka() -> Iterator[LocalKafka]:
    kafka = LocalKafka(ephemeral=True)
    yield kafka
    kafka.stop()


def test_ephemeral_broker_round_trips_a_message(ephemeral_kafka: LocalKafka) -> None:
    kafka = ephemeral_kafka
    before = kafka.status()
    assert not before.running and before.pid is None

    started = kafka.start()
    assert started.running and started.pid is not None
    assert started.bootstrap == kafka.bootstrap != "127.0.0.1:9092"
    assert (kafka.data_dir / "logs" / "server.log").stat().st_size > 0

    produce(kafka.bootstrap, "launcher.smoke", b"hello")
    assert consume_one(kafka.bootstrap, "launcher.smoke") == b"hello"

    kafka.stop()
    after = kafka.status()
    assert not after.running and after.pid is None
    assert not kafka.data_dir.exists()
    kafka.stop()  # idempotent


def test_restart_on_same_data_dir_keeps_topics_and_messages(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka"
    first = LocalKafka(data_dir, port=0, controller_port=0)
    try:
        first.start()
        admin = KafkaAdminClient(bootstrap_servers=first.bootstrap)
        try:
            admin.create_topics({"launcher.durable": {"num_partitions": 1, "replication_factor": 1}})
        finally:
            admin.close()
        produce(first.bootstrap, "launcher.durable", b"kept")

        # A second launcher on the same data dir reports the live broker instead of starting another.
        again = LocalKafka(data_dir, port=0, controller_port=0).start()
        assert again.pid == first.status().pid and again.bootstrap == first.bootstrap

        first.stop()
        assert not first.status().running
        assert not (data_dir / "kafka.pid").exists()
        assert (data_dir / "data" / "meta.properties").exists()

        second = LocalKafka(data_dir, port=0, controller_port=0)
        second.start()
        assert second.status().running
        admin = KafkaAdminClient(bootstrap_servers=second.bootstrap)
        try:
            assert "launcher.durable" in admin.list_topics()
        finally:
            admin.close()
        assert consume_one(second.bootstrap, "launcher.durable") == b"kept"
        second.stop()
        assert not second.status().running
    finally:
        first.stop()
