"""Small kafka-python helpers: send one event, watch a topic for what comes next, follow topics from the
beginning in a background thread (the read models of web processes and workers)."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

log = logging.getLogger("ers.kafka_io")


def send_event(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="ers-cli", acks="all")
    try:
        producer.send(topic, key=key.encode("utf-8"), value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


class TopicWatch:
    """Positioned at the end of every partition of a topic when made; `find` polls what arrives after."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="ers-cli")
        partitions = self._consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before anything is sent
            self._consumer.position(tp)

    def find(self, predicate: Callable[[dict[str, Any]], bool], timeout: float,
             also: Callable[[], bool] = lambda: False) -> dict[str, Any] | None:
        """The first JSON record matching `predicate`, or None when `also()` turns true or the time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in self._consumer.poll(timeout_ms=300).values():
                for record in batch:
                    try:
                        value = json.loads(record.value)
                    except ValueError:
                        continue
                    if predicate(value):
                        return value
            if also():
                return None
        return None

    def close(self) -> None:
        self._consumer.close()


def drain(consumer: KafkaConsumer, tps: Iterable[TopicPartition], timeout: float) -> Iterator[ConsumerRecord]:
    """The records of `tps` from the consumer's positions up to the end offsets of when this was called
    (or until `timeout` seconds have passed)."""
    tps = list(tps)
    ends = {tp: end for tp, end in consumer.end_offsets(tps).items() if consumer.position(tp) < end}
    deadline = time.monotonic() + timeout
    while ends and time.monotonic() < deadline:
        for tp, batch in consumer.poll(timeout_ms=200).items():
            yield from (record for record in batch if record.offset < ends.get(tp, 0))
        ends = {tp: end for tp, end in ends.items() if consumer.position(tp) < end}


def read_all(bootstrap: str, topic: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Every JSON record of a topic, from the beginning to the end offsets of when this was called."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="ers-cli")
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[dict[str, Any]] = []
        for record in drain(consumer, tps, timeout):
            try:
                records.append(json.loads(record.value))
            except ValueError:
                pass
        return records
    finally:
        consumer.close()


class TopicFollower:
    """Reads every partition of `topics` from the beginning, then follows them, in a daemon thread, handing each
    poll's records to `take`. A consumer with no group: every process holds its own copy. When the broker goes
    away it keeps what it holds and reads again from the beginning (`take` must be idempotent)."""

    def __init__(self, bootstrap: str, topics: tuple[str, ...], client_id: str,
                 take: Callable[[list[ConsumerRecord]], None]) -> None:
        self._bootstrap, self._topics, self._client_id, self._take = bootstrap, topics, client_id, take
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._thread = threading.Thread(target=self._run, name=client_id, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def wait_loaded(self, timeout: float) -> bool:
        """Whether the topics have been read up to where they ended when the follower started."""
        return self._loaded.wait(timeout)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except Exception as exc:  # the broker went away: keep what we hold, read again
                log.warning("%s: %s: %s; reading again in %g s", self._client_id, type(exc).__name__, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _follow(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                 client_id=self._client_id)
        try:
            tps = [TopicPartition(topic, p) for topic in self._topics
                   for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not tps:
                raise LookupError(f"topics {', '.join(self._topics)} have no partitions yet")
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            while not self._stop.is_set():
                batch = [record for records in consumer.poll(timeout_ms=200).values() for record in records]
                if batch:
                    self._take(batch)
                if not self._loaded.is_set() and all(consumer.position(tp) >= end for tp, end in ends.items()):
                    self._loaded.set()
        finally:
            consumer.close()
