"""Topic names and their partition counts, in one place."""
from __future__ import annotations

from dataclasses import dataclass, field

# Drill topics hold records stamped with a log's own times, months old or in the future: keep them and accept them.
ANY_TIME_CONFIG = {
    "retention.ms": "-1",
    "message.timestamp.before.max.ms": str(2**63 - 1),
    "message.timestamp.after.max.ms": str(2**63 - 1),
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topics:
    prefix: str
    partitions: int
    any_time: bool = False  # records carry a drill's virtual times (streams.clocks.RecordClock)

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
        layout = [(self.readings, keyed), (self.ticks, keyed), (self.reports, 1), (self.detections, 1),
                  (self.commands, 1), (self.delivery, 1), (self.clock, 1), (self.incidents, keyed),
                  (self.notifications, keyed), (self.inventory, keyed), (self.dlq, 1)]
        config = ANY_TIME_CONFIG if self.any_time else {}
        return [TopicSpec(name, partitions, dict(config)) for name, partitions in layout]

    def consumed(self) -> list[str]:
        """The topics the worker's agents read (a drill waits until the worker has committed all of them)."""
        return [self.readings, self.ticks, self.reports, self.detections, self.commands, self.delivery, self.clock,
                self.notifications, self.inventory]
