"""The notifications topic read back: the valid notifications of the last minutes, with their Kafka timestamps
(for the notification sweep, streams/services/notification_sweep.py)."""
from __future__ import annotations

import datetime as dt
import logging

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from handlers.kafka_io import drain
from schemas import Notification

log = logging.getLogger("ers.sms.sweep")


def recent_notifications(bootstrap: str, topic: str, since: dt.datetime,
                         timeout: float = 10.0) -> list[tuple[Notification, dt.datetime]]:
    """Valid notifications on `topic` with a Kafka timestamp at or after `since`, with that timestamp."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="ers-sweep")
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        starts = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        # a partition with nothing that recent has no start: leave it out
        recent = [tp for tp in tps if starts.get(tp) is not None]
        for tp in recent:
            consumer.seek(tp, starts[tp].offset)
        out: list[tuple[Notification, dt.datetime]] = []
        for record in drain(consumer, recent, timeout):
            try:
                note = Notification.model_validate_json(record.value)
            except ValidationError:
                continue  # the dispatcher dead-letters it
            out.append((note, dt.datetime.fromtimestamp(record.timestamp / 1000, dt.timezone.utc)))
        return out
    finally:
        consumer.close()
