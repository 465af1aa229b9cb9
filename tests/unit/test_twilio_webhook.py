"""Webhook checks: Twilio's signature over the configured public URL, replays, unknown numbers; TwiML."""
from __future__ import annotations

import datetime as dt
import logging
from xml.etree import ElementTree

import pytest
from twilio.request_validator import RequestValidator

from handlers.twilio_webhook import WebhookGuard, public_url, twiml_empty, twiml_message, verify_signature

TOKEN = "local-test-token-0123456789abcdef"
BASE = "https://ers.example.org:8443/ers"
OFFICER = "+8613800000001"
STRANGER = "+8613900000002"
OUR_NUMBER = "+15005550006"
NOW = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.timezone.utc)


class MemoryLedger:
    """remember_webhook like SmsOutbox's, in memory."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def remember_webhook(self, message_sid: str, kind: str, now: dt.datetime) -> bool:
        if (message_sid, kind) in self.seen:
            return False
        self.seen.add((message_sid, kind))
        return True


def signed(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def inbound(sid: str = "SM" + "a" * 32, from_: str = OFFICER, body: str = "1") -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": from_, "To": OUR_NUMBER,
            "Body": body, "NumMedia": "0", "SmsStatus": "received", "ApiVersion": "2010-04-01"}


def status(status: str, sid: str = "SM" + "b" * 32) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "SmsStatus": status, "AccountSid": "AC" + "0" * 32,
            "From": OUR_NUMBER, "To": OFFICER, "ApiVersion": "2010-04-01"}


@pytest.fixture
def guard() -> WebhookGuard:
    return WebhookGuard(TOKEN, BASE, MemoryLedger(), known_phone=lambda phone: phone == OFFICER)


def test_public_url_is_the_configured_base_plus_the_path_and_query() -> None:
    assert public_url(BASE, "/twilio/sms?x=1") == "https://ers.example.org:8443/ers/twilio/sms?x=1"
    assert public_url(BASE + "/", "twilio/sms") == "https://ers.example.org:8443/ers/twilio/sms"


def test_verify_signature() -> None:
    url = BASE + "/twilio/sms"
    params = inbound()
    assert verify_signature(TOKEN, url, params, signed(url, params))
    assert not verify_signature(TOKEN, url, params, None)
    assert not verify_signature(TOKEN, url, params, "")
    assert not verify_signature(TOKEN, url, params, signed(url, params, token="another-token"))
    assert not verify_signature(TOKEN, url, {**params, "Body": "2"}, signed(url, params))
    assert not verify_signature(TOKEN, "http://ers.example.org:8443/ers/twilio/sms", params, signed(url, params))


def test_a_signed_inbound_sms_from_a_known_phone_passes(guard: WebhookGuard) -> None:
    params = inbound()
    verdict = guard.check("/twilio/sms", params, signed(BASE + "/twilio/sms", params), NOW)
    assert verdict.ok and verdict.status_code == 200 and verdict.kind == "inbound"


def test_unsigned_is_refused(guard: WebhookGuard) -> None:
    verdict = guard.check("/twilio/sms", inbound(), None, NOW)
    assert (verdict.ok, verdict.status_code, verdict.reason) == (False, 403, "unsigned")


def test_forged_is_refused(guard: WebhookGuard) -> None:
    params = inbound()
    verdict = guard.check("/twilio/sms", params, signed(BASE + "/twilio/sms", params, token="guessed-token"), NOW)
    assert not verdict.ok and verdict.status_code == 403 and "signature" in verdict.reason
    tampered = {**params, "Body": "2"}
    assert not guard.check("/twilio/sms", tampered, signed(BASE + "/twilio/sms", params), NOW).ok


def test_signed_for_another_url_is_refused(guard: WebhookGuard) -> None:
    """What a proxy passes on (internal host, http) is not what Twilio signed; the configured URL is."""
    params = inbound()
    others = ("http://10.0.0.5:8080/twilio/sms", BASE + "/twilio/status", "https://evil.example.com/ers/twilio/sms")
    for other in others:
        verdict = guard.check("/twilio/sms", params, signed(other, params), NOW)
        assert not verdict.ok and verdict.status_code == 403


def test_the_query_string_is_part_of_what_is_signed(guard: WebhookGuard) -> None:
    params = inbound()
    signature = signed(BASE + "/twilio/sms?county=arxan", params)
    assert not guard.check("/twilio/sms", params, signature, NOW).ok
    assert guard.check("/twilio/sms?county=arxan", params, signature, NOW).ok


def test_a_replayed_inbound_sms_is_refused(guard: WebhookGuard) -> None:
    params = inbound()
    signature = signed(BASE + "/twilio/sms", params)
    assert guard.check("/twilio/sms", params, signature, NOW).ok
    verdict = guard.check("/twilio/sms", params, signature, NOW)
    assert not verdict.ok and verdict.status_code == 403 and "replay" in verdict.reason


def test_status_callbacks_replay_key_is_sid_and_status(guard: WebhookGuard) -> None:
    url = BASE + "/twilio/status"
    sent, delivered = status("sent"), status("delivered")
    assert guard.check("/twilio/status", sent, signed(url, sent), NOW).kind == "status"
    assert guard.check("/twilio/status", delivered, signed(url, delivered), NOW).ok  # same sid, next status
    again = guard.check("/twilio/status", delivered, signed(url, delivered), NOW)
    assert not again.ok and again.status_code == 403


def test_status_callbacks_are_not_checked_against_known_phones(guard: WebhookGuard) -> None:
    params = {**status("delivered"), "To": STRANGER}
    assert guard.check("/twilio/status", params, signed(BASE + "/twilio/status", params), NOW).ok


def test_an_unknown_number_is_refused_and_logged_masked(guard: WebhookGuard, caplog: pytest.LogCaptureFixture) -> None:
    params = inbound(from_=STRANGER)
    with caplog.at_level(logging.WARNING, logger="ers.webhook"):
        verdict = guard.check("/twilio/sms", params, signed(BASE + "/twilio/sms", params), NOW)
    assert not verdict.ok and verdict.status_code == 403 and verdict.reason == "unknown number"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "+86139****0002" in logged and STRANGER not in logged
    # refused, so not remembered: the same sid from a known number later is not a "replay"
    assert guard.check("/twilio/sms", inbound(), signed(BASE + "/twilio/sms", inbound()), NOW).ok


def test_every_refusal_is_logged_without_a_full_number(guard: WebhookGuard, caplog: pytest.LogCaptureFixture) -> None:
    params = inbound()
    with caplog.at_level(logging.WARNING, logger="ers.webhook"):
        guard.check("/twilio/sms", params, None, NOW)
        guard.check("/twilio/sms", params, "forged", NOW)
    assert len(caplog.records) == 2
    assert all(OFFICER not in r.getMessage() and "+86138****0001" in r.getMessage() for r in caplog.records)


def test_a_signed_request_without_message_sid_is_a_bad_request(guard: WebhookGuard) -> None:
    params = {k: v for k, v in inbound().items() if k not in ("MessageSid", "SmsSid")}
    verdict = guard.check("/twilio/sms", params, signed(BASE + "/twilio/sms", params), NOW)
    assert (verdict.ok, verdict.status_code) == (False, 400)


def test_a_guard_needs_a_token() -> None:
    with pytest.raises(ValueError):
        WebhookGuard("", BASE, MemoryLedger(), known_phone=lambda _: True)


def test_twiml_message_escapes_and_keeps_chinese() -> None:
    xml = twiml_message("已确认 <INC-7> & 谢谢")
    root = ElementTree.fromstring(xml.encode("utf-8"))
    assert root.tag == "Response"
    assert [(m.tag, m.text) for m in root] == [("Message", "已确认 <INC-7> & 谢谢")]


def test_twiml_empty() -> None:
    root = ElementTree.fromstring(twiml_empty().encode("utf-8"))
    assert root.tag == "Response" and list(root) == []


def test_call_webhooks_are_signed_once_each_and_for_a_roster_callee() -> None:
    from handlers.twilio_webhook import VOICE_GATHER_PATH, VOICE_STATUS_PATH, twiml_call

    guard = WebhookGuard(TOKEN, BASE, MemoryLedger(), known_phone=lambda p: p == OFFICER)
    gather_url = public_url(BASE, VOICE_GATHER_PATH)
    gather = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32, "From": OUR_NUMBER, "To": OFFICER,
              "CallStatus": "in-progress", "Digits": "1"}
    assert not guard.check_call(VOICE_GATHER_PATH, gather, None, NOW)
    assert not guard.check_call(VOICE_GATHER_PATH, gather, signed(gather_url, gather, "other-token"), NOW)
    verdict = guard.check_call(VOICE_GATHER_PATH, gather, signed(gather_url, gather), NOW)
    assert verdict and verdict.kind == "gather"
    replay = guard.check_call(VOICE_GATHER_PATH, gather, signed(gather_url, gather), NOW)
    assert not replay and "replay" in replay.reason
    status_url = public_url(BASE, VOICE_STATUS_PATH)
    ended = {k: v for k, v in gather.items() if k != "Digits"} | {"CallStatus": "no-answer"}
    verdict = guard.check_call(VOICE_STATUS_PATH, ended, signed(status_url, ended), NOW)
    assert verdict and verdict.kind == "call"
    stranger = {**ended, "CallSid": "CA" + "2" * 32, "To": STRANGER}
    assert guard.check_call(VOICE_STATUS_PATH, stranger, signed(status_url, stranger), NOW).reason == \
        "call to an unknown number"
    twiml = ElementTree.fromstring(twiml_call("请按1。", "zh-CN", gather_url))
    gather_element = twiml.find("Gather")
    assert gather_element is not None and gather_element.get("numDigits") == "1"
    assert gather_element.get("action") == gather_url and gather_element.get("actionOnEmptyResult") == "true"
    assert gather_element.find("Say").get("language") == "cmn-CN"
