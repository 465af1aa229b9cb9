"""The worker's webhooks: Twilio's inbound SMS (replies from duty officers) and delivery status callbacks.

Both are signed by Twilio; WebhookGuard refuses (403, logged, no state change) anything unsigned, forged, replayed
or, for inbound SMS, from a number not on the roster. A reply is answered from the incident read model, which
every worker holds, and becomes a command on the commands topic for the incident desk: any worker may serve it.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import faust
from faust.types import TopicT
from faust.web import Request, Response, View

from contingency import CompiledPlan
from contingency.ids import receipt_id
from contingency.incident_states import Board
from contingency.phones import mask
from contingency.replies import answer_reply, parse_reply
from contingency.roster import Roster, person_by_phone
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import (SIGNATURE_HEADER, SMS_PATH, STATUS_PATH, WebhookGuard, twiml_empty,
                                     twiml_message)
from schemas import DeliveryStatus, encode
from streams.agents.common import Output, send_confirmed
from streams.bootstrap import Dependencies
from streams.channels import Channels
from streams.clocks import AgentClock

XML = "application/xml"
UNKNOWN_SID_RETRIES = 20  # x 0.1 s
log = logging.getLogger("ers.webhook")


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain"


async def inbound_sms(path: str, params: Mapping[str, str], signature: str | None, *, guard: WebhookGuard,
                      plan: CompiledPlan, roster: Roster, board: Callable[[], Board], commands: TopicT,
                      clock: AgentClock, language: str) -> Answer:
    """Answer a reply from the read model, and publish the command it gives for the incident desk."""
    # The guard reads and writes the database: keep the event loop free.
    verdict = await asyncio.to_thread(guard.check, path, params, signature, clock.now())
    if not verdict:
        return Answer(verdict.status_code, verdict.reason)
    person = person_by_phone(roster, params.get("From", ""))
    message, command = answer_reply(plan, roster, board(), person, parse_reply(params.get("Body", "")), clock.now(),
                                    language, message_id=params.get("MessageSid", ""))
    text = message.body if message is not None else ""
    if command is not None:
        await send_confirmed([Output(commands, command.key, encode(command))], clock.stamp())
        log.info("sms from %s: %s %s", mask(params.get("From")), command.action,
                 command.incident_code or command.incident_id)
    return Answer(200, twiml_message(text) if text else twiml_empty(), XML)


async def status_callback(path: str, params: Mapping[str, str], signature: str | None, *, guard: WebhookGuard,
                          outbox: SmsOutbox, delivery: TopicT, clock: AgentClock) -> Answer:
    """Record a delivery status; a final one becomes a receipt for the incident desk (a failed page escalates)."""
    verdict = await asyncio.to_thread(guard.check, path, params, signature, clock.now())
    if not verdict:
        return Answer(verdict.status_code, verdict.reason)
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    error = params.get("ErrorCode") or None
    notification_id = None
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
        await send_confirmed([Output(delivery, "delivery", encode(receipt))], clock.stamp())
    return Answer(200, twiml_empty(), XML)


def register_webhooks(app: faust.App, ch: Channels, plan: CompiledPlan, roster: Roster, deps: Dependencies,
                      language: str) -> None:
    async def form(request: Request) -> tuple[str, dict[str, str], str | None]:
        params = {k: str(v) for k, v in (await request.post()).items()}
        return request.raw_path, params, request.headers.get(SIGNATURE_HEADER)

    @app.page(SMS_PATH)
    class InboundSms(View):
        async def post(self, request: Request) -> Response:
            answer = await inbound_sms(*await form(request), guard=deps.guard, plan=plan, roster=roster,
                                       board=deps.incident_states.board, commands=ch.commands, clock=deps.clock,
                                       language=language)
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    @app.page(STATUS_PATH)
    class StatusCallback(View):
        async def post(self, request: Request) -> Response:
            answer = await status_callback(*await form(request), guard=deps.guard, outbox=deps.outbox,
                                           delivery=ch.delivery, clock=deps.clock)
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)
