"""The paging book: what the incident agent remembers between inputs about calling people (serialisable)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.incident_states import IncidentState

from contingency.recent import RecentIds
from contingency.sms_text import Facts, Kind

Stage = Literal["paging", "acknowledged", "suppressed", "exhausted"]
RECENT_INPUTS = 4096
RECENT_SENT = 512   # pages only; a failed delivery is reported within minutes
RECENT_CLOSED = 256
MAX_OWED = 256      # resolved incidents whose reports are owed: beyond this the longest-resolved are let go
# A mailbox keeps at most this many messages: a bundle this full goes out at once instead of at its window's end,
# and an hourly summary counts what it cannot keep (in a storm of a thousand incidents a person's mailbox would
# otherwise hold a thousand messages: a state entry of some 700 KB, and an SMS that lists a few anyway).
MAX_HELD = 50


class _StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filing(_StateModel):
    at: dt.datetime
    by: str


class ReportClock(_StateModel):
    """The reports an incident owes (contingency.obligations): the initial one by when, to whom, and whether it was
    filed; the follow-ups filed; the final one, owed once the incident is resolved."""

    procedure: str                      # the grade whose procedure it follows
    to: tuple[str, ...]                 # roles
    due_at: dt.datetime
    reminded: tuple[float, ...] = ()    # the reminders sent, as minutes before the deadline (0: the overdue one)
    filed_at: dt.datetime | None = None
    filed_by: str | None = None
    follow_ups: tuple[Filing, ...] = ()
    final_due_at: dt.datetime | None = None   # set at the resolution when the plan gives the final report a time
    final_reminded: bool = False              # told at its deadline
    final: Filing | None = None

    @property
    def complete(self) -> bool:
        return self.filed_at is not None and self.final is not None


class IncidentPaging(_StateModel):
    """One open incident: where its escalation chain stands and who has been told."""

    facts: Facts
    stations: tuple[str, ...] = ()
    stage: Stage = "paging"
    generation: int = 0          # +1 each time a level raise restarts the chain
    round: int = 0               # 0 = first walk; up to the chain's `repeat`
    tier: int = 0                # 0-based index into the chain's tiers
    next_at: dt.datetime | None = None
    started_at: dt.datetime
    paged: tuple[str, ...] = ()      # asked to acknowledge (recipient ids: people, or drill phones in drills)
    notified: tuple[str, ...] = ()   # everyone told anything about it
    acked_by: str | None = None
    firing: bool = True
    called_step: str | None = None   # the step whose tier is being called (叫应), and who was called at it
    called: tuple[str, ...] = ()
    called_at: dt.datetime | None = None
    report: ReportClock | None = None  # the initial report it owes, when the plan sets one

    @property
    def step(self) -> str:
        return f"{self.generation}.{self.round}.{self.tier}"

    def called_now(self) -> tuple[str, ...]:
        """Who has been called at the current step."""
        return self.called if self.called_step == self.step else ()


class Owed(_StateModel):
    """A resolved incident's reports: the final one (and the initial one, if it was not filed before the resolution)
    are still owed after the incident left the books, so reminders and filings still find it."""

    facts: Facts
    report: ReportClock
    resolved_at: dt.datetime
    state: IncidentState | None = None   # as the read model last published it (set by contingency.desk)


class Closed(_StateModel):
    incident_id: uuid.UUID
    code: str
    drill_id: str | None = None
    closed_at: dt.datetime
    actor: str


class Held(_StateModel):
    """A message for one recipient: sent alone (as `body`) or as an item of a bundle or hourly summary."""

    message_id: uuid.UUID
    kind: Kind
    facts: Facts
    body: str
    actor: str = ""
    step: str | None = None   # for pages: the escalation step, so a failed delivery can move that step on
    template: str | None = None                       # as Notification.template / params
    params: dict[str, str] = Field(default_factory=dict)


class Mailbox(_StateModel):
    window_until: dt.datetime | None = None   # later messages before this are held for one bundle
    held: tuple[Held, ...] = ()
    hour_start: dt.datetime | None = None
    hour_count: int = 0
    capped: tuple[Held, ...] = ()             # over the hourly cap: one summary when the hour ends
    capped_more: int = 0                      # ... and how many more came than it keeps (MAX_HELD)


class Sent(_StateModel):
    notification_id: uuid.UUID
    recipient: str
    channel: Literal["sms", "voice"] = "sms"
    steps: dict[str, str] = {}   # incident id -> escalation step it paged


class PagingBook(_StateModel):
    incidents: dict[str, IncidentPaging] = {}
    closed: tuple[Closed, ...] = ()
    mailboxes: dict[str, Mailbox] = {}
    sent: tuple[Sent, ...] = ()
    applied: RecentIds = RecentIds()   # input event ids already handled
    owed: dict[str, Owed] = {}         # resolved incidents whose reports are owed, by incident id

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PagingBook":
        return cls.model_validate(data)

