"""Mailboxes: turning messages for a person into SMS, with bundling and an hourly cap.

- The first message to a person goes out at once and opens a bundling window (roster `paging.bundle_seconds`,
  default 120 s); later messages within the window are held and sent as one bundle when it ends.
- At most `paging.cap_per_hour` SMS (default 10) per person per hour, counted from the first SMS of the hour;
  beyond it messages are held and sent as one summary when the hour ends.
- Urgent messages (anything asking a person to act on a red incident) are sent at once, past window and cap.
- Replies to the person who sent a command are sent at once and not counted: they answer that person.
- Several held messages about one incident collapse to the latest (a page then "resolved" shows as resolved).

A `Desk` is the mutable working copy of a PagingBook during one call; callers see only immutable books.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from schemas.incidents import IncidentEscalated
from schemas.notifications import Notification

from contingency.ids import derive
from contingency.obligations import owed_after
from contingency.paging_state import (MAX_HELD, MAX_OWED, RECENT_CLOSED, RECENT_INPUTS, RECENT_SENT, Closed, Held,
                                      IncidentPaging, Mailbox, Owed, PagingBook, Sent)
from contingency.plan import Plan
from contingency.recent import RecentIds
from contingency.roster import Person, Roster, drill_may_reach, language_of, person_by_id, templates_for
from contingency.sms_templates import Message, compose, render, slot_language
from contingency.sms_text import (Facts, Item, bundle_text, call_params, call_text, lang, list_params, reply_params,
                                   summary_text)
from contingency.sms_text import reply as reply_text

HOUR = dt.timedelta(hours=1)


@dataclass
class Desk:
    plan: Plan
    roster: Roster
    now: dt.datetime
    incidents: dict[str, IncidentPaging]
    mailboxes: dict[str, Mailbox]
    closed: list[Closed]
    sent: list[Sent]
    applied: RecentIds
    owed: dict[str, Owed]
    notifications: list[Notification] = field(default_factory=list)
    escalations: list[IncidentEscalated] = field(default_factory=list)

    @classmethod
    def open(cls, plan: Plan, roster: Roster, book: PagingBook, now: dt.datetime) -> "Desk":
        return cls(plan, roster, now, dict(book.incidents), dict(book.mailboxes), list(book.closed),
                   list(book.sent), book.applied, dict(book.owed))

    def book(self) -> PagingBook:
        # Built from a valid book and valid parts: validating its hundreds of remembered pages again for every
        # input cost more than the input.
        owed = self.owed
        if len(owed) > MAX_OWED:
            kept = sorted(owed, key=lambda key: (owed[key].resolved_at, key))[-MAX_OWED:]
            owed = {key: owed[key] for key in kept}
        return PagingBook.model_construct(incidents=self.incidents, closed=tuple(self.closed[-RECENT_CLOSED:]),
                                          mailboxes=self.mailboxes, sent=tuple(self.sent[-RECENT_SENT:]),
                                          applied=self.applied, owed=owed)

    def remember(self, input_id: uuid.UUID) -> None:
        self.applied = self.applied.adding(str(input_id), RECENT_INPUTS)

    def close(self, record: IncidentPaging, actor: str) -> None:
        """The incident leaves the book; the reports it owes stay (contingency.obligations.owed_after)."""
        key = str(record.facts.incident_id)
        self.incidents.pop(key, None)
        self.closed.append(Closed(incident_id=record.facts.incident_id, code=record.facts.code,
                                  drill_id=record.facts.drill_id, closed_at=self.now, actor=actor))
        if record.report is not None:
            self.owed[key] = Owed(facts=record.facts, report=owed_after(record.report, self.plan, self.now),
                                  resolved_at=self.now)

    # --- sending ----------------------------------------------------------------------------------------------

    def post(self, recipient: str, held: Held, urgent: bool = False) -> None:
        person = self._reachable(recipient, held.facts)
        if person is None:
            return
        box = self.mailboxes.get(recipient, Mailbox())
        window = dt.timedelta(seconds=self.roster.paging.bundle_seconds)
        if urgent:
            self._emit(person, [held])
            box = self._counted(box).model_copy(update={"window_until": self._window_end(box)})
        elif box.capped and self._hour_over(box):
            self._emit(person, list(box.capped) + list(box.held) + [held], summary=True, more=box.capped_more)
            box = Mailbox(window_until=self.now + window, hour_start=self.now, hour_count=1)
        elif self._capped(box):
            box = _with_capped(box, box.held + (held,))
        elif box.window_until is not None and self.now < box.window_until and len(box.held) + 1 < MAX_HELD:
            box = box.model_copy(update={"held": box.held + (held,)})
        else:
            self._emit(person, list(box.held) + [held])
            box = self._counted(box).model_copy(update={"held": (), "window_until": self.now + window})
        self.mailboxes[recipient] = box

    def reply(self, person: Person | None, key: str, facts: Facts | None, cause: uuid.UUID, *, language: str,
              drill: bool, **fields: object) -> None:
        """Answer the person who sent a command (contingency.sms_text's reply `key`, with its fields)."""
        if person is None or (facts is not None and self._reachable(person.id, facts) is None):
            return
        templates = templates_for(self.roster, person)
        kind, params = reply_params(key, slot_language(templates, language), drill=drill, **fields)
        message = compose(templates, kind, params, reply_text(key, language, drill=drill, **fields))
        notification_id = derive("sms.reply", cause, person.id)
        self.notifications.append(Notification(
            event_id=notification_id, notification_id=notification_id, person_id=person.id, to=person.phone,
            body=message.body, template=message.template, params=dict(message.params),
            incident_ids=[facts.incident_id] if facts else [], created_at=self.now,
            drill_id=facts.drill_id if facts else None))

    def call(self, recipient: str, facts: Facts, cause: uuid.UUID, step: str) -> None:
        """Call `recipient` about one incident (叫应): at once, past any bundling window or hourly cap."""
        person = self._reachable(recipient, facts)
        if person is None:
            return
        language = language_of(self.roster, person)
        templates = templates_for(self.roster, person)
        kind, params = call_params(facts, language=slot_language(templates, language), tz=self.roster.tz)
        text = call_text(facts, language=language, tz=self.roster.tz)
        if templates is None or templates.voice is None:
            message = Message(text)
        else:
            message = Message(render(templates.voice.templates[kind].text, params), kind, params)
        notification_id = derive("voice.call", cause, recipient, facts.incident_id)
        self.notifications.append(Notification(
            event_id=notification_id, notification_id=notification_id, person_id=person.id, to=person.phone,
            body=message.body, channel="voice", template=message.template, params=dict(message.params),
            incident_ids=[facts.incident_id], language=lang(language), created_at=self.now, drill_id=facts.drill_id))
        self.sent.append(Sent(notification_id=notification_id, recipient=person.id, channel="voice",
                              steps={str(facts.incident_id): step}))

    def _reachable(self, recipient: str, facts: Facts) -> Person | None:
        """Drill SMS go to drill phones only (people only in a live-roster drill), whoever acted on the drill."""
        if facts.drill_id is not None and not drill_may_reach(self.roster, recipient):
            return None
        return person_by_id(self.roster, recipient)

    def flush_all(self) -> None:
        for recipient in sorted(self.mailboxes):
            self.flush(recipient)

    def flush(self, recipient: str) -> None:
        box = self.mailboxes.get(recipient)
        person = person_by_id(self.roster, recipient)
        if box is None:
            return
        if person is None:
            del self.mailboxes[recipient]
            return
        if box.capped and self._hour_over(box):
            self._emit(person, list(box.capped) + list(box.held), summary=True, more=box.capped_more)
            box = Mailbox(window_until=self.now + dt.timedelta(seconds=self.roster.paging.bundle_seconds),
                          hour_start=self.now, hour_count=1)
        elif box.held and box.window_until is not None and self.now >= box.window_until:
            if self._capped(box):
                box = _with_capped(box, box.held)
            else:
                self._emit(person, list(box.held))
                box = self._counted(box).model_copy(update={
                    "held": (), "window_until": self.now + dt.timedelta(seconds=self.roster.paging.bundle_seconds)})
        idle = not box.held and not box.capped and (box.window_until is None or self.now >= box.window_until)
        if idle and self._hour_over(box):
            del self.mailboxes[recipient]
        else:
            self.mailboxes[recipient] = box

    def _hour_over(self, box: Mailbox) -> bool:
        return box.hour_start is None or self.now >= box.hour_start + HOUR

    def _capped(self, box: Mailbox) -> bool:
        return bool(box.capped) or (not self._hour_over(box) and box.hour_count >= self.roster.paging.cap_per_hour)

    def _counted(self, box: Mailbox) -> Mailbox:
        if box.hour_start is None or self.now >= box.hour_start + HOUR:
            return box.model_copy(update={"hour_start": self.now, "hour_count": 1})
        return box.model_copy(update={"hour_count": box.hour_count + 1})

    def _window_end(self, box: Mailbox) -> dt.datetime:
        end = self.now + dt.timedelta(seconds=self.roster.paging.bundle_seconds)
        return end if box.window_until is None else max(end, box.window_until)

    def _emit(self, person: Person, messages: list[Held], summary: bool = False, more: int = 0) -> None:
        """`more`: messages a summary stands for beyond `messages` (it could not keep them all)."""
        messages = _latest_per_incident(messages)
        language = language_of(self.roster, person)
        drill = any(m.facts.drill_id for m in messages)
        if len(messages) == 1 and not summary:
            notification_id = messages[0].message_id
            message = Message(messages[0].body, messages[0].template, messages[0].params)
        else:
            items = [Item(m.kind, m.facts, m.actor) for m in messages]
            cap = self.roster.paging.cap_per_hour
            body = (summary_text(items, cap, language=language, drill=drill, more=more) if summary
                    else bundle_text(items, language=language, drill=drill))
            templates = templates_for(self.roster, person)
            kind, params = list_params("summary" if summary else "bundle", items,
                                       language=slot_language(templates, language), drill=drill,
                                       cap=cap if summary else None, more=more)
            message = compose(templates, kind, params, body)
            notification_id = derive("sms.bundle", person.id, *(m.message_id for m in messages))
        incident_ids = list(dict.fromkeys(m.facts.incident_id for m in messages))
        self.notifications.append(Notification(
            event_id=notification_id, notification_id=notification_id, person_id=person.id, to=person.phone,
            body=message.body, template=message.template, params=dict(message.params), incident_ids=incident_ids,
            created_at=self.now,
            drill_id=next((m.facts.drill_id for m in messages if m.facts.drill_id), None)))
        steps = {str(m.facts.incident_id): m.step for m in messages if m.step is not None}
        if steps:  # only pages: a failed delivery of anything else changes nothing
            self.sent.append(Sent(notification_id=notification_id, recipient=person.id, steps=steps))


def _with_capped(box: Mailbox, messages: tuple[Held, ...]) -> Mailbox:
    """`box` with `messages` over the hourly cap: kept for the summary up to MAX_HELD, counted beyond."""
    capped = box.capped + messages
    return box.model_copy(update={"capped": capped[:MAX_HELD], "held": (),
                                  "capped_more": box.capped_more + max(0, len(capped) - MAX_HELD)})


def _latest_per_incident(messages: list[Held]) -> list[Held]:
    """Keep each incident's latest message, at the place of its first one."""
    latest: dict[uuid.UUID, Held] = {}
    for message in messages:
        latest[message.facts.incident_id] = message
    order = dict.fromkeys(message.facts.incident_id for message in messages)
    return [latest[incident_id] for incident_id in order]
