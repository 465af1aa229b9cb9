"""Running real `ers worker` processes and reading real topics, for integration tests."""
from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.producer.future import RecordMetadata

import deploy.local.worker_process
from deploy.local.kafka import free_port
from deploy.local.twilio_api import LocalTwilioApi
from schemas.topics import BY_SUFFIX, TopicNames

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PLAN = REPO / "plans" / "arxan.yaml"
DEFAULT_ROSTER = REPO / "plans" / "arxan-roster.yaml"


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


class WorkerProcess(deploy.local.worker_process.WorkerProcess):
    """One `ers worker` in a child process, with its own topic prefix and consumer group."""

    def __init__(self, broker: str, workdir: Path, twilio: LocalTwilioApi, prefix: str | None = None,
                 plan: Path = DEFAULT_PLAN, roster: Path = DEFAULT_ROSTER, env: dict[str, str] | None = None) -> None:
        self.prefix = prefix or f"t{uuid.uuid4().hex[:8]}."
        self.web_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.web_port}"
        super().__init__({
            **os.environ,
            "ERS_BROKER": broker,
            "ERS_TOPIC_PREFIX": self.prefix,
            "ERS_APP_ID": "ers-" + self.prefix.rstrip("."),
            "ERS_PLAN": str(plan),
            "ERS_ROSTER": str(roster),
            "ERS_ROADS": str(REPO / "plans" / "arxan-roads.geojson"),
            "ERS_PUBLIC_URL": self.public_url,
            "ERS_TWILIO_ACCOUNT_SID": twilio.account_sid,
            "ERS_TWILIO_AUTH_TOKEN": twilio.auth_token,
            "ERS_TWILIO_FROM": "+15005550006",
            "ERS_TWILIO_API_BASE": twilio.url,
            "ERS_DATA_DIR": str(workdir / "var"),
            "ERS_DATABASE_URL": f"sqlite:///{workdir / 'ers.db'}",
            "ERS_WEB_PORT": str(self.web_port),
            "ERS_TICK_SECONDS": "1",
            **(env or {}),
        }, workdir)

    def topic(self, suffix: str) -> str:
        return TopicNames(self.prefix, 4).of(BY_SUFFIX[suffix])


def send(broker: str, topic: str, value: bytes | dict[str, Any] | str, key: str | None = None,
         max_request_size: int = 1_048_576) -> RecordMetadata:
    """Where the broker wrote it. `max_request_size`: kafka-python's, raised to send a record near the broker's
    limit."""
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        value = value.encode("utf-8")
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", max_request_size=max_request_size)
    try:
        return producer.send(topic, key=None if key is None else key.encode(), value=value).get(timeout=30)
    finally:
        producer.close()


class TopicReader:
    """Reads every partition of a topic from the beginning, accumulating decoded JSON values."""

    def __init__(self, broker: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, consumer_timeout_ms=200)
        partitions = None
        deadline = time.monotonic() + 30
        while not partitions and time.monotonic() < deadline:
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        if not partitions:
            raise AssertionError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.records: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        for batch in self.consumer.poll(timeout_ms=200).values():
            for record in batch:
                self.records.append(json.loads(record.value))
        return self.records

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.poll()):
                return self.records
        raise AssertionError(f"condition not met within {timeout}s; records: {json.dumps(self.records, ensure_ascii=False)[:3000]}")

    def settle(self, seconds: float) -> list[dict[str, Any]]:
        """Keep reading for a while (to prove nothing more arrives)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
        return self.records

    def close(self) -> None:
        self.consumer.close()
