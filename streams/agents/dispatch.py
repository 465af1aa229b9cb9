"""The dispatcher: the notification outbox topic -> SMS through Twilio, exactly once as far as the
provider allows (handlers.sms_outbox.deliver), and a DeliveryStatus event for what happened."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging

import faust
from faust.types import EventT

from contingency.ids import receipt_id
from contingency.phones import mask
from handlers.sms_gateway import TwilioSms
from handlers.notification_sweep import recent_notifications, sweep
from handlers.sms_outbox import DeliveryResult, SmsOutbox, deliver
from schemas import DeliveryStatus, Notification, encode
from schemas.topics import NOTIFICATIONS
from streams.agents.common import Output, decode_or_dead_letter, process_each, send_confirmed
from streams.channels import Channels
from streams.clocks import AgentClock, wall_clock

AGENT = "dispatch"
log = logging.getLogger("ers.sms")
OUTCOME_STATUS = {"sent": "sent", "reconciled": "sent", "failed": "failed"}


SWEEP_SECONDS = 15.0
SWEEP_GRACE = dt.timedelta(seconds=20)  # the dispatcher's own time to take a notification
SWEEP_WINDOW = dt.timedelta(minutes=15)


def register_dispatcher(app: faust.App, ch: Channels, outbox: SmsOutbox, gateway: TwilioSms,
                        status_callback_url: str, clock: AgentClock, bootstrap: str) -> None:
    async def handle(event: EventT) -> None:
        notification = await decode_or_dead_letter(event, Notification, ch.dlq, AGENT)
        if notification is None:
            return
        # twilio and SQLAlchemy block: keep the event loop (heartbeats, other agents) free.
        result = await asyncio.to_thread(deliver, outbox, gateway, notification, status_callback_url,
                                         lambda: clock.now(event))
        log.info("sms %s to %s: %s%s", notification.notification_id, mask(notification.to), result.outcome,
                 f" ({result.error})" if result.error else "")
        status = OUTCOME_STATUS.get(result.outcome)
        if status is None:  # skipped: sent before, its receipt was published then
            return
        receipt = DeliveryStatus(
            event_id=receipt_id(notification.notification_id, "dispatch", status),
            notification_id=notification.notification_id, provider_sid=result.provider_sid, status=status,
            at=clock.now(event),
        )
        await send_confirmed([Output(ch.delivery, "delivery", encode(receipt))], clock.stamp(event))

    @app.agent(ch.notifications, name="ers.dispatch", concurrency=1)
    async def dispatch(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)

    if clock.mode != "wall":
        return  # a drill waits for its worker to go quiet; nothing there is left behind for long

    @app.timer(interval=SWEEP_SECONDS)
    async def sweep_notifications() -> None:
        """On every worker: they share the outbox, and the sweep sends only what no one has claimed."""
        now = wall_clock()
        try:
            notes = await asyncio.to_thread(recent_notifications, bootstrap, ch.names.of(NOTIFICATIONS),
                                            now - SWEEP_WINDOW)
            receipts: list[DeliveryStatus] = []

            def receipt(note: Notification, result: DeliveryResult) -> None:
                status = OUTCOME_STATUS[result.outcome]
                receipts.append(DeliveryStatus(
                    event_id=receipt_id(note.notification_id, "dispatch", status),
                    notification_id=note.notification_id, provider_sid=result.provider_sid, status=status, at=now))

            await asyncio.to_thread(sweep, outbox, gateway, notes, status_callback_url, now, SWEEP_GRACE, receipt)
            await send_confirmed([Output(ch.delivery, "delivery", encode(r)) for r in receipts])
        except Exception:  # a sweep is a safety net: a failed one is logged and the next one tries again
            log.exception("notification sweep failed")
