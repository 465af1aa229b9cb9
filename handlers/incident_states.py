"""The incident read model from its compacted topic: read once by a command, or held and kept current by a worker.

Each worker holds its own copy (a consumer with no group reads every partition from the beginning, then follows),
so a webhook served by any worker answers from the same states, whichever worker runs the incident desk.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from contingency.incident_states import Board
from handlers.kafka_io import TopicFollower, TopicWatch, drain
from schemas.incident_states import IncidentState

log = logging.getLogger("ers.read_model")


def _states(records: Iterator) -> Iterator[IncidentState]:
    for record in records:
        if record.value is None:  # a tombstone: nothing to hold
            continue
        try:
            yield IncidentState.model_validate_json(record.value)
        except ValidationError as exc:
            log.warning("not an incident state at %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                        exc.errors()[0]["msg"])


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def read_incident_states(bootstrap: str, topic: str, timeout: float = 30.0) -> list[IncidentState]:
    """Every state on the topic, up to its end offsets of now, in publishing order per incident."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="ers-cli")
    try:
        tps = _partitions(consumer, topic)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return list(_states(drain(consumer, tps, timeout)))
    finally:
        consumer.close()


class StateWatch:
    """States published from now on (positioned at the topic's end when made)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._watch = TopicWatch(bootstrap, topic)

    def find(self, predicate: Callable[[IncidentState], bool], timeout: float) -> IncidentState | None:
        found: list[IncidentState] = []

        def matches(value: dict) -> bool:
            try:
                state = IncidentState.model_validate(value)
            except ValidationError:
                return False
            if predicate(state):
                found.append(state)
                return True
            return False

        self._watch.find(matches, timeout)
        return found[0] if found else None

    def close(self) -> None:
        self._watch.close()


class IncidentStateView:
    """The latest state of every incident, kept current by a background thread."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._latest: dict[str, IncidentState] = {}
        self._lock = threading.Lock()
        self._follower = TopicFollower(bootstrap, (topic,), "ers-incident-states", self._take)

    def start(self) -> "IncidentStateView":
        self._follower.start()
        return self

    def stop(self) -> None:
        self._follower.stop()

    def wait_loaded(self, timeout: float) -> bool:
        """Whether the topic has been read up to where it ended when the view started."""
        return self._follower.wait_loaded(timeout)

    def board(self) -> Board:
        with self._lock:
            return Board.of_states(list(self._latest.values()))

    def states(self) -> list[IncidentState]:
        """Each incident's latest state (resolved ones too)."""
        with self._lock:
            return list(self._latest.values())

    def _take(self, records: list) -> None:
        states = list(_states(iter(records)))
        with self._lock:
            for state in states:
                self._latest[state.key] = state
