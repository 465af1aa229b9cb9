"""The topic registry: every topic ERS uses, once, with what crosses it.

Topic names are a deployment's prefix (`ers.`, a test's, a drill's `drill.<id>.`) and a suffix from here;
topic creation, the Faust channels, the JSON Schema/AsyncAPI export, the CLI and the drill recorder all derive
from this table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from schemas.commands import Command
from schemas.dead_letter import DeadLetter
from schemas.detections import Detection
from schemas.incident_states import IncidentState
from schemas.incidents import (IncidentAcknowledged, IncidentEscalated, IncidentNoted, IncidentOpened,
                               IncidentReportFiled, IncidentResolved, IncidentUpdated)
from schemas.inventory import InventoryMovement
from schemas.notifications import DeliveryStatus, Notification
from schemas.readings import StationReport
from schemas.reports import IncidentReport
from schemas.stations import StationExchange, StationPacket
from schemas.ticks import ClockTick, StationTick


@dataclass(frozen=True)
class Topic:
    suffix: str
    events: tuple[type[BaseModel], ...]
    key: str
    description: str
    # True: the configured partition count (per station, person, depot...); False: one partition, because its
    # reader (the incident desk) needs one ordered view of the whole county.
    keyed: bool
    consumed: bool = True       # read by the worker's agents (a drill waits until they are committed)
    time_field: str | None = None  # the events' own time, for topics a drill log may carry
    compacted: bool = False     # the broker keeps the latest record per key: a read model

    @property
    def recordable(self) -> bool:
        """Whether `ers drill record` may record it and a drill log may replay it."""
        return self.time_field is not None


READINGS = Topic("readings", (StationReport,), "station_id", "Measurements from monitoring stations", keyed=True,
                 time_field="observed_at")
TICKS = Topic("ticks", (StationTick,), "station_id", "Clock ticks for time-driven rules, co-partitioned with "
              "readings (internal)", keyed=True)
CLOCK = Topic("clock", (ClockTick,), "'clock'", "County-wide clock ticks for escalation timers (internal)",
              keyed=False)
REPORTS = Topic("reports", (IncidentReport,), "source_id or 'unassigned'", "Field and public incident reports",
                keyed=False, time_field="reported_at")
DETECTIONS = Topic("detections", (Detection,), "source_id", "Rule firings, from the rules agent to the incident "
                   "desk", keyed=False)
INCIDENTS = Topic("incidents", (IncidentOpened, IncidentUpdated, IncidentAcknowledged, IncidentEscalated,
                                IncidentResolved, IncidentReportFiled, IncidentNoted), "source_id", "Incident lifecycle events",
                  keyed=True,
                  consumed=False)
COMMANDS = Topic("commands", (Command,), "source_id", "Acknowledge / resolve / escalate / report / note commands from people",
                 keyed=False, time_field="issued_at")
NOTIFICATIONS = Topic("notifications", (Notification,), "person_id", "Outbox of SMS to send", keyed=True)
DELIVERY = Topic("delivery", (DeliveryStatus,), "'delivery'", "Delivery receipts (sent/failed by the dispatcher, "
                 "delivered/undelivered from Twilio)", keyed=False)
INVENTORY = Topic("inventory", (InventoryMovement,), "depot_id", "Emergency-material ledger movements", keyed=True,
                  time_field="occurred_at")
INCIDENT_STATES = Topic("incident-states", (IncidentState,), "incident_id", "Each incident as it stands after the "
                        "incident desk's latest change to it (the read model; compacted)", keyed=True,
                        consumed=False, compacted=True)
HJ212_RAW = Topic("hj212-raw", (StationPacket,), "mn", "Every packet the HJ 212 gateway accepted, as received (audit; "
                  "a drill replays it through the gateway's parser)", keyed=True, consumed=False,
                  time_field="received_at")
STATION_EXCHANGES = Topic("station-exchanges", (StationExchange,), "source_id", "Commands the gateway sent stations "
                          "because of an incident, and their answers (the incident's timeline)", keyed=True,
                          consumed=False)
DLQ = Topic("dlq", (DeadLetter,), "original key", "Messages an agent could not process, with the reason",
            keyed=False, consumed=False)

TOPICS: tuple[Topic, ...] = (READINGS, TICKS, CLOCK, REPORTS, DETECTIONS, INCIDENTS, COMMANDS, NOTIFICATIONS,
                             DELIVERY, INVENTORY, INCIDENT_STATES, HJ212_RAW, STATION_EXCHANGES, DLQ)
BY_SUFFIX: dict[str, Topic] = {topic.suffix: topic for topic in TOPICS}
RECORDABLE: tuple[Topic, ...] = tuple(topic for topic in TOPICS if topic.recordable)

# Drill topics hold records stamped with a log's own times, months old or in the future: keep them and accept them.
ANY_TIME_CONFIG = {
    "retention.ms": "-1",
    "message.timestamp.before.max.ms": str(2**63 - 1),
    "message.timestamp.after.max.ms": str(2**63 - 1),
}


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the broker is asked to create it."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicNames:
    """The registry's topics under one prefix."""

    prefix: str
    partitions: int
    any_time: bool = False  # records carry a drill's virtual times (streams.clocks.RecordClock)

    def of(self, topic: Topic) -> str:
        return self.prefix + topic.suffix

    def topic_of(self, name: str) -> Topic | None:
        """The registry entry of a full topic name, None for a name that is not one of ours."""
        return BY_SUFFIX.get(name.removeprefix(self.prefix)) if name.startswith(self.prefix) else None

    def partitions_of(self, topic: Topic) -> int:
        return self.partitions if topic.keyed else 1

    def specs(self) -> list[TopicSpec]:
        config = ANY_TIME_CONFIG if self.any_time else {}
        return [TopicSpec(self.of(topic), self.partitions_of(topic),
                          {**config, **({"cleanup.policy": "compact"} if topic.compacted else {})}) for topic in TOPICS]

    def consumed(self) -> list[str]:
        """The topics the worker's agents read (a drill waits until the worker has committed all of them)."""
        return [self.of(topic) for topic in TOPICS if topic.consumed]
