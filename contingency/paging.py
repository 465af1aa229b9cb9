"""Paging: who is called about an incident, when, and what they are told.

The incident agent feeds four kinds of input, in order, and keeps the returned PagingBook:

- incident events: opened -> tier 1 of the level's chain is paged and the chain's `notify` roles are told;
  a higher level -> the new level's chain restarts at tier 1 and needs a new acknowledgement (everyone told
  before gets the raise too); acknowledged -> escalation stops; resolved -> everyone told hears so;
- commands (ack / resolve / escalate / report, from SMS replies or the console; note, from the console) -> incident
  events and confirmations;
- the clock -> the next tier when a tier's wait has passed unacknowledged, then the chain again `repeat` times;
  incidents held back by a station's maintenance window are paged when it ends (if still firing); held SMS go
  out when their bundling window or capped hour ends;
- delivery receipts -> a page that failed moves an unacknowledged incident to the next tier at once; on a tier that
  calls (叫应), a page that failed or has to wait for the provider (an outage, flow control) calls that person at
  once instead, and a call not answered with 1 moves on to the next tier.

Drills never page people: each person is replaced by a drill phone (roster `drill_phones`) and every SMS starts
with 【演练】. Every id is derived from the input's id, so replaying inputs gives identical outputs.
"""
from __future__ import annotations

import datetime as dt
import uuid

from schemas.commands import Command
from schemas.incidents import (Evidence, IncidentAcknowledged, IncidentEscalated, IncidentNoted, IncidentOpened,
                               IncidentReportFiled, IncidentResolved, IncidentUpdated, WarningLevel)
from schemas.notifications import DeliveryStatus, Notification

from contingency.ids import derive
from contingency.incidents import IncidentBook, IncidentEvent, OpenIncident
from contingency.obligations import final_reminder_due, reminder_due, start_clock, tightened
from contingency.paging_mail import Desk
from contingency.paging_state import Closed, Filing, Held, IncidentPaging, Owed, PagingBook, ReportClock
from contingency.plan import EscalationChain, Plan
from contingency.roster import (Person, Roster, drill_recipient, is_drill_phone, language_of, on_duty, person_by_id,
                                templates_for, under_maintenance)
from contingency.reports import STATION_ID as REPORT_STATION
from contingency.sms_templates import compose, slot_language
from contingency.sms_text import Facts, Kind, incident_params, incident_text, local_time

FAILED = ("failed", "undelivered")


def on_incident_event(plan: Plan, roster: Roster, book: PagingBook, event: IncidentEvent,
                      now: dt.datetime) -> tuple[PagingBook, list[Notification]]:
    if str(event.event_id) in book.applied:
        return book, []
    desk = Desk.open(plan, roster, book, now)
    desk.remember(event.event_id)
    key = str(event.incident_id)
    if isinstance(event, IncidentOpened):
        _opened(desk, event)
    elif isinstance(event, IncidentUpdated):
        _updated(desk, event)
    elif isinstance(event, IncidentAcknowledged) and key in desk.incidents:
        _acknowledge(desk, desk.incidents[key], event.actor)
    elif isinstance(event, IncidentResolved) and key in desk.incidents:
        _resolve(desk, desk.incidents[key], event.actor, event.event_id, skip=None)
    return desk.book(), desk.notifications


def on_command(plan: Plan, roster: Roster, incidents: IncidentBook, book: PagingBook, command: Command,
               now: dt.datetime) -> tuple[PagingBook, list[IncidentEvent], list[Notification]]:
    if str(command.event_id) in book.applied:
        return book, [], []
    desk = Desk.open(plan, roster, book, now)
    desk.remember(command.event_id)
    sender = person_by_id(roster, command.actor)
    language = language_of(roster, sender)
    incident = _find(incidents, command)
    owed = _find_owed(desk.owed, command) if command.action == "report" else None
    if owed is not None and incident is not None and command.incident_id != owed.facts.incident_id:
        owed = None  # named by a code a new incident has now: that one
    if owed is not None:
        events = _report_command(desk, owed.facts, command, sender, language)
        for event in events:
            desk.remember(event.event_id)
        return desk.book(), events, desk.notifications
    if incident is None:
        _answer_unknown(desk, command, sender, language)
        return desk.book(), [], desk.notifications
    facts = facts_for(plan, book, incident)
    if sender is not None and is_drill_phone(roster, sender.id) and facts.drill_id is None:
        desk.reply(sender, "drill_only", facts, command.event_id, language=language, drill=True)
        return desk.book(), [], desk.notifications
    record = desk.incidents.get(str(incident.incident_id))
    if command.action == "ack":
        events: list[IncidentEvent] = _ack_command(desk, incident, record, facts, command, sender, language)
    elif command.action == "resolve":
        events = _resolve_command(desk, incident, record, facts, command, sender, language)
    elif command.action == "report":
        events = _report_command(desk, facts, command, sender, language)
    elif command.action == "note":
        events = [_note_event(incident, command)]
    else:
        _escalate_command(desk, record, facts, command, sender, language)
        events = list(desk.escalations)
    for event in events:
        desk.remember(event.event_id)  # the agent may feed them back: they are already applied here
    return desk.book(), events, desk.notifications


def on_clock(plan: Plan, roster: Roster, book: PagingBook,
             now: dt.datetime) -> tuple[PagingBook, list[IncidentEscalated], list[Notification]]:
    desk = Desk.open(plan, roster, book, now)
    for key in sorted(desk.incidents, key=lambda k: (desk.incidents[k].started_at, k)):
        record = desk.incidents[key]
        if record.stage == "suppressed":
            if record.firing and not _maintained(desk, record, now):
                _start(desk, record, "page", derive("paging.maintenance_over", key, record.generation))
        elif record.stage == "paging":
            _walk(desk, record)
        _remind_of_report(desk, key)
    for key in sorted(desk.owed, key=lambda k: (desk.owed[k].resolved_at, k)):
        if desk.owed[key].report.complete:
            del desk.owed[key]  # every report filed (and published as such by the input that filed the last one)
        else:
            _remind_of_report(desk, key)
    desk.flush_all()
    after = desk.book()
    return (book if after == book else after), desk.escalations, desk.notifications  # `is` tells "unchanged"


def on_delivery(plan: Plan, roster: Roster, book: PagingBook, status: DeliveryStatus,
                now: dt.datetime) -> tuple[PagingBook, list[IncidentEscalated], list[Notification]]:
    if status.status not in (*FAILED, "deferred") or str(status.event_id) in book.applied:
        return book, [], []
    sent = next((s for s in reversed(book.sent) if s.notification_id == status.notification_id), None)
    if sent is None:
        return book, [], []
    desk = Desk.open(plan, roster, book, now)
    desk.remember(status.event_id)
    for incident_id, step in sorted(sent.steps.items()):
        record = desk.incidents.get(incident_id)
        if record is None or record.stage != "paging" or record.step != step:
            continue  # acknowledged, closed, or already past the step that SMS belonged to
        chain = plan.chain_for(record.facts.level)
        who = _name(roster, sent.recipient)
        code = f" ({status.error_code})" if status.error_code is not None else ""
        why = f": {status.reason}" if status.reason else ""
        what = "call" if sent.channel == "voice" else "SMS"
        if sent.channel == "sms" and chain.tiers[record.tier].call and sent.recipient not in record.called_now():
            _call(desk, record, [sent.recipient], f"SMS to {who} {status.status}{code}{why}")
            continue
        if status.status == "deferred":
            continue  # it waits for the provider (contingency: the outbox retries it); the clock walks the chain
        if record.tier + 1 >= len(chain.tiers):
            continue  # no tier above: the clock keeps walking the chain
        tier = record.tier + 1
        record = _store(desk, record.model_copy(update={
            "tier": tier, "next_at": now + _wait(chain, tier)}))
        _escalate(desk, record, f"{what} to {who} {status.status}{code}{why}: tier {tier + 1} called at once",
                  "escalation")
    return desk.book(), desk.escalations, desk.notifications


def pending_for(book: PagingBook, person_id: str) -> list[Facts]:
    """Incidents this person (or drill phone) was paged for and nobody has acknowledged, most serious first."""
    waiting = [record.facts for record in book.incidents.values()
               if record.stage in ("paging", "exhausted") and person_id in record.paged]
    return sorted(waiting, key=lambda f: (-f.level.rank, f.observed_at, f.code))


def facts_for(plan: Plan, book: PagingBook, incident: OpenIncident) -> Facts:
    """What SMS say about an open incident: the paging book's snapshot, else what the incident book knows."""
    record = book.incidents.get(str(incident.incident_id))
    return record.facts if record is not None else _facts_of_open(plan, incident)


# --- incident events ------------------------------------------------------------------------------------------

def _opened(desk: Desk, event: IncidentOpened) -> None:
    key = str(event.incident_id)
    if key in desk.incidents or any(c.incident_id == event.incident_id for c in desk.closed):
        return
    facts = _facts(desk.plan, event.incident_id, event.code, event.level, event.source_id, event.title,
                   event.drill_id, event.evidence, event.occurred_at)
    if event.materials is not None:
        facts = facts.model_copy(update={"materials": event.materials.line})
    record = IncidentPaging(facts=facts, stations=_stations(desk.plan, event.source_id, event.evidence),
                            stage="suppressed", started_at=desk.now,
                            report=start_clock(desk.plan, event.source_id, event.level,  # type: ignore[arg-type]
                                               {e.parameter for e in event.evidence}, desk.now, event.rule_id))
    desk.incidents[key] = record
    if not _maintained(desk, record, event.occurred_at):
        _start(desk, record, "page", event.event_id)


def _updated(desk: Desk, event: IncidentUpdated) -> None:
    record = desk.incidents.get(str(event.incident_id))
    if record is None:
        return
    before = record.facts
    facts = before.model_copy(update={"level": max(before.level, event.level, key=lambda lv: lv.rank)})
    if event.evidence:
        facts = _facts(desk.plan, before.incident_id, before.code, facts.level, before.source_id, before.title,
                       before.drill_id, event.evidence, event.occurred_at)
    materials = event.materials.line if event.materials is not None else before.materials
    facts = facts.model_copy(update={"materials": materials})
    firing = not event.all_clear
    record = _store(desk, record.model_copy(update={"facts": facts, "firing": firing}))
    if record.stage == "suppressed":
        if firing and not _maintained(desk, record, event.occurred_at):
            _start(desk, record, "page", event.event_id)
    elif facts.level.rank > before.level.rank:
        report = tightened(record.report, desk.plan, before.source_id, facts.level,  # type: ignore[arg-type]
                           {e.parameter for e in event.evidence} | {before.parameter_id} - {""}, desk.now,
                           event.rule_id)
        record = _store(desk, record.model_copy(update={"generation": record.generation + 1, "report": report}))
        _start(desk, record, "raise", event.event_id, previous_level=before.level)


def _acknowledge(desk: Desk, record: IncidentPaging, actor: str) -> None:
    if record.stage != "acknowledged":
        _store(desk, record.model_copy(update={"stage": "acknowledged", "acked_by": actor, "next_at": None}))


def _resolve(desk: Desk, record: IncidentPaging, actor: str, cause: uuid.UUID, skip: str | None) -> None:
    _tell(desk, record, "resolved", cause, _name(desk.roster, actor), skip=skip)
    desk.close(record, actor)
    if record.report is not None and record.report.filed_at is not None:
        # The final report is owed from now on (第十二条: after the incident is dealt with): the role responsible for
        # reports hears so once; an initial report still owed keeps its own reminders.
        _to_responsible(desk, record.facts, derive("report.final_owed", record.facts.incident_id), "report_final_owed",
                        code=record.facts.code)


# --- the chain ------------------------------------------------------------------------------------------------

def _start(desk: Desk, record: IncidentPaging, kind: Kind, cause: uuid.UUID,
           previous_level: WarningLevel | None = None) -> None:
    """Page tier 1 of the chain for the record's level now, and tell the chain's `notify` roles."""
    chain = desk.plan.chain_for(record.facts.level)
    told_before = record.notified
    record = _store(desk, record.model_copy(update={
        "stage": "paging", "round": 0, "tier": 0, "next_at": desk.now + _wait(chain, 0), "started_at": desk.now,
        "acked_by": None}))
    paged = _page(desk, record, kind, cause, previous_level=previous_level)
    record = desk.incidents[str(record.facts.incident_id)]
    informed = [r for r in _recipients(desk, chain.notify, record.facts.drill_id is not None) if r not in paged]
    for recipient in informed:
        _post(desk, record, recipient, "raise" if kind == "raise" else "notify", cause, previous_level=previous_level)
    for recipient in told_before:  # told before a raise and not called again now: they hear of the raise too
        if recipient not in paged and recipient not in informed:
            _post(desk, record, recipient, "raise", cause, previous_level=previous_level)
    _store(desk, record.model_copy(update={"notified": _union(record.notified, informed)}))


def _walk(desk: Desk, record: IncidentPaging) -> None:
    """Every step whose wait has passed, each due at the end of the previous one's wait."""
    chain = desk.plan.chain_for(record.facts.level)
    while record.stage == "paging" and record.next_at is not None and record.next_at <= desk.now:
        step = _next_step(chain, record.round, record.tier)
        if step is None:
            _store(desk, record.model_copy(update={"stage": "exhausted", "next_at": None}))
            return
        current = chain.tiers[record.tier]
        if current.call:
            # 叫应: nobody acknowledged the SMS, so the tier's people are called before the chain moves on, and
            # each call gets its call_wait (one placed earlier, when an SMS failed, counts from then)
            call_wait = dt.timedelta(minutes=current.call_wait_minutes)
            uncalled = [r for r in _recipients(desk, current.roles, record.facts.drill_id is not None)
                        if r not in record.called_now()]
            if uncalled:
                record = _call(desk, record, uncalled, f"no acknowledgement within {current.wait_minutes:g} min")
                record = _store(desk, record.model_copy(update={"next_at": record.next_at + call_wait}))
                continue
            if record.called_at is not None and record.called_at + call_wait > record.next_at:
                record = _store(desk, record.model_copy(update={"next_at": record.called_at + call_wait}))
                continue
        round_, tier = step
        waited = current.wait_minutes
        record = _store(desk, record.model_copy(update={
            "round": round_, "tier": tier, "next_at": record.next_at + _wait(chain, tier)}))
        if tier == 0:
            reason = f"no acknowledgement: chain repeated ({round_}/{chain.repeat})"
            _escalate(desk, record, reason, "repeat")
        else:
            _escalate(desk, record, f"no acknowledgement within {waited:g} min: tier {tier + 1}", "escalation")


def _answer_unknown(desk: Desk, command: Command, sender: Person | None, language: str) -> None:
    closed = _find_closed(desk.closed, command)
    drill = sender is not None and is_drill_phone(desk.roster, sender.id)
    if closed is not None:
        desk.reply(sender, "closed", None, command.event_id, language=language, drill=drill, code=closed.code,
                   actor=_name(desk.roster, closed.actor), time=local_time(closed.closed_at, desk.roster.tz))
    else:
        code = command.incident_code or str(command.incident_id)[:8]
        desk.reply(sender, "not_found", None, command.event_id, language=language, drill=drill, code=code.upper())


def _ack_command(desk: Desk, incident: OpenIncident, record: IncidentPaging | None, facts: Facts, command: Command,
                 sender: Person | None, language: str) -> list[IncidentEvent]:
    drill = facts.drill_id is not None
    if (record.stage == "acknowledged") if record is not None else incident.acknowledged:
        first = record.acked_by if record is not None and record.acked_by else None
        if first != command.actor:
            desk.reply(sender, "already_acked", facts, command.event_id, language=language, drill=drill,
                       code=facts.code, actor=_name(desk.roster, first) if first else "-")
        return []
    event = IncidentAcknowledged(
        event_id=derive("incident.acknowledged", command.event_id), incident_id=incident.incident_id,
        source_id=incident.source_id, occurred_at=command.issued_at, drill_id=incident.drill_id,
        actor=command.actor, command_id=command.event_id)
    desk.reply(sender, "ack_done", facts, command.event_id, language=language, drill=drill, code=facts.code)
    if record is not None:
        _acknowledge(desk, record, command.actor)
        _tell(desk, record, "acked", command.event_id, _name(desk.roster, command.actor), skip=command.actor)
    return [event]


def _note_event(incident: OpenIncident, command: Command) -> IncidentNoted:
    """A note changes nothing the desk holds and is answered by nobody: the console that sent it shows it."""
    return IncidentNoted(event_id=derive("incident.noted", command.event_id), incident_id=incident.incident_id,
                         source_id=incident.source_id, occurred_at=command.issued_at, drill_id=incident.drill_id,
                         actor=command.actor, note=command.note, command_id=command.event_id)


def _resolve_command(desk: Desk, incident: OpenIncident, record: IncidentPaging | None, facts: Facts,
                     command: Command, sender: Person | None, language: str) -> list[IncidentEvent]:
    event = IncidentResolved(
        event_id=derive("incident.resolved", command.event_id), incident_id=incident.incident_id,
        source_id=incident.source_id, occurred_at=command.issued_at, drill_id=incident.drill_id,
        actor=command.actor, reason=command.note, command_id=command.event_id)
    desk.reply(sender, "resolve_done", facts, command.event_id, language=language, drill=facts.drill_id is not None,
               code=facts.code)
    if record is not None:
        _resolve(desk, record, command.actor, command.event_id, skip=command.actor)
    else:
        desk.closed.append(Closed(incident_id=incident.incident_id, code=incident.code, drill_id=incident.drill_id,
                                  closed_at=desk.now, actor=command.actor))
    return [event]


def _report_command(desk: Desk, facts: Facts, command: Command, sender: Person | None,
                    language: str) -> list[IncidentEvent]:
    """The person who filed a report records it: the initial report ("5 CODE", once, with whether it was on time),
    a follow-up ("6 CODE", each one, after the initial report), the final report ("7 CODE", once the incident is
    resolved: that completes what it owed)."""
    key, drill = str(facts.incident_id), facts.drill_id is not None
    clock = _report_clock(desk, key)

    def answer(reply_key: str, **fields: object) -> None:
        desk.reply(sender, reply_key, facts, command.event_id, language=language, drill=drill, code=facts.code,
                   **fields)

    if clock is None:
        answer("report_none")
        return []
    at, actor = command.issued_at, command.actor
    sequence, due_at = 1, None
    if command.report == "initial":
        if clock.filed_at is not None:
            answer("report_already", actor=_name(desk.roster, clock.filed_by or "-"),
                   time=f"{clock.filed_at.astimezone(desk.roster.tz):%H:%M}")
            return []
        clock, due_at = clock.model_copy(update={"filed_at": at, "filed_by": actor}), clock.due_at
        late = (at - clock.due_at).total_seconds() / 60
        answer("report_filed_late", late=f"{late:.0f}") if late > 0 else answer("report_filed")
    elif clock.filed_at is None:
        answer("report_initial_first")
        return []
    elif command.report == "follow_up":
        clock = clock.model_copy(update={"follow_ups": (*clock.follow_ups, Filing(at=at, by=actor))})
        sequence = len(clock.follow_ups)
        answer("report_follow_up_filed", n=str(sequence))
    elif key in desk.incidents:
        answer("report_final_open")
        return []
    elif clock.final is not None:
        answer("report_final_already", actor=_name(desk.roster, clock.final.by),
               time=local_time(clock.final.at, desk.roster.tz))
        return []
    else:
        clock, due_at = clock.model_copy(update={"final": Filing(at=at, by=actor)}), clock.final_due_at
        late = (at - due_at).total_seconds() / 3600 if due_at is not None else 0
        answer("report_final_filed_late", late=f"{late:.0f}") if late > 0 else answer("report_final_filed")
    _keep_report(desk, key, clock)
    return [IncidentReportFiled(
        event_id=derive("incident.report_filed", command.event_id), incident_id=facts.incident_id,
        source_id=facts.source_id, occurred_at=at, drill_id=facts.drill_id, actor=actor, report=command.report,
        sequence=sequence, due_at=due_at, command_id=command.event_id)]


def _report_clock(desk: Desk, key: str) -> ReportClock | None:
    """The reports an open incident owes, or a resolved one still owes."""
    record = desk.incidents.get(key)
    if record is not None:
        return record.report
    owed = desk.owed.get(key)
    return owed.report if owed is not None else None


def _keep_report(desk: Desk, key: str, clock: ReportClock) -> None:
    record = desk.incidents.get(key)
    if record is not None:
        _store(desk, record.model_copy(update={"report": clock}))
    elif key in desk.owed:
        desk.owed[key] = desk.owed[key].model_copy(update={"report": clock})


def _remind_of_report(desk: Desk, key: str) -> None:
    """Remind the role responsible for reports of an initial report not filed, before its deadline and at it, and
    of a final report at its deadline (when the plan sets one)."""
    clock = _report_clock(desk, key)
    record = desk.incidents.get(key)
    facts = record.facts if record is not None else desk.owed[key].facts if key in desk.owed else None
    if clock is None or facts is None or desk.plan.reporting.responsible is None:
        return
    minutes = reminder_due(clock, desk.plan, desk.now)  # type: ignore[arg-type]
    if minutes is not None:
        _keep_report(desk, key, clock.model_copy(update={"reminded": (*clock.reminded, minutes)}))
        cause = derive("report.reminder", facts.incident_id, clock.due_at.isoformat(), minutes)
        left = (clock.due_at - desk.now).total_seconds() / 60
        due = f"{clock.due_at.astimezone(desk.roster.tz):%H:%M}"  # within hours: the answer slot holds 35 characters
        if minutes > 0:
            _to_responsible(desk, facts, cause, "report_due", code=facts.code, time=due, left=f"{max(left, 0):.0f}")
        else:
            _to_responsible(desk, facts, cause, "report_overdue", code=facts.code, time=due)
    elif final_reminder_due(clock, desk.now) and clock.final_due_at is not None:
        _keep_report(desk, key, clock.model_copy(update={"final_reminded": True}))
        _to_responsible(desk, facts, derive("report.final_reminder", facts.incident_id, clock.final_due_at.isoformat()),
                        "report_final_overdue", code=facts.code, time=local_time(clock.final_due_at, desk.roster.tz))


def _to_responsible(desk: Desk, facts: Facts, cause: uuid.UUID, key: str, **fields: object) -> None:
    responsible = desk.plan.reporting.responsible
    if responsible is None:
        return
    drill = facts.drill_id is not None
    for recipient in _recipients(desk, [responsible], drill):
        person = person_by_id(desk.roster, recipient)
        desk.reply(person, key, facts, cause, language=language_of(desk.roster, person), drill=drill, **fields)


def _escalate_command(desk: Desk, record: IncidentPaging | None, facts: Facts, command: Command,
                      sender: Person | None, language: str) -> None:
    drill = facts.drill_id is not None
    chain = desk.plan.chain_for(facts.level)
    if record is None or record.tier + 1 >= len(chain.tiers):
        desk.reply(sender, "top_tier", facts, command.event_id, language=language, drill=drill, code=facts.code)
        return
    tier = record.tier + 1
    if record.stage == "acknowledged":  # the one handling it asks for help: page, but no timer
        update: dict[str, object] = {"tier": tier}
    else:
        update = {"tier": tier, "stage": "paging", "next_at": desk.now + _wait(chain, tier)}
    record = _store(desk, record.model_copy(update=update))
    paged = _escalate(desk, record, f"escalated by {command.actor}", "escalation")
    names = "、".join(_name(desk.roster, r) for r in paged) or "-"
    desk.reply(sender, "escalated", facts, command.event_id, language=language, drill=drill, code=facts.code,
               tier=tier + 1, names=names)


def _escalate(desk: Desk, record: IncidentPaging, reason: str, kind: Kind) -> list[str]:
    event = IncidentEscalated(
        event_id=derive("incident.escalated", record.facts.incident_id, record.generation, record.round, record.tier),
        incident_id=record.facts.incident_id, source_id=record.facts.source_id, occurred_at=desk.now,
        drill_id=record.facts.drill_id, tier=record.tier + 1, reason=reason[:500])
    desk.escalations.append(event)
    return _page(desk, record, kind, event.event_id)


def _page(desk: Desk, record: IncidentPaging, kind: Kind, cause: uuid.UUID,
          previous_level: WarningLevel | None = None) -> list[str]:
    chain = desk.plan.chain_for(record.facts.level)
    recipients = _recipients(desk, chain.tiers[record.tier].roles, record.facts.drill_id is not None)
    for recipient in recipients:
        _post(desk, record, recipient, kind, cause, previous_level=previous_level, step=record.step)
    current = desk.incidents[str(record.facts.incident_id)]
    _store(desk, current.model_copy(update={
        "paged": _union(current.paged, recipients), "notified": _union(current.notified, recipients)}))
    return recipients


def _call(desk: Desk, record: IncidentPaging, recipients: list[str], reason: str) -> IncidentPaging:
    """叫应: call `recipients` about the incident now (never bundled, never capped: a call is the last resort of
    its tier); the call says which key acknowledges. The timeline hears why, as an escalation of the same tier."""
    already = record.called_now()
    recipients = [r for r in recipients if r not in already]
    if not recipients:  # everyone was called at this step already (their SMS failed), or nobody is on duty
        return _store(desk, record.model_copy(update={"called_step": record.step, "called": already}))
    names = "、".join(_name(desk.roster, r) for r in recipients)
    event = IncidentEscalated(
        event_id=derive("incident.called", record.facts.incident_id, record.step, *recipients),
        incident_id=record.facts.incident_id, source_id=record.facts.source_id, occurred_at=desk.now,
        drill_id=record.facts.drill_id, tier=record.tier + 1, reason=f"{reason}: calling {names} (叫应)"[:500])
    desk.escalations.append(event)
    for recipient in recipients:
        desk.call(recipient, record.facts, event.event_id, record.step)
    return _store(desk, record.model_copy(update={"called_step": record.step, "called": already + tuple(recipients),
                                                  "called_at": desk.now, "paged": _union(record.paged, recipients)}))


def _next_step(chain: EscalationChain, round_: int, tier: int) -> tuple[int, int] | None:
    if tier + 1 < len(chain.tiers):
        return round_, tier + 1
    if round_ < chain.repeat:
        return round_ + 1, 0
    return None


def _wait(chain: EscalationChain, tier: int) -> dt.timedelta:
    return dt.timedelta(minutes=chain.tiers[tier].wait_minutes)


# --- messages -------------------------------------------------------------------------------------------------

def _post(desk: Desk, record: IncidentPaging, recipient: str, kind: Kind, cause: uuid.UUID, *,
          previous_level: WarningLevel | None = None, step: str | None = None, actor: str = "") -> None:
    person = person_by_id(desk.roster, recipient)
    if person is None:
        return
    facts = desk.incidents.get(str(record.facts.incident_id), record).facts
    waited = (desk.now - record.started_at).total_seconds() // 60
    language = language_of(desk.roster, person)
    body = incident_text(kind, facts, language=language, tz=desk.roster.tz, actor=actor,
                         waited_minutes=waited, previous_level=previous_level, round_number=record.round + 1,
                         extra_line=facts.materials or None)
    templates = templates_for(desk.roster, person)
    template, params = incident_params(kind, facts, language=slot_language(templates, language), tz=desk.roster.tz,
                                       actor=actor, waited_minutes=waited, round_number=record.round + 1)
    message = compose(templates, template, params, body)
    held = Held(message_id=derive("sms", cause, recipient, kind, facts.incident_id), kind=kind, facts=facts,
                body=message.body, actor=actor, step=step, template=message.template, params=dict(message.params))
    urgent = facts.level == WarningLevel.RED and kind in ("page", "escalation", "repeat", "raise", "notify")
    desk.post(recipient, held, urgent=urgent)


def _tell(desk: Desk, record: IncidentPaging, kind: Kind, cause: uuid.UUID, actor_name: str,
          skip: str | None) -> None:
    for recipient in record.notified:
        if recipient != skip:
            _post(desk, record, recipient, kind, cause, actor=actor_name)


def _recipients(desk: Desk, roles: list[str], drill: bool) -> list[str]:
    """Who holds the roles now; in a drill, the drill phones standing in for them (never the people)."""
    out: list[str] = []
    for role in roles:
        for person in on_duty(desk.roster, role, desk.now):
            recipient = drill_recipient(desk.roster, person.id) if drill else person.id
            if recipient is not None and recipient not in out:
                out.append(recipient)
    return out


# --- facts and lookups ----------------------------------------------------------------------------------------

def _facts(plan: Plan, incident_id: uuid.UUID, code: str, level: WarningLevel, source_id: str, title: str,
           drill_id: str | None, evidence: list[Evidence], occurred_at: dt.datetime) -> Facts:
    source = plan.sources.get(source_id)
    first = evidence[0] if evidence else None
    fields: dict[str, object] = {}
    if first is not None and first.station_id != REPORT_STATION:  # a report's title says more than its distance
        fields = {"parameter_id": first.parameter, "parameter": first.parameter_name or first.parameter,
                  "value": first.value, "unit": first.unit, "limit": first.limit}
    return Facts(incident_id=incident_id, code=code, level=level, source_id=source_id,
                 place=source.name if source else source_id, title=title, drill_id=drill_id,
                 observed_at=first.observed_at if first else occurred_at, **fields)


def _facts_of_open(plan: Plan, incident: OpenIncident) -> Facts:
    rule = plan.rules.get(incident.rule_id)
    return _facts(plan, incident.incident_id, incident.code, incident.level, incident.source_id,
                  rule.title if rule else "", incident.drill_id, [], incident.last_observed_at)


def _stations(plan: Plan, source_id: str, evidence: list[Evidence]) -> tuple[str, ...]:
    named = [e.station_id for e in evidence]
    if not named:
        named = [sid for sid, station in plan.stations.items() if station.source == source_id]
    return tuple(dict.fromkeys(named))


def _maintained(desk: Desk, record: IncidentPaging, at: dt.datetime) -> bool:
    return bool(record.stations) and all(under_maintenance(desk.roster, s, at) for s in record.stations)


def _find(incidents: IncidentBook, command: Command) -> OpenIncident | None:
    if command.incident_id is not None:
        found = incidents.open.get(str(command.incident_id))
        if found is not None:
            return found
    return incidents.by_code(command.incident_code) if command.incident_code else None


def _find_owed(owed: dict[str, Owed], command: Command) -> Owed | None:
    if command.incident_id is not None and str(command.incident_id) in owed:
        return owed[str(command.incident_id)]
    code = (command.incident_code or "").upper()
    matches = [o for o in owed.values() if code and o.facts.code == code]
    return max(matches, key=lambda o: o.resolved_at) if matches else None


def _find_closed(closed: list[Closed], command: Command) -> Closed | None:
    for entry in reversed(closed):
        if entry.incident_id == command.incident_id or (
                command.incident_code and entry.code == command.incident_code.upper()):
            return entry
    return None


def _name(roster: Roster, person_id: str) -> str:
    person = person_by_id(roster, person_id)
    return person.name if person is not None else person_id


def _store(desk: Desk, record: IncidentPaging) -> IncidentPaging:
    desk.incidents[str(record.facts.incident_id)] = record
    return record


def _union(first: tuple[str, ...], *more: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    out = list(first)
    for group in more:
        out += [item for item in group if item not in out]
    return tuple(out)
