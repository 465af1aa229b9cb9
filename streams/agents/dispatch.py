"""The dispatcher: the notification outbox topic -> SMS, exactly once as far as the provider allows
(streams.services.sms_delivery), and a DeliveryStatus event for what happened."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable

import faust
from faust.types import EventT

from contingency.ids import receipt_id
from contingency.phones import mask
from handlers.incident_states import IncidentStateView
from handlers.notification_log import recent_notifications
from handlers.sms_outbox import SmsOutbox
from schemas import DeliveryStatus, Notification, encode
from schemas.notifications import REASON_CHARS
from schemas.topics import NOTIFICATIONS
from streams.agents.common import Handler, Output, decode_or_dead_letter, process_each, send_confirmed
from streams.bootstrap import Dependencies
from streams.channels import Channels
from streams.clocks import AgentClock, wall_clock
from streams.services.notification_sweep import sweep
from streams.services.sms_delivery import DeliveryResult, SmsGateway, deliver, retry_due

AGENT = "dispatch"
log = logging.getLogger("ers.sms")
OUTCOME_STATUS = {"sent": "sent", "reconciled": "sent", "failed": "failed", "deferred": "deferred",
                  "superseded": "superseded"}

SWEEP_SECONDS = 15.0
RETRY_SECONDS = 5.0
SWEEP_GRACE = dt.timedelta(seconds=20)  # the dispatcher's own time to take a notification
SWEEP_WINDOW = dt.timedelta(minutes=15)


def receipt_for(notification_id: uuid.UUID, result: DeliveryResult, at: dt.datetime) -> DeliveryStatus | None:
    """What the desk hears of a send; None for one skipped (sent before: its receipt was published then)."""
    status = OUTCOME_STATUS.get(result.outcome)
    if status is None:
        return None
    # A page may wait several times: each deferral is its own event (named by its next try).
    which = f"{status}:{result.retry_at.isoformat()}" if status == "deferred" and result.retry_at else status
    return DeliveryStatus(event_id=receipt_id(notification_id, "dispatch", which), notification_id=notification_id,
                          provider_sid=result.provider_sid, status=status, at=at,
                          reason=result.error[:REASON_CHARS] if result.error else None, retry_at=result.retry_at)


def superseded_on(states: IncidentStateView) -> Callable[[Notification], str | None]:
    """Why a notification is no longer worth sending, from the incident read model (None until it is loaded)."""
    def superseded(note: Notification) -> str | None:
        return states.board().supersedes(note.incident_ids, note.created_at) if states.wait_loaded(0) else None

    return superseded


def dispatch_handler(ch: Channels, outbox: SmsOutbox, sms: SmsGateway, status_callback_url: str,
                     clock: AgentClock, superseded: Callable[[Notification], str | None] = lambda n: None,
                     sender: str | None = None) -> Handler:
    async def handle(event: EventT) -> None:
        notification = await decode_or_dead_letter(event, Notification, ch.dlq, AGENT)
        if notification is None:
            return
        # the SMS provider and SQLAlchemy block: keep the event loop (heartbeats, other agents) free.
        # Only on the wall clock does the retry loop come back for a deferred page.
        result = await asyncio.to_thread(deliver, outbox, sms, notification, status_callback_url,
                                         lambda: clock.now(event), can_defer=clock.mode == "wall",
                                         superseded=superseded, sender=sender)
        log.info("sms %s to %s: %s%s", notification.notification_id, mask(notification.to), result.outcome,
                 f" ({result.error})" if result.error else "")
        receipt = receipt_for(notification.notification_id, result, clock.now(event))
        if receipt is not None:
            await send_confirmed([Output(ch.delivery, "delivery", encode(receipt))], clock.stamp(event))

    return handle


def register_dispatcher(app: faust.App, ch: Channels, deps: Dependencies) -> None:
    # A drill's incidents live on its own virtual clock: nothing there is judged superseded.
    superseded = superseded_on(deps.incident_states) if deps.clock.mode == "wall" else (lambda n: None)
    handle = dispatch_handler(ch, deps.outbox, deps.sms, deps.status_callback_url, deps.clock, superseded,
                              deps.sender)

    @app.agent(ch.notifications, name="ers.dispatch", concurrency=1)
    async def dispatch(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)

    if deps.clock.mode != "wall":
        return  # a drill waits for its worker to go quiet; nothing there is left behind for long

    @app.timer(interval=SWEEP_SECONDS)
    async def sweep_notifications() -> None:
        """On every worker: they share the outbox, and the sweep sends only what no one has claimed."""
        now = wall_clock()
        try:
            notes = await asyncio.to_thread(recent_notifications, deps.bootstrap_servers, ch.names.of(NOTIFICATIONS),
                                            now - SWEEP_WINDOW)
            receipts: list[DeliveryStatus] = []

            def sent(note: Notification, result: DeliveryResult) -> None:
                receipt = receipt_for(note.notification_id, result, now)
                if receipt is not None:
                    receipts.append(receipt)

            await asyncio.to_thread(sweep, deps.outbox, deps.sms, notes, deps.status_callback_url, now, SWEEP_GRACE,
                                    sent, deps.sender)
            await send_confirmed([Output(ch.delivery, "delivery", encode(r)) for r in receipts])
        except Exception:  # a sweep is a safety net: a failed one is logged and the next one tries again
            log.exception("notification sweep failed")

    @app.timer(interval=RETRY_SECONDS)
    async def retry_waiting_pages() -> None:
        """On every worker: a page the provider could not take is tried again until it goes or is superseded."""
        now = wall_clock()
        try:
            tried = await asyncio.to_thread(retry_due, deps.outbox, deps.sms, deps.status_callback_url, now,
                                            superseded)
            receipts = [r for note, result in tried if (r := receipt_for(note.notification_id, result, now))]
            await send_confirmed([Output(ch.delivery, "delivery", encode(r)) for r in receipts])
        except Exception:  # the rows stay waiting: the next round tries them again
            log.exception("retrying waiting pages failed")
