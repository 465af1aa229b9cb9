"""A call's result for the desk (contingency.call_results): key 1 acknowledges, anything else moves on."""
from __future__ import annotations

import datetime as dt
import uuid

from contingency.call_results import CallResult, call_outcome
from schemas import Notification

NOW = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.timezone.utc)
INCIDENT = uuid.uuid4()
CALL = Notification(event_id=uuid.uuid4(), notification_id=uuid.uuid4(), person_id="duty_a", to="+8613800000101",
                    body="黄色预警,编号K7Q。确认收到请按1。", channel="voice", incident_ids=[INCIDENT], created_at=NOW,
                    drill_id="d1")


def test_key_1_is_an_acknowledgement_by_the_person_called_and_a_delivered_call() -> None:
    command, receipt = call_outcome(CallResult("aliyun", "1^2", True, "1", "200000"), CALL, "src", NOW)
    assert command is not None and (command.action, command.actor, command.channel, command.incident_id,
                                    command.source_id, command.drill_id) == ("ack", "duty_a", "voice", INCIDENT,
                                                                             "src", "d1")
    assert receipt.status == "delivered" and receipt.notification_id == CALL.notification_id
    again, _ = call_outcome(CallResult("aliyun", "1^2", True, "1", "200000"), CALL, "src", NOW)
    assert again is not None and again.event_id == command.event_id, "a result reported twice is one command"


def test_another_key_no_key_or_no_answer_is_an_undelivered_call_with_the_reason() -> None:
    cases = {CallResult("twilio", "CA1", True, "2", "completed"): "answered, pressed 2",
             CallResult("twilio", "CA2", True, "", "completed"): "answered, no key pressed",
             CallResult("aliyun", "3^4", False, "", "200003 用户收到呼叫但未接听"): "not answered (200003 用户收到呼叫但未接听)"}
    for result, reason in cases.items():
        command, receipt = call_outcome(result, CALL, None, NOW)
        assert command is None and receipt.status == "undelivered" and receipt.reason == reason
