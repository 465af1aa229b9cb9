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

from handlers.sms_outbox import SmsOutbox
from schemas import Notification
from streams.services.sms_delivery import DeliveryResult, SmsGateway, deliver

log = logging.getLogger("ers.sms.sweep")


def sweep(outbox: SmsOutbox, gateway: SmsGateway, notes: list[tuple[Notification, dt.datetime]],
          status_callback_url: str | None, now: dt.datetime, grace: dt.timedelta,
          on_sent: Callable[[Notification, DeliveryResult], None] = lambda note, result: None,
          sender: str | None = None) -> list[DeliveryResult]:
    """Send the notifications older than `grace` that the outbox has never seen; returns what was sent."""
    sent = []
    for note, at in notes:
        if now - at < grace or outbox.get(str(note.notification_id)) is not None:
            continue
        result = deliver(outbox, gateway, note, status_callback_url, lambda: now, only_if_new=True, sender=sender)
        if result.outcome in ("sent", "failed"):
            log.warning("notification %s was not taken by the dispatcher within %s: %s by the sweep",
                        note.notification_id, grace, result.outcome)
            on_sent(note, result)
            sent.append(result)
    return sent
