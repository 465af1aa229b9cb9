"""Faust topic objects for the topic names. Values cross as raw bytes: decoding is ours, so a bad
message becomes a dead letter instead of an exception inside Faust's deserializer."""
from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from streams.topics import Topics


@dataclass(frozen=True)
class Channels:
    names: Topics
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
    dlq: TopicT

    @classmethod
    def declare(cls, app: faust.App, names: Topics) -> "Channels":
        by_name = {spec.name: spec for spec in names.specs()}

        def topic(*topic_names: str) -> TopicT:
            return app.topic(
                *topic_names,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=by_name[topic_names[0]].partitions,
                replicas=1,
            )

        return cls(
            names=names,
            station_input=topic(names.readings, names.ticks),
            readings=topic(names.readings),
            ticks=topic(names.ticks),
            reports=topic(names.reports),
            detections=topic(names.detections),
            desk_input=topic(names.detections, names.commands, names.delivery, names.clock),
            commands=topic(names.commands),
            delivery=topic(names.delivery),
            clock=topic(names.clock),
            incidents=topic(names.incidents),
            notifications=topic(names.notifications),
            inventory=topic(names.inventory),
            dlq=topic(names.dlq),
        )
