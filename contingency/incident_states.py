"""The incident read model, from the desk's books: what each incident's state is after a change, and a board of
them to answer questions with (an SMS reply, `ers incidents`, a console) without the desk's own books."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from schemas.incident_states import IncidentState

from contingency.ids import derive
from contingency.paging import facts_for
from contingency.paging_state import Closed, ReportClock
from contingency.plan import Plan

if TYPE_CHECKING:
    from contingency.desk import Books


def state_of(plan: Plan, books: "Books", incident_id: str, now: dt.datetime, cause: uuid.UUID) -> IncidentState | None:
    """The state of an open incident, None if the books have no such open incident."""
    incident = books.incidents.open.get(incident_id)
    if incident is None:
        return None
    record = books.paging.incidents.get(incident_id)
    stage = record.stage if record is not None else ("acknowledged" if incident.acknowledged else "paging")
    report = record.report if record is not None else None
    return with_reports(IncidentState(
        event_id=derive("incident.state", incident_id, cause), incident_id=incident.incident_id, code=incident.code,
        source_id=incident.source_id, drill_id=incident.drill_id, kind=incident.family, rule_id=incident.rule_id,
        level=incident.level, stage=stage, firing=record.firing if record is not None else not incident.all_clear,
        facts=facts_for(plan, books.paging, incident), opened_at=incident.opened_at, changed_at=now, cause=cause,
        tier=record.tier + 1 if record is not None else None,
        next_escalation_at=record.next_at if record is not None else None,
        stations=list(record.stations) if record is not None else [],
        paged=list(record.paged) if record is not None else [],
        notified=list(record.notified) if record is not None else [],
        acknowledged_by=record.acked_by if record is not None else None, materials=incident.materials), report)


def with_reports(state: IncidentState, report: ReportClock | None, resolved: bool = False) -> IncidentState:
    """The state with what the incident's reports stand at (none owed: no report clock)."""
    if report is None:
        return state
    final = report.final
    return state.model_copy(update={
        "report_due_at": report.due_at, "report_to": list(report.to), "report_filed_at": report.filed_at,
        "report_filed_by": report.filed_by, "follow_ups": [f.at for f in report.follow_ups],
        "final_report_due_at": report.final_due_at, "final_report_filed_at": final.at if final else None,
        "final_report_filed_by": final.by if final else None,
        "reports_owed": report.filed_at is None or (resolved and final is None)})


def changed_states(plan: Plan, before: "Books", after: "Books", now: dt.datetime,
                   cause: uuid.UUID) -> list[IncidentState]:
    """The states of the incidents one input changed: opened, changed in either book, or resolved."""
    ids = sorted(set(before.incidents.open) | set(after.incidents.open))
    states = []
    for incident_id in ids:
        old_incident, new_incident = before.incidents.open.get(incident_id), after.incidents.open.get(incident_id)
        old_record, new_record = before.paging.incidents.get(incident_id), after.paging.incidents.get(incident_id)
        if old_incident == new_incident and old_record == new_record:
            continue
        state = state_of(plan, after, incident_id, now, cause)
        if state is None:  # left the book: resolved
            previous = state_of(plan, before, incident_id, now, cause)
            assert previous is not None
            closed = next((c for c in reversed(after.paging.closed) if str(c.incident_id) == incident_id), None)
            owed = after.paging.owed.get(incident_id)
            state = with_reports(previous.model_copy(update={
                "stage": "resolved", "tier": None, "next_escalation_at": None,
                "resolved_by": closed.actor if closed is not None else None,
                "resolved_at": closed.closed_at if closed is not None else now}),
                owed.report if owed is not None else None, resolved=True)
        states.append(state)
    # Resolved incidents whose reports changed (filed, reminded): from the state published at their resolution.
    for incident_id in sorted(set(before.paging.owed) | set(after.paging.owed)):
        if incident_id in ids:
            continue
        old, new = before.paging.owed.get(incident_id), after.paging.owed.get(incident_id)
        if old is None or new is None or old.report == new.report or old.state is None:
            continue  # unchanged, let go, or not yet published (the desk publishes it at the resolution)
        states.append(with_reports(old.state, new.report, resolved=True).model_copy(update={
            "event_id": derive("incident.state", incident_id, cause), "changed_at": now, "cause": cause}))
    return states


@dataclass(frozen=True)
class Board:
    """Open incidents by id, and the ones closed lately: what a reply or a console is answered from."""

    open: Mapping[str, IncidentState] = field(default_factory=dict)
    closed: tuple[Closed, ...] = ()
    owing: Mapping[str, IncidentState] = field(default_factory=dict)  # resolved, with reports still owed

    @classmethod
    def of_states(cls, states: Iterable[IncidentState]) -> "Board":
        """From read-model states in the order they were published (a later state of an incident wins)."""
        latest: dict[str, IncidentState] = {}
        for state in states:
            latest[state.key] = state
        open_ = {key: s for key, s in latest.items() if s.is_open}
        closed = sorted((s for s in latest.values() if not s.is_open), key=lambda s: (s.resolved_at or s.changed_at))
        return cls(open_, tuple(Closed(incident_id=s.incident_id, code=s.code, drill_id=s.drill_id,
                                       closed_at=s.resolved_at or s.changed_at, actor=s.resolved_by or "")
                                for s in closed),
                   {s.key: s for s in closed if s.reports_owed})

    def by_code(self, code: str) -> IncidentState | None:
        wanted = code.upper()
        return next((s for s in self.open.values() if s.code == wanted), None)

    def owing_by_code(self, code: str) -> IncidentState | None:
        """The resolved incident with this code that still owes a report (the latest resolved of those)."""
        wanted = code.upper()
        found = [s for s in self.owing.values() if s.code == wanted]
        return max(found, key=lambda s: s.resolved_at or s.changed_at) if found else None

    def supersedes(self, incident_ids: Sequence[uuid.UUID], created_at: dt.datetime) -> str | None:
        """Why a message about these incidents, still waiting for the SMS provider, is no longer worth sending:
        every one of them was resolved after the message was made. None (send it) if any is open or unknown,
        and for a message made at or after the closing (the resolved notice itself)."""
        if not incident_ids:
            return None
        closed = {c.incident_id: c for c in self.closed}
        codes = []
        for incident_id in incident_ids:
            done = closed.get(incident_id)
            if done is None or done.closed_at <= created_at:
                return None
            codes.append(done.code)
        return f"incident {', '.join(codes)} resolved before the SMS provider took the message"

    def pending_for(self, person_id: str) -> list[IncidentState]:
        """Incidents this person (or drill phone) was paged for and nobody has acknowledged, most serious first."""
        waiting = [s for s in self.open.values() if s.stage in ("paging", "exhausted") and person_id in s.paged]
        return sorted(waiting, key=lambda s: (-s.level.rank, s.facts.observed_at, s.code))


def latest(states: Iterable[IncidentState]) -> list[IncidentState]:
    """Each incident's latest state, from states in publishing order, most recently opened first."""
    by_id: dict[str, IncidentState] = {}
    for state in states:
        by_id[state.key] = state
    return sorted(by_id.values(), key=lambda s: (s.opened_at, s.code), reverse=True)


def find(states: Iterable[IncidentState], code_or_id: str) -> IncidentState | None:
    """The incident with this code (an open one before a resolved one that had it, the latest of those) or id."""
    wanted = code_or_id.strip()
    candidates = [s for s in latest(states) if s.code == wanted.upper() or str(s.incident_id) == wanted.lower()]
    return next((s for s in candidates if s.is_open), candidates[0] if candidates else None)


def board_of(plan: Plan, books: "Books", now: dt.datetime) -> Board:
    """The board the desk's books give (what the read model holds after every change has been published)."""
    cause = uuid.UUID(int=0)
    states = {key: state_of(plan, books, key, now, cause) for key in books.incidents.open}
    owing = {key: owed.state for key, owed in books.paging.owed.items()
             if owed.state is not None and owed.state.reports_owed}
    return Board({key: state for key, state in states.items() if state is not None}, books.paging.closed, owing)
