"""Sending a JSON Lines file of events to Kafka (a quick try, or a third-party-like producer)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer


class EventFileError(ValueError):
    pass


@dataclass(frozen=True)
class FileEvent:
    line: int
    topic: str
    key: bytes | None
    value: bytes


KEY_FIELDS = ("station_id", "source_id", "depot_id", "person_id")


def read_events(path: Path, default_topic: str) -> Iterator[FileEvent]:
    """Each line is either a bare event (sent to default_topic, keyed by its station/source/depot id)
    or an envelope {"topic": ..., "key": ..., "value": {...}}. Blank lines and # comments are skipped.
    A line that is not JSON is sent as it is: this command also exists to exercise the dead-letter path."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read: {exc.strerror}") from exc
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            yield FileEvent(number, default_topic, None, text.encode("utf-8"))
            continue
        if isinstance(data, dict) and "topic" in data and "value" in data:
            key = data.get("key")
            yield FileEvent(number, str(data["topic"]), None if key is None else str(key).encode(),
                            json.dumps(data["value"], ensure_ascii=False).encode("utf-8"))
            continue
        key = next((data[f] for f in KEY_FIELDS if isinstance(data, dict) and isinstance(data.get(f), str)), None)
        yield FileEvent(number, default_topic, None if key is None else key.encode("utf-8"),
                        text.encode("utf-8"))


def produce_file(bootstrap: str, path: Path, default_topic: str) -> int:
    events = list(read_events(path, default_topic))
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="ers-produce", acks="all")
    try:
        for event in events:
            producer.send(event.topic, key=event.key, value=event.value)
        producer.flush(timeout=30)
    finally:
        producer.close()
    return len(events)
