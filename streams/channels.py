"""Faust topic objects for the registry's topics (schemas.topics). Values cross as raw bytes: decoding is ours, so a
bad message becomes a dead letter instead of an exception inside Faust's deserializer."""
from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from schemas.topics import (CLOCK, COMMANDS, DELIVERY, DETECTIONS, DLQ, INCIDENT_STATES, INCIDENTS, INVENTORY,
                            NOTIFICATIONS, READINGS, REPORTS, TICKS, Topic, TopicNames)

DESK_INPUTS: tuple[Topic, ...] = (DETECTIONS, COMMANDS, DELIVERY, CLOCK)


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
    dlq: TopicT

    @classmethod
    def declare(cls, app: faust.App, names: TopicNames) -> "Channels":
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
            dlq=topic(DLQ),
        )
