"""The gateway's sink on Kafka: an idempotent aiokafka producer with acks=all, so `accept` returns only once
every in-sync replica holds the raw packet and its reading.

Packets accepted within one short window are shipped together, one record batch per partition
(`create_batch`/`send_batch`): aiokafka's `send` costs about 26 µs of CPU a record (a future, the partitioner, the
accumulator), a batch about 2 µs (bench/hj212_gateway.py), and a station waits for its answer anyway."""
from __future__ import annotations

import asyncio
import dataclasses

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from schemas import DeadLetter, StationExchange, StationPacket, StationReport, encode
from schemas.topics import DLQ, HJ212_RAW, READINGS, STATION_EXCHANGES, TopicNames

Record = tuple[bytes, bytes]  # (key, value)


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


@dataclasses.dataclass
class _Window:
    """Records accepted since the last shipment, and the packets waiting for them."""
    records: dict[str, list[tuple[bytes, bytes]]] = dataclasses.field(default_factory=dict)  # topic -> (key, value)
    waiters: list[asyncio.Future[None]] = dataclasses.field(default_factory=list)
    deadline: asyncio.TimerHandle | None = None

    def settle(self, failure: BaseException | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        for waiter in self.waiters:
            if waiter.done():
                continue  # its connection went away, or the deadline passed
            if failure is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(failure)


class KafkaPacketSink:
    def __init__(self, bootstrap: str, names: TopicNames, ack_timeout_seconds: float = 10.0,
                 window_seconds: float = 0.005) -> None:
        self._names = names
        self._raw_topic, self._readings_topic = names.of(HJ212_RAW), names.of(READINGS)
        self._partitioner = RememberingPartitioner()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, client_id="ers-hj212-gateway", acks="all", enable_idempotence=True,
            partitioner=self._partitioner, linger_ms=10, request_timeout_ms=int(ack_timeout_seconds * 1000),
            retry_backoff_ms=200, max_batch_size=512 * 1024)
        self._timeout = ack_timeout_seconds
        # A station waits for its answer anyway (30 s between packets as a rule): a few ms more per packet buys
        # batches that cost the broker a third less CPU a record than one-record batches.
        self._window_seconds = window_seconds
        self._window: _Window | None = None
        self._filled = asyncio.Event()
        self._shipper: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._producer.start()
        self._shipper = asyncio.get_running_loop().create_task(self._ship_forever())

    async def stop(self) -> None:
        if self._shipper is not None:
            self._shipper.cancel()
            await asyncio.gather(self._shipper, return_exceptions=True)
        if self._window is not None:
            self._window.settle(ConnectionError("the gateway is stopping"))
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self._producer.stop()

    async def accept(self, packet: StationPacket, report: StationReport | None) -> None:
        """`accept_records` for the models."""
        await self.accept_records((packet.mn.encode(), encode(packet)),
                                  None if report is None else (report.station_id.encode(), encode(report)))

    async def accept_records(self, raw: Record, reading: Record | None) -> None:
        """Returns once the broker holds both records, (key, value) of the raw packet and of its reading; raises
        when it did not take them within the ack timeout, so the caller does not answer and the station resends."""
        loop = asyncio.get_running_loop()
        window = self._window
        if window is None:
            window = self._window = _Window()
            # Our own timer: with idempotence aiokafka retries a batch until the broker takes it, so without one
            # a connection would wait for a broker that is down instead of reading the station's resent packets.
            window.deadline = loop.call_later(self._timeout, window.settle, TimeoutError(
                f"the broker did not acknowledge within {self._timeout:g} s"))
            self._filled.set()
        records = window.records
        raws = records.get(self._raw_topic)
        if raws is None:
            raws = records[self._raw_topic] = []
        raws.append(raw)
        if reading is not None:
            readings = records.get(self._readings_topic)
            if readings is None:
                readings = records[self._readings_topic] = []
            readings.append(reading)
        waiter: asyncio.Future[None] = loop.create_future()
        window.waiters.append(waiter)
        await waiter

    async def _ship_forever(self) -> None:
        """One shipper, so batches of a partition queue in order behind the one the producer is sending, and the
        records accepted meanwhile make the next window."""
        while True:
            await self._filled.wait()
            await asyncio.sleep(self._window_seconds)
            window, self._window = self._window, None
            self._filled.clear()
            if window is None:
                continue
            try:
                delivered = [await self._producer.send_batch(batch, topic, partition=partition)
                             for topic, records in window.records.items()
                             for partition, batch in await self._batches(topic, records)]
            except Exception as exc:
                window.settle(exc)
                continue
            task = asyncio.get_running_loop().create_task(self._await_delivery(window, delivered))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    @staticmethod
    async def _await_delivery(window: _Window, delivered: list[asyncio.Future[object]]) -> None:
        try:
            for future in delivered:
                await future
        except Exception as exc:
            window.settle(exc)
        else:
            window.settle(None)

    async def _batches(self, topic: str, records: list[tuple[bytes, bytes]]) -> list[tuple[int, object]]:
        """The records as closed batches, in order per partition; a partition whose records overflow one batch
        gets several."""
        cluster = self._producer.client.cluster
        partitions = cluster.partitions_for_topic(topic) or await self._producer.partitions_for(topic)
        every = sorted(partitions)
        available = sorted(cluster.available_partitions_for_topic(topic) or every)
        open_batches: dict[int, object] = {}
        closed: list[tuple[int, object]] = []
        for key, value in records:
            partition = self._partitioner(key, every, available)
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                batch.close()
                closed.append((partition, batch))
                batch = open_batches[partition] = self._producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for partition, batch in open_batches.items():
            batch.close()
            closed.append((partition, batch))
        return closed

    async def refuse(self, letter: DeadLetter) -> None:
        await self._producer.send(self._names.of(DLQ), encode(letter), key=(letter.key or "").encode() or None)

    async def record(self, exchange: StationExchange) -> None:
        await asyncio.wait_for(await self._producer.send(self._names.of(STATION_EXCHANGES), encode(exchange),
                                                         key=exchange.source_id.encode()), self._timeout)
