"""The worker's webhooks: Twilio's inbound SMS (replies from duty officers) and delivery status callbacks, and
Aliyun's pushes of the same (SmsUp, SmsReport).

Twilio signs its webhooks; WebhookGuard refuses (403, logged, no state change) anything unsigned, forged, replayed
or, for inbound SMS, from a number not on the roster. Aliyun's pushes are not signed: AliyunPushGuard checks the
secret path token, the sender's address if an allow-list is set, the number, a message to answer, and replays.
A reply is answered from the incident read model, which every worker holds, and becomes a command on the commands
topic for the incident desk: any worker may serve it. Twilio's answer goes back as TwiML; Aliyun has no answer
channel, so the answer goes out as a notification (a registered template) through the dispatcher.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import faust
from faust.types import TopicT
from faust.web import Request, Response, View

from contingency import CompiledPlan
from contingency.ids import EXTENSION_DIGITS, code_of_extension, derive, receipt_id
from contingency.incident_states import Board
from contingency.phones import mask
from contingency.replies import answer_reply, parse_reply
from contingency.roster import Roster, person_by_phone
from handlers.aliyun_push import OK_ANSWER, REPORT_PATH, SMS_UP_PATH, AliyunPushGuard
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import (SIGNATURE_HEADER, SMS_PATH, STATUS_PATH, WebhookGuard, twiml_empty,
                                     twiml_message)
from schemas import DeliveryStatus, Notification, encode
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
    notification_id = await _record_status(outbox, (sid,), status, error, clock)
    if notification_id is not None and status in ("delivered", "undelivered", "failed"):
        receipt = DeliveryStatus(
            event_id=receipt_id(uuid.UUID(notification_id), "twilio", status),
            notification_id=uuid.UUID(notification_id), provider_sid=sid, status=status,
            error_code=int(error) if error and error.isdigit() else None, at=clock.now(),
        )
        await send_confirmed([Output(delivery, "delivery", encode(receipt))], clock.stamp())
    return Answer(200, twiml_empty(), XML)


async def _record_status(outbox: SmsOutbox, sids: tuple[str, ...], status: str, error: str | None,
                         clock: AgentClock) -> str | None:
    """Record a provider's status under the first of `sids` the outbox knows; the notification id, or None.
    A status can come before the dispatcher has stored the id its send returned, so unknown ids are retried."""
    for attempt in range(UNKNOWN_SID_RETRIES + 1):
        if attempt:
            await asyncio.sleep(0.1)
        for sid in sids:
            notification_id = await asyncio.to_thread(outbox.record_status, sid, status, error, clock.now())
            if notification_id is not None:
                return notification_id
    log.warning("status %s for unknown message %s", status, sids[0])
    return None


async def aliyun_sms_up(token: str | None, peer: str | None, body: object, *, guard: AliyunPushGuard,
                        plan: CompiledPlan, roster: Roster, board: Callable[[], Board], commands: TopicT,
                        notifications: TopicT, clock: AgentClock, language: str) -> Answer:
    """Replies pushed by Aliyun: each becomes a command for the desk, or an answer sent back as a notification."""
    verdict = await asyncio.to_thread(guard.check, "up", token, peer, body, clock.now())
    if verdict.status != 200:
        return Answer(verdict.status, verdict.reason)
    outputs: list[Output] = []
    for reply in verdict.replies:
        person = person_by_phone(roster, reply.phone)
        current = board()
        context = code_of_extension(reply.dest_code[-EXTENSION_DIGITS:])
        if context is not None and current.by_code(context) is None:
            context = None  # not an open incident: the extension was not one of ours, or it has closed
        message, command = answer_reply(plan, roster, current, person, parse_reply(reply.content), clock.now(),
                                        language, message_id=f"aliyun:{reply.sequence_id}", context_code=context)
        if command is not None:
            outputs.append(Output(commands, command.key, encode(command)))
            log.info("sms from %s: %s %s", mask(reply.phone), command.action, command.incident_code)
        if message is not None and person is not None:
            notification_id = derive("sms.answer", "aliyun", reply.sequence_id)
            answer = Notification(event_id=notification_id, notification_id=notification_id, person_id=person.id,
                                  to=person.phone, body=message.body, template=message.template,
                                  params=dict(message.params), created_at=clock.now())
            outputs.append(Output(notifications, answer.key, encode(answer)))
    if outputs:
        await send_confirmed(outputs, clock.stamp())
    return Answer(200, json.dumps(OK_ANSWER, ensure_ascii=False), "application/json")


async def aliyun_report(token: str | None, peer: str | None, body: object, *, guard: AliyunPushGuard,
                        outbox: SmsOutbox, delivery: TopicT, clock: AgentClock) -> Answer:
    """Delivery reports pushed by Aliyun: recorded, and a receipt for the incident desk (a failed page escalates)."""
    verdict = await asyncio.to_thread(guard.check, "report", token, peer, body, clock.now())
    if verdict.status != 200:
        return Answer(verdict.status, verdict.reason)
    outputs: list[Output] = []
    for report in verdict.reports:
        status = "delivered" if report.success else "undelivered"
        error = None if report.success else report.err_code
        # a message found by OutId after a crash is stored under that id, not the BizId
        sids = (report.biz_id, f"out:{report.out_id}") if report.out_id else (report.biz_id,)
        notification_id = await _record_status(outbox, sids, status, error, clock)
        if notification_id is None:
            continue
        receipt = DeliveryStatus(event_id=receipt_id(uuid.UUID(notification_id), "aliyun", status),
                                 notification_id=uuid.UUID(notification_id), provider_sid=report.biz_id,
                                 status=status, at=clock.now())
        outputs.append(Output(delivery, "delivery", encode(receipt)))
    if outputs:
        await send_confirmed(outputs, clock.stamp())
    return Answer(200, json.dumps(OK_ANSWER, ensure_ascii=False), "application/json")


def register_webhooks(app: faust.App, ch: Channels, plan: CompiledPlan, roster: Roster, deps: Dependencies,
                      language: str) -> None:
    twilio = deps.guard
    if twilio is not None:
        _register_twilio(app, ch, plan, roster, deps, twilio, language)
    aliyun = deps.aliyun_guard
    if aliyun is not None:
        _register_aliyun(app, ch, plan, roster, deps, aliyun, language)


async def _form(request: Request) -> tuple[str, dict[str, str], str | None]:
    params = {k: str(v) for k, v in (await request.post()).items()}
    return request.raw_path, params, request.headers.get(SIGNATURE_HEADER)


def _register_twilio(app: faust.App, ch: Channels, plan: CompiledPlan, roster: Roster, deps: Dependencies,
                     guard: WebhookGuard, language: str) -> None:
    @app.page(SMS_PATH)
    class InboundSms(View):
        async def post(self, request: Request) -> Response:
            answer = await inbound_sms(*await _form(request), guard=guard, plan=plan, roster=roster,
                                       board=deps.incident_states.board, commands=ch.commands, clock=deps.clock,
                                       language=language)
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    @app.page(STATUS_PATH)
    class StatusCallback(View):
        async def post(self, request: Request) -> Response:
            answer = await status_callback(*await _form(request), guard=guard, outbox=deps.outbox,
                                           delivery=ch.delivery, clock=deps.clock)
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)


def _register_aliyun(app: faust.App, ch: Channels, plan: CompiledPlan, roster: Roster, deps: Dependencies,
                     aliyun: AliyunPushGuard, language: str) -> None:
    async def pushed(request: Request) -> object:
        try:
            return await request.json()
        except ValueError:
            return None

    @app.page(SMS_UP_PATH + "/{token}")
    class AliyunSmsUp(View):
        async def post(self, request: Request, token: str) -> Response:
            answer = await aliyun_sms_up(token, request.remote, await pushed(request), guard=aliyun, plan=plan,
                                         roster=roster, board=deps.incident_states.board, commands=ch.commands,
                                         notifications=ch.notifications, clock=deps.clock, language=language)
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    @app.page(REPORT_PATH + "/{token}")
    class AliyunReport(View):
        async def post(self, request: Request, token: str) -> Response:
            answer = await aliyun_report(token, request.remote, await pushed(request), guard=aliyun,
                                         outbox=deps.outbox, delivery=ch.delivery, clock=deps.clock)
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)
