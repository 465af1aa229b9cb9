"""What a drill's worker produced, read back from the drill's topics for the report."""
from __future__ import annotations

import datetime as dt
import logging
import uuid

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from handlers.kafka_io import drain
from schemas import DeliveryStatus, Notification, incident_event_adapter
from schemas.incidents import IncidentEvent, IncidentOpened
from schemas.topics import DELIVERY, INCIDENTS, NOTIFICATIONS, Topic, TopicNames

log = logging.getLogger("ers.drill")


class DrillOutputs:
    """Reads the drill's incidents, notifications and delivery statuses from the beginning;
    `poll()` reads up to the end offsets of the moment it is called."""

    def __init__(self, bootstrap: str, names: TopicNames) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                       client_id="ers-drill-outputs")
        self._topic_of = {names.of(t): t for t in (INCIDENTS, NOTIFICATIONS, DELIVERY)}
        self._partitions = [TopicPartition(topic, p) for topic in self._topic_of
                            for p in sorted(self._consumer.partitions_for_topic(topic) or ())]
        self._consumer.assign(self._partitions)
        self._consumer.seek_to_beginning(*self._partitions)
        self.incident_events: list[IncidentEvent] = []
        self.notifications: list[Notification] = []
        self.statuses: list[DeliveryStatus] = []
        self.first_codes: dict[str, str] = {}  # per source: the code of its first incident
        self.opened_at: dict[uuid.UUID, dt.datetime] = {}  # per incident: its incident.opened record's time

    def poll(self, timeout: float = 10.0) -> None:
        for record in drain(self._consumer, self._partitions, timeout):
            self._take(self._topic_of[record.topic], record.value, record.timestamp)

    def _take(self, topic: Topic, value: bytes, timestamp_ms: int) -> None:
        try:
            if topic is INCIDENTS:
                event = incident_event_adapter.validate_json(value)
                self.incident_events.append(event)
                if isinstance(event, IncidentOpened):
                    self.first_codes.setdefault(event.source_id, event.code)
                    self.opened_at[event.incident_id] = dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.timezone.utc)
            elif topic is NOTIFICATIONS:
                self.notifications.append(Notification.model_validate_json(value))
            else:
                self.statuses.append(DeliveryStatus.model_validate_json(value))
        except ValidationError as exc:
            log.warning("not a valid %s record on the drill's topic: %s", topic.suffix, exc.errors()[0]["msg"])

    def close(self) -> None:
        self._consumer.close()
