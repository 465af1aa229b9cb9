"""The gateway's Kafka sink on the real broker: packets accepted together are shipped as record batches, one or
more per partition, and each lands exactly once, in order per key, on the partition every ERS producer picks."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from handlers.hj212.kafka_sink import KafkaPacketSink
from handlers.kafka_admin import ensure_topics
from schemas import StationPacket
from schemas.topics import HJ212_RAW, TopicNames
from tests.integration.harness import wait_until

pytestmark = pytest.mark.timeout(180)

PARTITIONS = 4


def packet(mn: str, sequence: int, size: int) -> StationPacket:
    return StationPacket(mn=mn, station_id=f"s_{mn.lower()}", cn="2011", version="2017",
                         packet=f"{sequence:06d};" + "x" * (size - 7), peer="127.0.0.1:1",
                         received_at=dt.datetime.now(dt.timezone.utc))


def read_all(broker: str, topic: str, count: int) -> list[tuple[int, bytes, dict]]:
    consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, consumer_timeout_ms=200)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    records: list[tuple[int, bytes, dict]] = []

    def poll() -> bool:
        for tp, batch in consumer.poll(timeout_ms=200).items():
            records.extend((tp.partition, r.key, json.loads(r.value)) for r in batch)
        return len(records) >= count

    try:
        wait_until(poll, 30)
        consumer.poll(timeout_ms=500)  # nothing more may come
        return records
    finally:
        consumer.close()


def test_concurrent_packets_overflowing_a_batch_land_once_in_order_on_their_partition(broker: str) -> None:
    names = TopicNames(f"sink{uuid.uuid4().hex[:8]}.", PARTITIONS)
    ensure_topics(broker, names.specs())
    # One busy station sends 700 packets of ~1 kB (more than one 512 kB batch), 200 others one each.
    busy = [packet("BUSY00000001", i, 1000) for i in range(700)]
    others = [packet(f"MN{i:010d}", 0, 200) for i in range(200)]

    async def main() -> None:
        sink = KafkaPacketSink(broker, names)
        await sink.start()
        try:
            async def busy_station() -> None:  # unlike a real logger, it does not wait for each answer
                await asyncio.gather(*(sink.accept(p, None) for p in busy))
            await asyncio.gather(busy_station(), *(sink.accept(p, None) for p in others))
        finally:
            await sink.stop()

    asyncio.run(main())
    records = read_all(broker, names.of(HJ212_RAW), len(busy) + len(others))
    assert len(records) == len(busy) + len(others)
    for partition, key, _ in records:  # Kafka's own rule (the Java client's), as Faust and every ERS producer use
        assert partition == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
    busy_sequence = [int(value["packet"][:6]) for _, key, value in records if key == b"BUSY00000001"]
    assert busy_sequence == list(range(700))
    assert sorted(value["mn"] for _, key, value in records if key != b"BUSY00000001") == sorted(p.mn for p in others)

