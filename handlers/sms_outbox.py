"""The database record of SMS sends (sms_outbox) and of webhooks seen (webhook_receipts), SQLite or PostgreSQL.

One row per notification: claimed before any provider call, then sent (with the provider's message id), failed,
delivered or undelivered; a state only moves forward. A claimed row with `retry_at` is waiting: the provider could
not take it (an outage, a rate limit) and the retry loop sends it then, from `payload` (the notification as
claimed), unless it was superseded. Calls (叫应) are rows too: the notification's channel says which it is.
streams/services/sms_delivery.py uses it to send each notification once; the webhooks use `remember_webhook` to
refuse replays.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import (
    CheckConstraint, Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
    insert, select, update,
)
from sqlalchemy.exc import IntegrityError

from contingency.phones import mask
from handlers.times import as_utc
from schemas.notifications import Notification

log = logging.getLogger("ers.sms")

OutboxState = Literal["claimed", "sent", "failed", "delivered", "undelivered", "superseded"]
FINISHED: frozenset[str] = frozenset({"sent", "failed", "delivered", "undelivered", "superseded"})

# The schema as Alembic revisions 0002, 0004 and 0006 create it (handlers/migrations/versions/).
metadata = MetaData()
sms_outbox = Table(
    "sms_outbox", metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("person_id", String(128), nullable=False),
    Column("to_phone", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("drill_id", String(128), nullable=True),
    Column("state", String(16), nullable=False),
    Column("provider_sid", String(64), nullable=True),
    Column("num_segments", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("retry_at", DateTime(timezone=True), nullable=True),
    Column("payload", Text, nullable=True),
    Column("claimed_by", String(200), nullable=True),
    CheckConstraint("state IN ('claimed', 'sent', 'failed', 'delivered', 'undelivered', 'superseded')",
                    name="ck_sms_outbox_state"),
    UniqueConstraint("provider_sid", name="uq_sms_outbox_provider_sid"),
    Index("ix_sms_outbox_retry_at", "retry_at"),
)
webhook_receipts = Table(
    "webhook_receipts", metadata,
    Column("message_sid", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Twilio status -> outbox state; statuses before "sent" (queued, sending, ...) change nothing.
_STATE_OF_STATUS: dict[str, OutboxState] = {
    "sent": "sent", "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}
_RANK: dict[str, int] = {"claimed": 0, "sent": 1, "failed": 2, "delivered": 2, "undelivered": 2, "superseded": 2}


def _waiting(state: str, retry_at: datetime | None) -> bool:
    return state == "claimed" and retry_at is not None


@dataclass(frozen=True)
class OutboxRecord:
    notification_id: str
    person_id: str
    to_phone: str
    body: str
    drill_id: str | None
    state: OutboxState
    provider_sid: str | None
    num_segments: int | None
    attempts: int
    claimed_at: datetime
    sent_at: datetime | None
    last_error: str | None
    updated_at: datetime
    retry_at: datetime | None = None
    payload: str | None = None
    claimed_by: str | None = None

    @property
    def waiting(self) -> bool:
        return _waiting(self.state, self.retry_at)


@dataclass(frozen=True)
class ClaimResult:
    notification_id: str
    state: OutboxState
    is_new: bool
    provider_sid: str | None
    claimed_at: datetime
    attempts: int
    retry_at: datetime | None = None
    claimed_by: str | None = None
    deferred: bool = False  # the provider could not take it: it waits for the retry loop

    @property
    def waiting(self) -> bool:
        """Held by someone else: deferred by an earlier try, or leased to the sender that claimed it. The retry loop
        sends it at `retry_at`, not whoever meets it first."""
        return not self.is_new and _waiting(self.state, self.retry_at)

    @property
    def already_done(self) -> bool:
        """Sent (or finally failed) before: never send again."""
        return self.state in FINISHED

    @property
    def needs_reconcile(self) -> bool:
        """Claimed by an earlier run that did not record a send: ask Twilio before sending."""
        return not self.is_new and self.state == "claimed"


class SmsOutbox:
    """One row per notification in sms_outbox, plus the webhook receipts; SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, notification: Notification, now: datetime, lease_until: datetime | None = None,
              claimer: str | None = None) -> ClaimResult:
        """Insert the notification as "claimed" if it is new; otherwise report the state it is in. `lease_until`:
        no one else sends it before then (`retry_at`), and if the claimer never records what happened, the retry
        loop takes it from then on (it holds the notification: `payload`). `claimer`: who claims it."""
        at = as_utc(now)
        notification_id = str(notification.notification_id)
        lease = as_utc(lease_until) if lease_until is not None else None
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(sms_outbox).values(
                    notification_id=notification_id, person_id=notification.person_id, to_phone=notification.to,
                    body=notification.body, drill_id=notification.drill_id, state="claimed", attempts=0,
                    claimed_at=at, updated_at=at, payload=notification.model_dump_json(), retry_at=lease,
                    claimed_by=claimer))
            return ClaimResult(notification_id, "claimed", True, None, at, 0, lease, claimer)
        except IntegrityError:
            existing = self.get(notification_id)
            if existing is None:  # deleted between our insert and read: nothing sensible to do but say so
                raise
            log.info("notification %s to %s already claimed: %s", notification_id, mask(existing.to_phone),
                     existing.state)
            return ClaimResult(notification_id, existing.state, False, existing.provider_sid, existing.claimed_at,
                               existing.attempts, existing.retry_at, existing.claimed_by,
                               deferred=existing.retry_at is not None and existing.last_error is not None)

    def take_over(self, notification_id: str, previous: str, claimer: str, lease_until: datetime,
                  now: datetime) -> bool:
        """Take an unfinished claim of `previous` (a sender known to be dead) for `claimer`; False if someone else
        took it first, or it was finished meanwhile."""
        with self._engine.begin() as connection:
            return connection.execute(
                update(sms_outbox)
                .where(sms_outbox.c.notification_id == notification_id, sms_outbox.c.state == "claimed",
                       sms_outbox.c.claimed_by == previous)
                .values(claimed_by=claimer, retry_at=as_utc(lease_until), updated_at=as_utc(now))).rowcount == 1

    def get(self, notification_id: str) -> OutboxRecord | None:
        found = self._records(sms_outbox.c.notification_id == notification_id)
        return found[0] if found else None

    def newest_call_to(self, phone: str) -> OutboxRecord | None:
        """The newest call (叫应) placed to `phone` (`ers sms call-answer` plays the person answering it)."""
        rows = self._records(sms_outbox.c.to_phone == phone, sms_outbox.c.provider_sid.is_not(None),
                             order_by=sms_outbox.c.sent_at.desc(), limit=50)
        return next((r for r in rows if r.payload and Notification.model_validate_json(r.payload).channel == "voice"),
                    None)

    def knows_sid(self, sid: str) -> bool:
        """Whether a notification is recorded as sent as `sid` (then it is not another notification's send)."""
        with self._engine.connect() as connection:
            return connection.execute(select(sms_outbox.c.notification_id)
                                      .where(sms_outbox.c.provider_sid == sid)).first() is not None

    def by_sid(self, sid: str) -> OutboxRecord | None:
        """The row of the message (or call) the provider knows as `sid`."""
        found = self._records(sms_outbox.c.provider_sid == sid)
        return found[0] if found else None

    def _records(self, *where, order_by=None, limit: int | None = None) -> list[OutboxRecord]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(sms_outbox).where(*where).order_by(order_by).limit(limit)).mappings().all()
        records = []
        for row in rows:
            values = dict(row)
            for column in ("claimed_at", "sent_at", "updated_at", "retry_at"):
                values[column] = as_utc(values[column]) if values[column] is not None else None
            records.append(OutboxRecord(**values))
        return records

    def note_attempt(self, notification_id: str, now: datetime) -> None:
        """Count an API call about to be made (so a crash leaves a trace of it)."""
        with self._engine.begin() as connection:
            connection.execute(update(sms_outbox).where(sms_outbox.c.notification_id == notification_id)
                               .values(attempts=sms_outbox.c.attempts + 1, updated_at=as_utc(now)))

    def mark_sent(self, notification_id: str, sid: str, segments: int, now: datetime) -> None:
        at = as_utc(now)
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(sms_outbox)
                .where(sms_outbox.c.notification_id == notification_id,
                       sms_outbox.c.state.in_(("claimed", "failed")))
                .values(state="sent", provider_sid=sid, num_segments=segments, sent_at=at, updated_at=at,
                        retry_at=None)).rowcount
        if changed != 1:
            raise LookupError(f"notification {notification_id} is not claimed (cannot mark it sent as {sid})")

    def mark_failed(self, notification_id: str, error: str, now: datetime) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(sms_outbox)
                .where(sms_outbox.c.notification_id == notification_id, sms_outbox.c.state == "claimed")
                .values(state="failed", last_error=error, updated_at=as_utc(now), retry_at=None))

    def defer(self, notification: Notification, retry_at: datetime, reason: str, now: datetime) -> None:
        """The provider did not take it: wait until `retry_at`, keeping what is needed to send it then."""
        with self._engine.begin() as connection:
            connection.execute(
                update(sms_outbox)
                .where(sms_outbox.c.notification_id == str(notification.notification_id),
                       sms_outbox.c.state == "claimed")
                .values(retry_at=as_utc(retry_at), last_error=reason, payload=notification.model_dump_json(),
                        updated_at=as_utc(now)))

    def due(self, now: datetime, limit: int = 100) -> list[OutboxRecord]:
        """Waiting rows whose time has come, oldest first."""
        return self._records(sms_outbox.c.state == "claimed", sms_outbox.c.retry_at <= as_utc(now),
                             order_by=sms_outbox.c.retry_at, limit=limit)

    def waiting_rows(self) -> list[OutboxRecord]:
        """Everything waiting for the provider or being sent, soonest first (`ers sms queue`)."""
        return self._records(sms_outbox.c.state == "claimed", sms_outbox.c.retry_at.is_not(None),
                             order_by=sms_outbox.c.retry_at)

    def lease(self, record: OutboxRecord, until: datetime, now: datetime) -> bool:
        """Take a due row for one try: moves its `retry_at` on to `until`, so another worker (or this one after a
        crash) tries it only then. False if someone else took it first."""
        if record.retry_at is None:
            return False
        with self._engine.begin() as connection:
            return connection.execute(
                update(sms_outbox)
                .where(sms_outbox.c.notification_id == record.notification_id, sms_outbox.c.state == "claimed",
                       sms_outbox.c.retry_at == as_utc(record.retry_at))
                .values(retry_at=as_utc(until), updated_at=as_utc(now))).rowcount == 1

    def mark_superseded(self, notification_id: str, reason: str, now: datetime) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(sms_outbox)
                .where(sms_outbox.c.notification_id == notification_id, sms_outbox.c.state == "claimed")
                .values(state="superseded", last_error=reason, updated_at=as_utc(now), retry_at=None))

    def record_status(self, sid: str, status: str, error_code: int | str | None, now: datetime) -> str | None:
        """Apply a delivery status from Twilio; returns the notification id, or None for an unknown sid.

        Callbacks can arrive out of order, so a state only moves forward (claimed < sent < final).
        """
        new_state = _STATE_OF_STATUS.get(status)
        with self._engine.begin() as connection:
            row = connection.execute(select(sms_outbox.c.notification_id, sms_outbox.c.state)
                                     .where(sms_outbox.c.provider_sid == sid)).first()
            if row is None:
                return None
            notification_id, state = row
            if new_state is not None and _RANK[new_state] > _RANK[state]:
                values: dict[str, object] = {"state": new_state, "updated_at": as_utc(now)}
                if error_code not in (None, ""):
                    values["last_error"] = f"status {status}, error {error_code}"
                connection.execute(update(sms_outbox).where(sms_outbox.c.notification_id == notification_id,
                                                            sms_outbox.c.state == state).values(**values))
        return str(notification_id)

    def sent_to(self, phone: str, since: datetime) -> bool:
        """Whether ERS sent anything to `phone` since `since` (a reply must answer a message)."""
        with self._engine.connect() as connection:
            row = connection.execute(select(sms_outbox.c.notification_id).where(
                sms_outbox.c.to_phone == phone, sms_outbox.c.state.in_(("sent", "delivered", "undelivered")),
                sms_outbox.c.sent_at >= as_utc(since)).limit(1)).first()
        return row is not None

    def remember_webhook(self, message_sid: str, kind: str, now: datetime) -> bool:
        """Record a webhook; False if (message_sid, kind) was seen before, i.e. this one is a replay."""
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(webhook_receipts).values(message_sid=message_sid, kind=kind,
                                                                   received_at=as_utc(now)))
        except IntegrityError:
            return False
        return True
