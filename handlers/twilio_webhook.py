"""Checking Twilio's webhooks (inbound SMS, status callbacks) and answering them with TwiML.

Framework-free: an aiohttp handler passes the path and query it received (`request.raw_path`), the
form fields (`await request.post()`) and the X-Twilio-Signature header. The URL that is checked is the
configured public base URL plus that path, because Twilio signs the URL it was told to call; the
Host, scheme or port a reverse proxy passes on are not trusted.

A request passes when it is signed with our auth token, has not been seen before (an inbound SMS
by its MessageSid; a status callback by MessageSid and MessageStatus, since one message has several
statuses) and, for an inbound SMS, comes from a known phone. Calls (叫应) are checked alike (`check_call`): by
CallSid, once for the key pressed and once per call status, and the callee (To) must be a known phone.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from contingency.phones import mask

log = logging.getLogger("ers.webhook")

SIGNATURE_HEADER = "X-Twilio-Signature"
SMS_PATH = "/twilio/sms"         # inbound SMS (replies from duty officers), below the public base URL
STATUS_PATH = "/twilio/status"   # delivery status callbacks
VOICE_GATHER_PATH = "/twilio/voice/gather"   # the key pressed during a call (叫应), <Gather action=...>
VOICE_STATUS_PATH = "/twilio/voice/status"   # how a call ended (busy, no-answer, failed, completed)
FORBIDDEN = 403


class ReplayLedger(Protocol):
    def remember_webhook(self, message_sid: str, kind: str, now: datetime) -> bool: ...


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    status_code: int
    kind: str | None = None  # "inbound" or "status", once the request is known to come from Twilio

    def __bool__(self) -> bool:
        return self.ok


def public_url(public_base_url: str, path: str) -> str:
    """The URL Twilio called: the configured base (scheme, host, port, any prefix) and the path with query."""
    if not path.startswith("/"):
        path = "/" + path
    return public_base_url.rstrip("/") + path


def verify_signature(auth_token: str, public_url: str, params: Mapping[str, Any], signature: str | None) -> bool:
    """True if `signature` is Twilio's HMAC-SHA1 of `public_url` and the POST `params` under `auth_token`."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(public_url, params, signature))


class WebhookGuard:
    """Refuses (403) unsigned, forged, replayed webhooks, and inbound SMS from unknown numbers."""

    def __init__(self, auth_token: str, public_base_url: str, outbox: ReplayLedger,
                 known_phone: Callable[[str], bool]) -> None:
        if not auth_token:
            raise ValueError("an auth token is required to check Twilio signatures")
        self._auth_token = auth_token
        self._public_base_url = public_base_url
        self._ledger = outbox
        self._known_phone = known_phone

    def check(self, path: str, params: Mapping[str, Any], signature: str | None, now: datetime) -> Verdict:
        """The verdict on one webhook request, received at `now`. A request that passes is remembered, so its
        replay will not."""
        url = public_url(self._public_base_url, path)
        sender = _field(params, "From")
        if not signature:
            return self._refuse("unsigned", url, sender)
        if not verify_signature(self._auth_token, url, params, signature):
            return self._refuse("bad signature (forged, or signed for another URL)", url, sender)
        message_sid = _field(params, "MessageSid")
        if not message_sid:
            return self._refuse("no MessageSid", url, sender, status_code=400)
        status = _field(params, "MessageStatus")
        kind = "status" if status else "inbound"
        if kind == "inbound" and not (sender and self._known_phone(sender)):
            return self._refuse("unknown number", url, sender, kind=kind)
        replay_kind = f"status:{status}" if status else "inbound"
        if not self._ledger.remember_webhook(message_sid, replay_kind, now):
            return self._refuse(f"replay of {message_sid} ({replay_kind})", url, sender, kind=kind)
        return Verdict(True, "ok", 200, kind)

    def check_call(self, path: str, params: Mapping[str, Any], signature: str | None, now: datetime) -> Verdict:
        """The verdict on a call webhook: the key pressed (kind "gather") or how the call ended ("call")."""
        url = public_url(self._public_base_url, path)
        callee = _field(params, "To")
        if not signature:
            return self._refuse("unsigned", url, callee)
        if not verify_signature(self._auth_token, url, params, signature):
            return self._refuse("bad signature (forged, or signed for another URL)", url, callee)
        call_sid = _field(params, "CallSid")
        if not call_sid:
            return self._refuse("no CallSid", url, callee, status_code=400)
        kind = "call" if _field(params, "CallStatus") and "Digits" not in params else "gather"
        if not (callee and self._known_phone(callee)):
            return self._refuse("call to an unknown number", url, callee, kind=kind)
        replay_kind = f"call:{_field(params, 'CallStatus')}" if kind == "call" else "gather"
        if not self._ledger.remember_webhook(call_sid, replay_kind, now):
            return self._refuse(f"replay of {call_sid} ({replay_kind})", url, callee, kind=kind)
        return Verdict(True, "ok", 200, kind)

    @staticmethod
    def _refuse(reason: str, url: str, sender: str | None, *, status_code: int = FORBIDDEN,
                kind: str | None = None) -> Verdict:
        log.warning("webhook refused: %s (url %s, from %s)", reason, url.split("?", 1)[0], mask(sender))
        return Verdict(False, reason, status_code, kind)


def twiml_message(text: str) -> str:
    """TwiML replying with one SMS."""
    response = MessagingResponse()
    response.message(text)
    return str(response)


def twiml_call(text: str, language: str, gather_url: str) -> str:
    """TwiML of a call (叫应): read `text` inside a one-key <Gather>; with no key pressed the action hears an empty
    Digits, so every answered call ends in one gather webhook."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=gather_url, method="POST", timeout=10, action_on_empty_result=True)
    gather.say(text, **_voice(language))
    response.append(gather)
    return str(response)


def twiml_said(text: str, language: str) -> str:
    """TwiML answering a gather: a few words, then the call ends."""
    response = VoiceResponse()
    response.say(text, **_voice(language))
    response.hangup()
    return str(response)


def _voice(language: str) -> dict[str, str]:
    # Twilio's basic voices speak no Mandarin; Amazon Polly's Zhiyu does (language cmn-CN)
    return {"voice": "Polly.Joanna", "language": "en-US"} if language == "en" else \
        {"voice": "Polly.Zhiyu", "language": "cmn-CN"}


def twiml_empty() -> str:
    """An empty TwiML response: the webhook is answered, no SMS goes back."""
    return str(MessagingResponse())


def _field(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    return str(value) if value not in (None, "") else None
