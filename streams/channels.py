"""Faust topic objects for the registry's topics (schemas.topics). Values cross as raw bytes: decoding is ours, so a
bad message becomes a dead letter instead of an exception inside Faust's deserializer."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TopicT

from schemas.topics import (CLOCK, COMMANDS, DELIVERY, DETECTIONS, DLQ, INCIDENT_STATES, INCIDENTS, INVENTORY,
                            NOTIFICATIONS, READINGS, REPORTS, TICKS, Topic, TopicNames)

DESK_INPUTS: tuple[Topic, ...] = (DETECTIONS, COMMANDS, DELIVERY, CLOCK)
FAUST_FETCH_BYTES = 1024**2  # Faust's default consumer_max_fetch_size


def fetch_bytes(record_limits: Mapping[str, int], names: TopicNames) -> int:
    """The consumer's fetch size per partition: at least the largest record a consumed topic accepts. A record
    larger than the fetch size may come back cut short, and aiokafka then skips it (RecordTooLargeError), leaving
    no dead letter."""
    return max([FAUST_FETCH_BYTES, *(record_limits[name] for name in names.consumed())])


@dataclass(frozen=True)
class DeadLetterTopic:
    """The dead-letter topic and the largest record it takes from us (streams.dead_letters cuts letters to fit)."""
    topic: TopicT
    max_bytes: int

    async def send(self, key: bytes | None, value: bytes) -> Any:
        return await self.topic.send(key=key, value=value)


@dataclass(frozen=True)
class Channels:
    names: TopicNames
    station_input: TopicT  # readings and ticks, co-partitioned, consumed by one agent
    readings: TopicT
    ticks: TopicT
    reports: TopicT
    detections: TopicT
    desk_input: TopicT  # detections, commands, delivery receipts and clock ticks, read by the incident desk
    commands: TopicT
    delivery: TopicT
    clock: TopicT
    incidents: TopicT
    notifications: TopicT
    inventory: TopicT
    incident_states: TopicT
    dlq: DeadLetterTopic

    @classmethod
    def declare(cls, app: faust.App, names: TopicNames, record_limits: Mapping[str, int]) -> "Channels":
        """`record_limits`: each topic's max.message.bytes, as the broker said (handlers.kafka_admin)."""
        def topic(*topics: Topic) -> TopicT:
            return app.topic(
                *(names.of(t) for t in topics),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=names.partitions_of(topics[0]),
                replicas=1,
            )

        return cls(
            names=names,
            station_input=topic(READINGS, TICKS),
            readings=topic(READINGS),
            ticks=topic(TICKS),
            reports=topic(REPORTS),
            detections=topic(DETECTIONS),
            desk_input=topic(*DESK_INPUTS),
            commands=topic(COMMANDS),
            delivery=topic(DELIVERY),
            clock=topic(CLOCK),
            incidents=topic(INCIDENTS),
            notifications=topic(NOTIFICATIONS),
            inventory=topic(INVENTORY),
            incident_states=topic(INCIDENT_STATES),
            dlq=DeadLetterTopic(topic(DLQ), min(record_limits[names.of(DLQ)], app.conf.producer_max_request_size)),
        )
