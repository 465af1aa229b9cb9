"""The worker's webhooks: Twilio's inbound SMS (replies from duty officers) and delivery status callbacks.

Both are signed by Twilio; WebhookGuard refuses (403, logged, no state change) anything unsigned,
forged, replayed or, for inbound SMS, from a number not on the roster.
"""
from __future__ import annotations

import asyncio
import logging
import uuid

import faust
from faust.web import Request, Response, View

from contingency import Plan
from contingency.ids import receipt_id
from contingency.replies import answer_reply, parse_reply
from contingency.roster import Roster, person_by_phone
from contingency.phones import mask
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import Verdict, WebhookGuard, twiml_empty, twiml_message
from schemas import DeliveryStatus, encode
from streams.agents.common import Output, send_confirmed
from streams.agents.incidents import DeskView
from streams.channels import Channels
from streams.clocks import AgentClock

SMS_PATH = "/twilio/sms"
STATUS_PATH = "/twilio/status"
XML = "application/xml"
UNKNOWN_SID_RETRIES = 20  # x 0.1 s
log = logging.getLogger("ers.webhook")


async def verified_form(request: Request, guard: WebhookGuard, clock: AgentClock) -> tuple[dict[str, str], Verdict]:
    params = {k: str(v) for k, v in (await request.post()).items()}
    # The guard reads and writes the database: keep the event loop free.
    verdict = await asyncio.to_thread(guard.check, request.raw_path, params, request.headers.get("X-Twilio-Signature"),
                                      clock.now())
    return params, verdict


def register_webhooks(app: faust.App, ch: Channels, plan: Plan, roster: Roster, desk: DeskView,
                      guard: WebhookGuard, outbox: SmsOutbox, language: str, clock: AgentClock) -> None:
    @app.page(SMS_PATH)
    class InboundSms(View):
        async def post(self, request: Request) -> Response:
            params, verdict = await verified_form(request, guard, clock)
            if not verdict:
                return self.text(verdict.reason, status=verdict.status_code)
            person = person_by_phone(roster, params.get("From", ""))
            books = desk.books()
            text, command = answer_reply(plan, roster, books.incidents, books.paging, person,
                                         parse_reply(params.get("Body", "")), clock.now(), language,
                                         message_id=params.get("MessageSid", ""))
            if command is not None:
                await send_confirmed([Output(ch.commands, command.key, encode(command))], clock.stamp())
                log.info("sms from %s: %s %s", mask(params.get("From")), command.action,
                         command.incident_code or command.incident_id)
            return self.text(twiml_message(text) if text else twiml_empty(), content_type=XML)

    @app.page(STATUS_PATH)
    class StatusCallback(View):
        async def post(self, request: Request) -> Response:
            params, verdict = await verified_form(request, guard, clock)
            if not verdict:
                return self.text(verdict.reason, status=verdict.status_code)
            sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
            error = params.get("ErrorCode") or None
            for attempt in range(UNKNOWN_SID_RETRIES + 1):
                if attempt:  # Twilio can call back before the dispatcher has stored the sid its create returned
                    await asyncio.sleep(0.1)
                notification_id = await asyncio.to_thread(outbox.record_status, sid, status, error, clock.now())
                if notification_id is not None:
                    break
            else:
                log.warning("status %s for unknown message %s", status, sid)
            if notification_id is not None and status in ("delivered", "undelivered", "failed"):
                receipt = DeliveryStatus(
                    event_id=receipt_id(uuid.UUID(notification_id), "twilio", status),
                    notification_id=uuid.UUID(notification_id), provider_sid=sid, status=status,
                    error_code=int(error) if error and error.isdigit() else None, at=clock.now(),
                )
                await send_confirmed([Output(ch.delivery, "delivery", encode(receipt))], clock.stamp())
            return self.text(twiml_empty(), content_type=XML)
