"""A safety net under the dispatcher: notifications on the topic that no one has claimed in the SMS outbox.

The dispatcher agent normally sends a notification within milliseconds. Whatever keeps it from taking one (it was
added when faust-streaming skipped records after a restart, corrected in streams/faust_fixes.py), a notification
left on the topic would never be sent. The sweep reads the last few minutes of the notifications topic with its own
consumer (no group), and sends what is older than a grace period and absent from the outbox. It claims a
notification only if no row exists yet (`deliver(..., only_if_new=True)`), so it never races the dispatcher into
a second SMS: whoever inserts the outbox row sends.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from handlers.kafka_io import drain
from handlers.sms_outbox import DeliveryResult, SmsGateway, SmsOutbox, deliver
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


def sweep(outbox: SmsOutbox, gateway: SmsGateway, notes: list[tuple[Notification, dt.datetime]],
          status_callback_url: str | None, now: dt.datetime, grace: dt.timedelta,
          on_sent: Callable[[Notification, DeliveryResult], None] = lambda note, result: None) -> list[DeliveryResult]:
    """Send the notifications older than `grace` that the outbox has never seen; returns what was sent."""
    sent = []
    for note, at in notes:
        if now - at < grace or outbox.get(str(note.notification_id)) is not None:
            continue
        result = deliver(outbox, gateway, note, status_callback_url, lambda: now, only_if_new=True)
        if result.outcome in ("sent", "failed"):
            log.warning("notification %s was not taken by the dispatcher within %s: %s by the sweep",
                        note.notification_id, grace, result.outcome)
            on_sent(note, result)
            sent.append(result)
    return sent
