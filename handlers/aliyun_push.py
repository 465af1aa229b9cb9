"""Checking Aliyun's HTTP batch pushes: delivery reports (SmsReport), replies (SmsUp) and call results (VoiceReport).

Aliyun does not sign these pushes, so they are guarded otherwise:
- the URL carries a secret token (`/aliyun/report/<token>`, `/aliyun/sms-up/<token>`, `/aliyun/voice-report/<token>`),
  compared in constant time;
  a push without it, or with another, is refused (403) whole;
- optionally the sender's address must be in an allow-list (ERS_ALIYUN_PUSH_ALLOW);
- each reply must come from a roster number that ERS has sent a message to in the last days, and each item is
  accepted once (replies by sequence_id, reports by biz_id and outcome, call results by call_id): a replayed push
  changes nothing; a call result must be for a roster number, and the web layer checks that ERS placed that call
  to that number before it remembers the call id.
An authentic push is answered {"code": 0} even when some of its items are refused (Aliyun would otherwise push
them again); every refusal is logged with its reason.

Framework-free: the web layer passes the token from the path, the peer address and the parsed JSON body.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from contingency.phones import e164_of, mask

log = logging.getLogger("ers.webhook.aliyun")

REPORT_PATH = "/aliyun/report"      # + /<token>
SMS_UP_PATH = "/aliyun/sms-up"      # + /<token>
VOICE_REPORT_PATH = "/aliyun/voice-report"  # + /<token>
ANSWER_SECONDS = timedelta(days=3)  # a reply must come within this of a message ERS sent to that number
OK_ANSWER = {"code": 0, "msg": "接收成功"}


class ReplayLedger(Protocol):
    def remember_webhook(self, message_sid: str, kind: str, now: datetime) -> bool: ...

    def sent_to(self, phone: str, since: datetime) -> bool: ...


@dataclass(frozen=True)
class Reply:
    phone: str          # E.164
    content: str
    dest_code: str
    sequence_id: str


@dataclass(frozen=True)
class Report:
    biz_id: str
    out_id: str
    phone: str          # E.164
    success: bool
    err_code: str


@dataclass(frozen=True)
class CallReport:
    call_id: str
    out_id: str
    phone: str          # the callee, E.164
    status_code: str    # 200000: heard it all; 200001 hung up early; 200002 busy; 200003 no answer; ...
    status_msg: str
    dtmf: str           # the keys pressed


ANSWERED = frozenset({"200000", "200001", "200008"})
VOICE_REPLAY_KIND = "voice"  # webhook_receipts kind of a call result, under "aliyun-voice:<call_id>"  # the call was picked up (200008: no key before the timeout)


@dataclass
class PushVerdict:
    status: int                                    # 200, or 403 for a push refused whole
    reason: str = "ok"
    replies: list[Reply] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    calls: list[CallReport] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class AliyunPushGuard:
    def __init__(self, token: str, ledger: ReplayLedger, known_phone: Callable[[str], bool],
                 allow: Sequence[str] = ()) -> None:
        if not token or len(token) < 16:
            raise ValueError("the push token must be a secret of 16 characters or more (ERS_ALIYUN_PUSH_TOKEN)")
        self._token = token
        self._ledger = ledger
        self._known_phone = known_phone
        self._allow = [ipaddress.ip_network(a.strip(), strict=False) for a in allow if a.strip()]

    def check(self, kind: Literal["report", "up", "voice"], token: str | None, peer: str | None, body: Any,
              now: datetime) -> PushVerdict:
        if not token or not hmac.compare_digest(token.encode(), self._token.encode()):
            return self._refuse_all("no or wrong push token", kind, peer)
        if self._allow and not _allowed(peer, self._allow):
            return self._refuse_all("sender not in ERS_ALIYUN_PUSH_ALLOW", kind, peer)
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            return self._refuse_all("not a JSON array of objects", kind, peer, status=400)
        verdict = PushVerdict(200)
        for item in body:
            if kind == "up":
                self._reply(item, now, verdict)
            elif kind == "voice":
                self._call(item, now, verdict)
            else:
                self._report(item, now, verdict)
        return verdict

    def _reply(self, item: dict, now: datetime, verdict: PushVerdict) -> None:
        phone = e164_of(str(item.get("phone_number", "")))
        sequence = str(item.get("sequence_id", ""))
        reason = None
        if not sequence or not item.get("phone_number"):
            reason = "no phone_number or sequence_id"
        elif not self._known_phone(phone):
            reason = "unknown number"
        elif not self._ledger.sent_to(phone, now - ANSWER_SECONDS):
            reason = "no message of ERS to answer"
        elif not self._ledger.remember_webhook(f"aliyun-up:{sequence}", "inbound", now):
            reason = f"replay of sequence {sequence}"
        if reason is not None:
            log.warning("aliyun SmsUp refused: %s (from %s)", reason, mask(phone))
            verdict.refused.append(reason)
            return
        verdict.replies.append(Reply(phone, str(item.get("content", "")), str(item.get("dest_code", "")), sequence))

    def _report(self, item: dict, now: datetime, verdict: PushVerdict) -> None:
        biz_id = str(item.get("biz_id", ""))
        success = item.get("success") is True
        reason = None
        if not biz_id:
            reason = "no biz_id"
        elif not self._ledger.remember_webhook(f"aliyun-report:{biz_id}", "delivered" if success else "failed",
                                               now):
            reason = f"replay of report {biz_id}"
        if reason is not None:
            log.warning("aliyun SmsReport refused: %s", reason)
            verdict.refused.append(reason)
            return
        verdict.reports.append(Report(biz_id, str(item.get("out_id") or ""),
                                      e164_of(str(item.get("phone_number", ""))), success,
                                      str(item.get("err_code") or "")))

    def _call(self, item: dict, now: datetime, verdict: PushVerdict) -> None:
        call_id = str(item.get("call_id", ""))
        phone = e164_of(str(item.get("callee", "")))
        reason = None
        if not call_id or not item.get("callee"):
            reason = "no call_id or callee"
        elif not self._known_phone(phone):
            reason = "call to an unknown number"
        # replays are refused by the web layer once the result is known to match a call ERS placed to that
        # number (`VOICE_REPLAY_KIND`): remembering it here would let a push naming another callee spend the call id
        if reason is not None:
            log.warning("aliyun VoiceReport refused: %s (to %s)", reason, mask(phone))
            verdict.refused.append(reason)
            return
        verdict.calls.append(CallReport(call_id, str(item.get("out_id") or ""), phone, str(item.get("status_code", "")),
                                        str(item.get("status_msg") or ""), str(item.get("dtmf") or "")))

    @staticmethod
    def _refuse_all(reason: str, kind: str, peer: str | None, status: int = 403) -> PushVerdict:
        name = {"up": "SmsUp", "voice": "VoiceReport"}.get(kind, "SmsReport")
        log.warning("aliyun %s push refused: %s (from %s)", name, reason, peer)
        return PushVerdict(status, reason, refused=[reason])


def _allowed(peer: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    return any(address in network for network in networks)
