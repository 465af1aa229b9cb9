"""The worker's webhooks: Twilio's inbound SMS (replies from duty officers) and delivery status callbacks, and
Aliyun's pushes of the same (SmsUp, SmsReport); and the results of calls (叫应) from both: Twilio's <Gather> action
and call status callback, Aliyun's VoiceReport. A call's key 1 becomes an acknowledgement command, anything else
a receipt that moves the chain on (contingency.call_results).

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
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import faust
from faust.types import TopicT
from faust.web import Request, Response, View

from contingency import CompiledPlan
from contingency.call_results import CallResult, call_outcome
from contingency.ids import EXTENSION_DIGITS, code_of_extension, derive, receipt_id
from contingency.incident_states import Board
from contingency.phones import mask
from contingency.replies import answer_reply, parse_reply
from contingency.roster import Roster, person_by_phone
from handlers.aliyun_push import (ANSWERED, OK_ANSWER, REPORT_PATH, SMS_UP_PATH, VOICE_REPLAY_KIND, VOICE_REPORT_PATH,
                                  AliyunPushGuard)
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import (SIGNATURE_HEADER, SMS_PATH, STATUS_PATH, VOICE_GATHER_PATH, VOICE_STATUS_PATH,
                                     WebhookGuard, twiml_empty, twiml_message, twiml_said)
from schemas import Command, DeliveryStatus, Notification, encode
from streams.agents.common import Output, is_transient, send_confirmed, trouble_kind
from streams.bootstrap import Dependencies
from streams.channels import Channels
from streams.clocks import AgentClock

XML = "application/xml"
UNKNOWN_SID_RETRIES = 20  # x 0.1 s
READ_MODEL_WAIT_SECONDS = 2.0
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
    reply = parse_reply(params.get("Body", ""))
    message, command = answer_reply(plan, roster, await _board_knowing(board, reply.code), person, reply, clock.now(),
                                    language, message_id=params.get("MessageSid", ""))
    text = message.body if message is not None else ""
    if command is not None:
        await send_confirmed([Output(commands, command.key, encode(command))], clock.stamp())
        log.info("sms from %s: %s %s", mask(params.get("From")), command.action,
                 command.incident_code or command.incident_id)
    return Answer(200, twiml_message(text) if text else twiml_empty(), XML)


async def _board_knowing(board: Callable[[], Board], code: str | None) -> Board:
    """The read model, once it holds the incident a reply names. A reply can come moments after the page it answers,
    before this process's copy of the read model has read the incident: rather than answer "not found", wait a
    little (a code that is not there at all, a typo, is answered after this wait)."""
    current = board()
    deadline = time.monotonic() + READ_MODEL_WAIT_SECONDS
    while (code and current.by_code(code) is None and current.owing_by_code(code) is None
           and time.monotonic() < deadline):
        await asyncio.sleep(0.1)
        current = board()
    return current


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
        parsed = parse_reply(reply.content)
        context = code_of_extension(reply.dest_code[-EXTENSION_DIGITS:])
        current = await _board_knowing(board, parsed.code or context)
        if context is not None and current.by_code(context) is None:
            context = None  # not an open incident: the extension was not one of ours, or it has closed
        message, command = answer_reply(plan, roster, current, person, parsed, clock.now(),
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


async def call_result(result: CallResult, callee: str, *, outbox: SmsOutbox, board: Callable[[], Board],
                      commands: TopicT, delivery: TopicT, clock: AgentClock, once: str | None = None
                      ) -> tuple[Notification | None, Command | None]:
    """A call's result, from either provider: refused unless ERS placed that call to that number (and, with `once`,
    unless that webhook key was seen before); otherwise its receipt (and the acknowledgement, for the key 1)
    published. The call and the command, for the answer."""
    record = None
    for attempt in range(UNKNOWN_SID_RETRIES + 1):  # the result can come before the dispatcher stored the call id
        if attempt:
            await asyncio.sleep(0.1)
        record = await asyncio.to_thread(outbox.by_sid, result.call_sid)
        if record is not None:
            break
    call = Notification.model_validate_json(record.payload) if record is not None and record.payload else None
    if call is None or call.channel != "voice" or record.to_phone != callee:  # type: ignore[union-attr]
        log.warning("%s call result %s refused: no call of ERS to %s", result.provider, result.call_sid, mask(callee))
        return None, None
    if once is not None and not await asyncio.to_thread(outbox.remember_webhook, once, VOICE_REPLAY_KIND, clock.now()):
        log.warning("%s call result %s refused: replay of call %s", result.provider, result.call_sid, result.call_sid)
        return None, None
    state = board().open.get(str(call.incident_ids[0])) if call.incident_ids else None
    command, receipt = call_outcome(result, call, state.source_id if state is not None else None, clock.now())
    await asyncio.to_thread(outbox.record_status, result.call_sid, receipt.status, None, clock.now())
    outputs = [Output(delivery, "delivery", encode(receipt))]
    if command is not None:
        outputs.append(Output(commands, command.key, encode(command)))
    await send_confirmed(outputs, clock.stamp())
    log.info("%s call %s to %s: %s", result.provider, result.call_sid, mask(callee),
             "acknowledged with key 1" if command is not None else receipt.reason)
    return call, command


async def twilio_gather(path: str, params: Mapping[str, str], signature: str | None, *, guard: WebhookGuard,
                        outbox: SmsOutbox, board: Callable[[], Board], commands: TopicT, delivery: TopicT,
                        clock: AgentClock) -> Answer:
    """The key a person pressed on a Twilio call: TwiML says whether it acknowledged, then hangs up."""
    verdict = await asyncio.to_thread(guard.check_call, path, params, signature, clock.now())
    if not verdict:
        return Answer(verdict.status_code, verdict.reason)
    result = CallResult("twilio", params.get("CallSid", ""), True, params.get("Digits", ""), "completed")
    call, command = await call_result(result, params.get("To", ""), outbox=outbox, board=board, commands=commands,
                                      delivery=delivery, clock=clock)
    language = call.language if call is not None else "zh-CN"
    state = board().open.get(str(call.incident_ids[0])) if call is not None and call.incident_ids else None
    code = state.code if state is not None else ""
    if command is not None:
        said = f"Acknowledged {code}. Thank you." if language == "en" else f"已确认{code},停止升级,谢谢。"
    else:
        said = "Not acknowledged." if language == "en" else "未确认。"
    return Answer(200, twiml_said(said, language), XML)


async def twilio_call_status(path: str, params: Mapping[str, str], signature: str | None, *, guard: WebhookGuard,
                             outbox: SmsOutbox, board: Callable[[], Board], commands: TopicT, delivery: TopicT,
                             clock: AgentClock) -> Answer:
    """How a Twilio call ended: busy, no answer or failed is a call not delivered (an answered one was decided by
    its gather)."""
    verdict = await asyncio.to_thread(guard.check_call, path, params, signature, clock.now())
    if not verdict:
        return Answer(verdict.status_code, verdict.reason)
    status = params.get("CallStatus", "")
    if status in ("busy", "no-answer", "failed", "canceled"):
        await call_result(CallResult("twilio", params.get("CallSid", ""), False, "", status), params.get("To", ""),
                          outbox=outbox, board=board, commands=commands, delivery=delivery, clock=clock)
    return Answer(200, twiml_empty(), XML)


async def aliyun_voice_report(token: str | None, peer: str | None, body: object, *, guard: AliyunPushGuard,
                              outbox: SmsOutbox, board: Callable[[], Board], commands: TopicT, delivery: TopicT,
                              clock: AgentClock) -> Answer:
    """Call results pushed by Aliyun (VoiceReport): the key pressed (dtmf) and how the call ended."""
    verdict = await asyncio.to_thread(guard.check, "voice", token, peer, body, clock.now())
    if verdict.status != 200:
        return Answer(verdict.status, verdict.reason)
    for report in verdict.calls:
        result = CallResult("aliyun", report.call_id, report.status_code in ANSWERED, report.dtmf,
                            f"{report.status_code} {report.status_msg}".strip())
        await call_result(result, report.phone, outbox=outbox, board=board, commands=commands, delivery=delivery,
                          clock=clock, once=f"aliyun-voice:{report.call_id}")
    return Answer(200, json.dumps(OK_ANSWER, ensure_ascii=False), "application/json")


async def outage_safe(pending: Awaitable[Answer]) -> Answer:
    """A webhook that cannot reach the database or the broker answers 503 (logged) rather than 500: nothing it could
    not record has changed, and the sender may try again (Aliyun retries its pushes; Twilio shows the error in its
    console). A refusal is never turned into an acceptance."""
    try:
        return await pending
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("webhook answered 503: %s (%s)", trouble_kind(exc), type(exc).__name__)
        return Answer(503, f"{trouble_kind(exc)}: try again later")


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
            answer = await outage_safe(inbound_sms(
                *await _form(request), guard=guard, plan=plan, roster=roster, board=deps.incident_states.board,
                commands=ch.commands, clock=deps.clock, language=language))
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    @app.page(STATUS_PATH)
    class StatusCallback(View):
        async def post(self, request: Request) -> Response:
            answer = await outage_safe(status_callback(*await _form(request), guard=guard, outbox=deps.outbox,
                                                       delivery=ch.delivery, clock=deps.clock))
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    calls = {"outbox": deps.outbox, "board": deps.incident_states.board, "commands": ch.commands,
             "delivery": ch.delivery, "clock": deps.clock}

    @app.page(VOICE_GATHER_PATH)
    class VoiceGather(View):
        async def post(self, request: Request) -> Response:
            answer = await outage_safe(twilio_gather(*await _form(request), guard=guard, **calls))
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    @app.page(VOICE_STATUS_PATH)
    class VoiceStatus(View):
        async def post(self, request: Request) -> Response:
            answer = await outage_safe(twilio_call_status(*await _form(request), guard=guard, **calls))
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
            answer = await outage_safe(aliyun_sms_up(
                token, request.remote, await pushed(request), guard=aliyun, plan=plan, roster=roster,
                board=deps.incident_states.board, commands=ch.commands, notifications=ch.notifications,
                clock=deps.clock, language=language))
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    @app.page(REPORT_PATH + "/{token}")
    class AliyunReport(View):
        async def post(self, request: Request, token: str) -> Response:
            answer = await outage_safe(aliyun_report(token, request.remote, await pushed(request), guard=aliyun,
                                                     outbox=deps.outbox, delivery=ch.delivery, clock=deps.clock))
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)

    @app.page(VOICE_REPORT_PATH + "/{token}")
    class AliyunVoiceReport(View):
        async def post(self, request: Request, token: str) -> Response:
            answer = await outage_safe(aliyun_voice_report(
                token, request.remote, await pushed(request), guard=aliyun, outbox=deps.outbox,
                board=deps.incident_states.board, commands=ch.commands, delivery=ch.delivery, clock=deps.clock))
            return self.text(answer.body, status=answer.status, content_type=answer.content_type)
