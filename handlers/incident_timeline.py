"""What the console's incident timeline is made of (contingency/timeline.py): each incident's events (the incidents
topic), the messages about it (the notifications topic) and their latest delivery receipts (the delivery topic), and the
commands people sent about it (SMS replies and console actions: the commands topic), followed from the beginning by
a background thread, like the incident read model (handlers/incident_states.py). The dispatches made for it are the
ledger's (the database): a movement on the inventory topic may yet be refused.
A message's receipts are dropped together with its incident, and receipts are bounded in number too."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from contingency.incidents import IncidentEvent
from handlers.kafka_io import TopicFollower
from schemas.commands import Command
from schemas.incidents import incident_event_adapter
from schemas.notifications import DeliveryStatus, Notification

log = logging.getLogger("ers.console")
MAX_INCIDENTS = 5000  # the newest kept; an older incident's page shows its state without the timeline
MAX_RECEIPTS = 20 * MAX_INCIDENTS


@dataclass(frozen=True)
class IncidentHistory:
    events: list[IncidentEvent]
    messages: list[Notification]
    last_status: dict[str, DeliveryStatus]  # notification id -> its latest receipt
    commands: list[Command]

    @property
    def last_page(self) -> tuple[Notification, DeliveryStatus | None] | None:
        """The newest message about the incident, and its latest receipt."""
        return _last_page(self.messages, self.last_status)


class IncidentTimelineView:
    def __init__(self, bootstrap: str, incidents: str, notifications: str, delivery: str, commands: str) -> None:
        self._topics = (incidents, notifications, delivery, commands)
        self._events: OrderedDict[str, dict[str, IncidentEvent]] = OrderedDict()
        # By incident id. Kept whether or not the incident is held yet: in the first read, one topic's records may
        # come before another's (a reply before the incident it answers); bounded like the incidents.
        self._messages: OrderedDict[str, dict[str, Notification]] = OrderedDict()
        self._commands: OrderedDict[str, dict[str, Command]] = OrderedDict()
        self._status: OrderedDict[str, DeliveryStatus] = OrderedDict()
        self._lock = threading.Lock()
        self._follower = TopicFollower(bootstrap, self._topics, "ers-incident-timeline", self._take_all)

    def start(self) -> "IncidentTimelineView":
        self._follower.start()
        return self

    def stop(self) -> None:
        self._follower.stop()

    def of(self, incident_id: str) -> IncidentHistory:
        """The incident's events, messages (with the latest receipt of each) and commands."""
        with self._lock:
            messages = list(self._messages.get(incident_id, {}).values())
            return IncidentHistory(
                list(self._events.get(incident_id, {}).values()), messages,
                {key: self._status[key] for key in (str(m.notification_id) for m in messages) if key in self._status},
                list(self._commands.get(incident_id, {}).values()))

    def last_page(self, incident_id: str) -> tuple[Notification, DeliveryStatus | None] | None:
        """The newest message about the incident and its latest receipt: what the board shows of it (asked for every
        open incident at every look of every board, so without copying the incident's history)."""
        with self._lock:
            return _last_page(self._messages.get(incident_id, {}).values(), self._status)

    def _take_all(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._take(record.topic, record.value)

    def _take(self, topic: str, raw: bytes | None) -> None:
        if raw is None:
            return
        incidents, notifications, commands = self._topics[0], self._topics[1], self._topics[3]
        try:
            if topic == incidents:
                event = incident_event_adapter.validate_json(raw)
                with self._lock:
                    self._events.setdefault(str(event.incident_id), {})[str(event.event_id)] = event
                    while len(self._events) > MAX_INCIDENTS:
                        old, _ = self._events.popitem(last=False)
                        for key in self._messages.pop(old, {}):
                            self._status.pop(key, None)
                        self._commands.pop(old, None)
            elif topic == notifications:
                message = Notification.model_validate_json(raw)
                with self._lock:
                    for incident_id in message.incident_ids:
                        _keep(self._messages, str(incident_id), str(message.notification_id), message)
            elif topic == commands:
                command = Command.model_validate_json(raw)
                if command.incident_id is not None:
                    with self._lock:
                        _keep(self._commands, str(command.incident_id), str(command.event_id), command)
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


def _keep(held: OrderedDict[str, dict], incident_id: str, key: str, value: object) -> None:
    held.setdefault(incident_id, {})[key] = value
    held.move_to_end(incident_id)
    while len(held) > 2 * MAX_INCIDENTS:
        held.popitem(last=False)


def _last_page(messages: Iterable[Notification], status: Mapping[str, DeliveryStatus]
               ) -> tuple[Notification, DeliveryStatus | None] | None:
    last = max(messages, key=lambda m: m.created_at, default=None)
    return (last, status.get(str(last.notification_id))) if last is not None else None
