"""What the console's incident timeline is made of (contingency/timeline.py): each incident's events (the incidents
topic), the messages about it (the notifications topic) and their latest delivery receipts (the delivery topic),
followed from the beginning by a background thread, like the incident read model (handlers/incident_states.py).
A message's receipts are dropped together with its incident, and receipts are bounded in number too."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from contingency.incidents import IncidentEvent
from handlers.kafka_io import TopicFollower
from schemas.incidents import incident_event_adapter
from schemas.notifications import DeliveryStatus, Notification

log = logging.getLogger("ers.console")
MAX_INCIDENTS = 5000  # the newest kept; an older incident's page shows its state without the timeline
MAX_RECEIPTS = 20 * MAX_INCIDENTS


class IncidentTimelineView:
    def __init__(self, bootstrap: str, incidents: str, notifications: str, delivery: str) -> None:
        self._topics = (incidents, notifications, delivery)
        self._events: OrderedDict[str, dict[str, IncidentEvent]] = OrderedDict()
        self._messages: dict[str, dict[str, Notification]] = {}
        self._status: OrderedDict[str, DeliveryStatus] = OrderedDict()
        self._lock = threading.Lock()
        self._follower = TopicFollower(bootstrap, self._topics, "ers-incident-timeline", self._take_all)

    def start(self) -> "IncidentTimelineView":
        self._follower.start()
        return self

    def stop(self) -> None:
        self._follower.stop()

    def of(self, incident_id: str) -> tuple[list[IncidentEvent], list[Notification], dict[str, DeliveryStatus]]:
        """The incident's events and messages, and the latest receipt of each message."""
        with self._lock:
            events = list(self._events.get(incident_id, {}).values())
            messages = list(self._messages.get(incident_id, {}).values())
            return events, messages, {key: self._status[key] for key in (str(m.notification_id) for m in messages)
                                      if key in self._status}

    def _take_all(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._take(record.topic, record.value)

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
                        for key in self._messages.pop(old, {}):
                            self._status.pop(key, None)
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
                        self._status.move_to_end(key)
                    # A receipt may be read before its message (another topic), so it is kept without one,
                    # up to a bound; the oldest go first.
                    while len(self._status) > MAX_RECEIPTS:
                        self._status.popitem(last=False)
        except ValidationError as exc:
            log.debug("incident timeline: not an event of %s: %s", topic, exc.errors()[0]["msg"])
