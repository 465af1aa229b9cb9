"""The gateway's sink on Kafka: an idempotent aiokafka producer with acks=all, so `accept` returns only once
every in-sync replica holds the raw packet and its reading."""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from schemas import DeadLetter, StationExchange, StationPacket, StationReport, encode
from schemas.topics import DLQ, HJ212_RAW, READINGS, STATION_EXCHANGES, TopicNames


class RememberingPartitioner:
    """Kafka's default partitioner (murmur2 of the key, as every other ERS producer uses), remembered per key: the
    gateway hashes the same few thousand MNs and station ids all day, and murmur2 is pure Python in aiokafka."""

    def __init__(self) -> None:
        self._default = DefaultPartitioner()
        self._known: dict[tuple[bytes, int], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return self._default(key, all_partitions, available)
        remembered = (key, len(all_partitions))
        partition = self._known.get(remembered)
        if partition is None:
            partition = self._known[remembered] = self._default(key, all_partitions, available)
        return partition


class KafkaPacketSink:
    def __init__(self, bootstrap: str, names: TopicNames, ack_timeout_seconds: float = 10.0) -> None:
        self._names = names
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, client_id="ers-hj212-gateway", acks="all", enable_idempotence=True,
            partitioner=RememberingPartitioner(),
            # A station waits for its answer anyway (30 s between packets as a rule): 10 ms more per packet buys
            # batches that cost the broker a third less CPU a record (bench/hj212_gateway.py: 2 ms vs 10 ms).
            linger_ms=10, request_timeout_ms=int(ack_timeout_seconds * 1000), retry_backoff_ms=200,
            # Thousands of stations send at once; with the default 16 kB batch most sends would wait for a
            # batch to drain and all wake at once to retry (measured: six wakeups a record, bench/hj212_gateway.py).
            max_batch_size=512 * 1024)
        self._timeout = ack_timeout_seconds

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def accept(self, packet: StationPacket, report: StationReport | None) -> None:
        # Our own timer: with idempotence aiokafka retries a batch until the broker takes it, so without one a
        # connection would wait for a broker that is down instead of reading the station's resent packets.
        async with asyncio.timeout(self._timeout):
            sends = [await self._producer.send(self._names.of(HJ212_RAW), encode(packet), key=packet.mn.encode())]
            if report is not None:
                sends.append(await self._producer.send(self._names.of(READINGS), encode(report),
                                                       key=report.station_id.encode()))
            for sent in sends:
                await sent

    async def refuse(self, letter: DeadLetter) -> None:
        await self._producer.send(self._names.of(DLQ), encode(letter), key=(letter.key or "").encode() or None)

    async def record(self, exchange: StationExchange) -> None:
        await asyncio.wait_for(await self._producer.send(self._names.of(STATION_EXCHANGES), encode(exchange),
                                                         key=exchange.source_id.encode()), self._timeout)
