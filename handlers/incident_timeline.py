"""What the console's incident timeline is made of (contingency/timeline.py): each incident's events (the incidents
topic), the messages about it (the notifications topic) and their latest delivery receipts (the delivery topic),
followed from the beginning by a background thread, like the incident read model (handlers/incident_states.py)."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from contingency.incidents import IncidentEvent
from schemas.incidents import incident_event_adapter
from schemas.notifications import DeliveryStatus, Notification

log = logging.getLogger("ers.console")
MAX_INCIDENTS = 5000  # the newest kept; an older incident's page shows its state without the timeline


class IncidentTimelineView:
    def __init__(self, bootstrap: str, incidents: str, notifications: str, delivery: str) -> None:
        self._bootstrap, self._topics = bootstrap, (incidents, notifications, delivery)
        self._events: OrderedDict[str, dict[str, IncidentEvent]] = OrderedDict()
        self._messages: dict[str, dict[str, Notification]] = {}
        self._status: dict[str, DeliveryStatus] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ers-incident-timeline", daemon=True)

    def start(self) -> "IncidentTimelineView":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def of(self, incident_id: str) -> tuple[list[IncidentEvent], list[Notification], dict[str, DeliveryStatus]]:
        """The incident's events and messages, and the latest receipt of each message."""
        with self._lock:
            events = list(self._events.get(incident_id, {}).values())
            messages = list(self._messages.get(incident_id, {}).values())
            return events, messages, {key: self._status[key] for key in (str(m.notification_id) for m in messages)
                                      if key in self._status}

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except Exception as exc:  # the broker went away: keep what we hold, read again
                log.warning("incident timeline: %s: %s; reading again in %g s", type(exc).__name__, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _follow(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                 client_id="ers-incident-timeline")
        try:
            tps = [TopicPartition(topic, p) for topic in self._topics
                   for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not tps:
                raise LookupError(f"topics {', '.join(self._topics)} have no partitions yet")
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    for record in records:
                        self._take(record.topic, record.value)
        finally:
            consumer.close()

    def _take(self, topic: str, raw: bytes | None) -> None:
        if raw is None:
            return
        incidents, notifications, _ = self._topics
        try:
            if topic == incidents:
                event = incident_event_adapter.validate_json(raw)
                with self._lock:
                    self._events.setdefault(str(event.incident_id), {})[str(event.event_id)] = event
                    while len(self._events) > MAX_INCIDENTS:
                        old, _ = self._events.popitem(last=False)
                        self._messages.pop(old, None)
            elif topic == notifications:
                message = Notification.model_validate_json(raw)
                with self._lock:
                    for incident_id in message.incident_ids:
                        if str(incident_id) in self._events:
                            self._messages.setdefault(str(incident_id), {})[str(message.notification_id)] = message
            else:
                status = DeliveryStatus.model_validate_json(raw)
                key = str(status.notification_id)
                with self._lock:
                    if key not in self._status or self._status[key].at <= status.at:
                        self._status[key] = status
        except ValidationError as exc:
            log.debug("incident timeline: not an event of %s: %s", topic, exc.errors()[0]["msg"])
