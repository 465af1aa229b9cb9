"""The notification outbox and delivery receipts. Kafka key: person id (notifications), notification id (status)."""
from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from schemas.base import Event, Identifier, Timestamp


class Notification(Event):
    type: Literal["notification"] = "notification"
    notification_id: uuid.UUID
    person_id: Identifier
    to: str = Field(pattern=r"^\+[1-9]\d{6,14}$", description="E.164 phone number")
    body: str = Field(min_length=1, max_length=1600)
    channel: Literal["sms", "voice"] = Field("sms", description="voice: a call (叫应) that reads `body` and asks "
                                                                 "for the key 1")
    # For a template provider (Aliyun): the message kind (contingency.sms_templates.KINDS) and its slots; `body` is
    # then that template rendered, as the phone shows it. None: free text (Twilio).
    template: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    incident_ids: list[uuid.UUID] = Field(default_factory=list)
    language: Literal["zh-CN", "en"] = Field("zh-CN", description="what `body` is written in (a call reads it "
                                                                  "out in that language)")
    created_at: Timestamp
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return self.person_id


REASON_CHARS = 500


class DeliveryStatus(Event):
    type: Literal["delivery_status"] = "delivery_status"
    notification_id: uuid.UUID
    provider_sid: str | None = None
    status: Literal["queued", "sending", "sent", "delivered", "undelivered", "failed", "received", "deferred",
                    "superseded"]
    error_code: int | None = None
    at: Timestamp
    # deferred: the provider did not take it yet (why, and when ERS tries again); superseded: why it never will be.
    reason: str | None = Field(default=None, max_length=REASON_CHARS)
    retry_at: Timestamp | None = None

    @property
    def key(self) -> str:
        return str(self.notification_id)
