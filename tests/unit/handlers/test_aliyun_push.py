"""Aliyun's unsigned pushes, guarded (handlers.aliyun_push): token, allow-list, number, a message to answer, replays."""
from __future__ import annotations

import datetime as dt

import pytest

from handlers.aliyun_push import AliyunPushGuard

NOW = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)
TOKEN = "s3cret-token-of-24-chars"
OFFICER = "+8613800000001"


class Ledger:
    def __init__(self, sent: set[str]) -> None:
        self.sent, self.seen = sent, set()

    def remember_webhook(self, message_sid: str, kind: str, now: dt.datetime) -> bool:
        if (message_sid, kind) in self.seen:
            return False
        self.seen.add((message_sid, kind))
        return True

    def sent_to(self, phone: str, since: dt.datetime) -> bool:
        return phone in self.sent


def guard(allow: tuple[str, ...] = (), sent: set[str] | None = None) -> AliyunPushGuard:
    return AliyunPushGuard(TOKEN, Ledger({OFFICER} if sent is None else sent),
                           known_phone=lambda p: p in (OFFICER, "+8613800000002"), allow=allow)


def up(phone: str = "13800000001", sequence: int = 1, content: str = "1") -> list[dict]:
    return [{"phone_number": phone, "content": content, "dest_code": "06309", "sequence_id": sequence,
             "send_time": "2026-12-03 16:00:00"}]


def test_a_good_reply_passes_once() -> None:
    g = guard()
    verdict = g.check("up", TOKEN, "10.0.0.1", up(), NOW)
    assert verdict.status == 200 and [(r.phone, r.content, r.dest_code) for r in verdict.replies] == [
        (OFFICER, "1", "06309")]
    again = g.check("up", TOKEN, "10.0.0.1", up(), NOW)
    assert again.status == 200 and again.replies == [] and again.refused == ["replay of sequence 1"]


@pytest.mark.parametrize("token", [None, "", "s3cret-token-of-24-chaRS", TOKEN + "x"])
def test_no_or_another_token_refuses_the_whole_push(token) -> None:
    verdict = guard().check("up", token, "10.0.0.1", up(), NOW)
    assert verdict.status == 403 and verdict.replies == [] and verdict.reason == "no or wrong push token"


def test_the_allow_list_is_checked_when_set() -> None:
    assert guard(("100.64.0.0/10",)).check("up", TOKEN, "100.100.1.2", up(), NOW).replies
    refused = guard(("100.64.0.0/10",)).check("up", TOKEN, "10.0.0.1", up(), NOW)
    assert refused.status == 403 and refused.reason == "sender not in ERS_ALIYUN_PUSH_ALLOW"
    assert guard(("100.64.0.0/10",)).check("up", TOKEN, None, up(), NOW).status == 403


def test_unknown_numbers_and_numbers_ers_never_wrote_to_are_refused_item_by_item() -> None:
    push = up("13999999999", 2) + up("13800000002", 3) + up("13800000001", 4)
    verdict = guard().check("up", TOKEN, "10.0.0.1", push, NOW)
    assert verdict.status == 200 and [r.sequence_id for r in verdict.replies] == ["4"]
    assert verdict.refused == ["unknown number", "no message of ERS to answer"]


def test_reports_pass_once_per_outcome_and_garbage_is_a_400() -> None:
    g = guard()
    report = [{"biz_id": "123^0", "out_id": "ab", "phone_number": "13800000001", "success": False,
               "err_code": "MK:0001"}]
    [first] = g.check("report", TOKEN, None, report, NOW).reports
    assert not first.success and first.err_code == "MK:0001" and first.phone == OFFICER
    assert g.check("report", TOKEN, None, report, NOW).reports == []
    assert g.check("report", TOKEN, None, {"not": "a list"}, NOW).status == 400


def test_a_short_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        AliyunPushGuard("short", Ledger(set()), lambda p: True)


def voice_item(call_id: str = "1234^5678", callee: str = "13800000001", dtmf: str = "1") -> list[dict]:
    return [{"call_id": call_id, "callee": callee, "status_code": "200000", "status_msg": "用户听完语音",
             "dtmf": dtmf, "out_id": "0123456789abcde"}]


def test_a_call_result_passes_for_a_roster_number_only() -> None:
    g = guard()
    verdict = g.check("voice", TOKEN, "10.0.0.1", voice_item(), NOW)
    assert [(c.call_id, c.phone, c.dtmf, c.status_code) for c in verdict.calls] == [
        ("1234^5678", OFFICER, "1", "200000")]
    # replays are refused once the web layer matched the call (streams.web.call_result): not spent here
    assert len(g.check("voice", TOKEN, "10.0.0.1", voice_item(), NOW).calls) == 1
    stranger = g.check("voice", TOKEN, "10.0.0.1", voice_item("9^9", "13999999999"), NOW)
    assert stranger.calls == [] and stranger.refused == ["call to an unknown number"]
    assert g.check("voice", "wrong-token-of-some-length", "10.0.0.1", voice_item("8^8"), NOW).status == 403
