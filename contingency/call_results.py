"""What a call's result (叫应) means for the desk: the key 1 acknowledges, as the SMS reply "1" does; anything else,
or no answer, is a call not delivered, which moves the chain on (contingency.paging.on_delivery).

Pure: the web layer passes what the provider reported and the notification the call was placed for.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from schemas.commands import Command
from schemas.notifications import DeliveryStatus, Notification

from contingency.ids import derive, receipt_id
from contingency.sms_text import CALL_KEY


@dataclass(frozen=True)
class CallResult:
    provider: str        # "aliyun" or "twilio"
    call_sid: str        # the provider's id of the call
    answered: bool
    keys: str            # what was pressed ("" for nothing)
    status: str          # the provider's words for how it ended, e.g. "200003 用户收到呼叫但未接听", "no-answer"


def call_outcome(result: CallResult, call: Notification, source_id: str | None, now: dt.datetime
                 ) -> tuple[Command | None, DeliveryStatus]:
    """The acknowledgement the call gave (None unless 1 was pressed) and its receipt for the desk."""
    acked = result.answered and result.keys[:1] == CALL_KEY
    if acked:
        reason = None
    elif result.answered:
        reason = f"answered, {'pressed ' + result.keys if result.keys else 'no key pressed'}"
    else:
        reason = f"not answered ({result.status})"
    status = "delivered" if acked else "undelivered"
    receipt = DeliveryStatus(event_id=receipt_id(call.notification_id, result.provider, status),
                             notification_id=call.notification_id, provider_sid=result.call_sid, status=status,
                             at=now, reason=reason)
    if not acked or not call.incident_ids:
        return None, receipt
    command = Command(event_id=derive("voice.ack", result.provider, result.call_sid), action="ack",
                      incident_id=call.incident_ids[0], source_id=source_id, actor=call.person_id, channel="voice",
                      issued_at=now, note=f"key {CALL_KEY} on the call", drill_id=call.drill_id)
    return command, receipt
