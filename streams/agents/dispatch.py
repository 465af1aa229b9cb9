"""The dispatcher: the notification outbox topic -> SMS through Twilio, exactly once as far as the
provider allows (handlers.sms_outbox.deliver), and a DeliveryStatus event for what happened."""
from __future__ import annotations

import asyncio
import logging
import uuid

import faust
from faust.types import EventT

from handlers.phones import mask
from handlers.sms_gateway import TwilioSms
from handlers.sms_outbox import SmsOutbox, deliver
from schemas import DeliveryStatus, Notification, encode
from streams.agents.common import Output, decode_or_dead_letter, process_each, send_confirmed
from streams.channels import Channels
from streams.clocks import AgentClock

AGENT = "dispatch"
log = logging.getLogger("ers.sms")
OUTCOME_STATUS = {"sent": "sent", "reconciled": "sent", "failed": "failed"}


def register_dispatcher(app: faust.App, ch: Channels, outbox: SmsOutbox, gateway: TwilioSms,
                        status_callback_url: str, clock: AgentClock) -> None:
    async def handle(event: EventT) -> None:
        notification = await decode_or_dead_letter(event, Notification, ch.dlq, AGENT)
        if notification is None:
            return
        # twilio and SQLAlchemy block: keep the event loop (heartbeats, other agents) free.
        result = await asyncio.to_thread(deliver, outbox, gateway, notification, status_callback_url, clock.now(event))
        log.info("sms %s to %s: %s%s", notification.notification_id, mask(notification.to), result.outcome,
                 f" ({result.error})" if result.error else "")
        status = OUTCOME_STATUS.get(result.outcome)
        if status is None:  # skipped: sent before, its receipt was published then
            return
        receipt = DeliveryStatus(
            event_id=uuid.uuid5(notification.notification_id, f"dispatch:{status}"),
            notification_id=notification.notification_id, provider_sid=result.provider_sid, status=status,
            at=clock.now(event),
        )
        await send_confirmed([Output(ch.delivery, "delivery", encode(receipt))], clock.stamp(event))

    @app.agent(ch.notifications, name="ers.dispatch", concurrency=1)
    async def dispatch(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)
