"""Topic names and their partition counts, in one place."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


@dataclass(frozen=True)
class Topics:
    prefix: str
    partitions: int

    @property
    def readings(self) -> str:
        return self.prefix + "readings"

    @property
    def ticks(self) -> str:
        """Clock ticks per station, co-partitioned with readings, so time-driven rules run in-stream."""
        return self.prefix + "ticks"

    @property
    def clock(self) -> str:
        """County-wide clock ticks for escalation timers, read by the incident desk."""
        return self.prefix + "clock"

    @property
    def reports(self) -> str:
        return self.prefix + "reports"

    @property
    def detections(self) -> str:
        return self.prefix + "detections"

    @property
    def incidents(self) -> str:
        return self.prefix + "incidents"

    @property
    def commands(self) -> str:
        return self.prefix + "commands"

    @property
    def notifications(self) -> str:
        return self.prefix + "notifications"

    @property
    def delivery(self) -> str:
        return self.prefix + "delivery"

    @property
    def inventory(self) -> str:
        return self.prefix + "inventory"

    @property
    def dlq(self) -> str:
        return self.prefix + "dlq"

    def specs(self) -> list[TopicSpec]:
        keyed = self.partitions
        # Incident and paging decisions (dedup, folding downstream into upstream incidents, escalation,
        # acknowledgements, delivery failures) need one ordered view of the county: everything the
        # incident desk reads has a single partition. Rates there are incidents per day, not readings
        # per second.
        return [
            TopicSpec(self.readings, keyed),
            TopicSpec(self.ticks, keyed),
            TopicSpec(self.reports, 1),
            TopicSpec(self.detections, 1),
            TopicSpec(self.commands, 1),
            TopicSpec(self.delivery, 1),
            TopicSpec(self.clock, 1),
            TopicSpec(self.incidents, keyed),
            TopicSpec(self.notifications, keyed),
            TopicSpec(self.inventory, keyed),
            TopicSpec(self.dlq, 1),
        ]
