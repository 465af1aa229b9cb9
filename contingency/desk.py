"""The incident desk: every input that can change an incident, in one order, to incident events and SMS.

The desk keeps two books that always change together: the incident book (contingency.incidents: which
incidents are open, deduplication, folding downstream detections into upstream incidents) and the paging book
(contingency.paging: who was called, escalation, acknowledgements, bundling). `handle` routes one input to its
domain function; every incident event it produces also goes through paging, once; and every incident it changed
comes out as an IncidentState for the read model (contingency.incident_states).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import datetime as dt
from typing import Any

from schemas.commands import Command
from schemas.detections import Detection
from schemas.incident_states import IncidentState
from schemas.notifications import DeliveryStatus, Notification
from schemas.ticks import ClockTick

from contingency.compiled import CompiledPlan
from contingency.incident_states import changed_states
from contingency.incidents import IncidentBook, IncidentEvent, apply_event, on_detection
from contingency.paging import on_clock, on_command, on_delivery, on_incident_event
from contingency.paging_state import PagingBook
from contingency.roster import Roster

# An incident event as input: one decided before, replayed from the incidents topic.
DeskInput = Detection | Command | DeliveryStatus | ClockTick | IncidentEvent
Enrich = Callable[[IncidentEvent], IncidentEvent]


@dataclass(frozen=True)
class Books:
    incidents: IncidentBook = field(default_factory=IncidentBook)
    paging: PagingBook = field(default_factory=PagingBook)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Books":
        if not data:
            return cls()
        return cls(IncidentBook.from_json(data["incidents"]), PagingBook.from_json(data["paging"]))

    def to_json(self) -> dict[str, Any]:
        return {"incidents": self.incidents.to_json(), "paging": self.paging.to_json()}


@dataclass(frozen=True)
class Decision:
    books: Books
    events: list[IncidentEvent]
    notifications: list[Notification]
    states: list[IncidentState]  # for the read model: each incident this input changed, as it stands now


def _as_is(event: IncidentEvent) -> IncidentEvent:
    return event


def handle(plan: CompiledPlan, roster: Roster, books: Books, item: DeskInput, now: dt.datetime,
           enrich: Enrich = _as_is) -> Decision:
    """The books after `item`, what it produced, and the incidents it changed. `enrich` adds what the books cannot
    know (the materials proposal, from the ledger) to new incident events before anyone is paged."""
    incidents, paging = books.incidents, books.paging
    if isinstance(item, Detection):
        incidents, events = on_detection(plan, incidents, item, now)
        events = [enrich(event) for event in events]
        for event in events:  # the book keeps what enrichment added (the materials proposal)
            incidents = apply_event(incidents, event)
        paging, notifications = _page(plan, roster, paging, events, now)
    elif isinstance(item, Command):
        paging, events, notifications = on_command(plan, roster, incidents, paging, item, now)
        for event in events:
            incidents = apply_event(incidents, event)
    elif isinstance(item, DeliveryStatus):
        paging, escalated, notifications = on_delivery(plan, roster, paging, item, now)
        events = list(escalated)
    elif isinstance(item, ClockTick):
        paging, escalated, notifications = on_clock(plan, roster, paging, item.at)
        events = list(escalated)
    else:
        incidents = apply_event(incidents, item)
        events = []
        paging, notifications = _page(plan, roster, paging, [item], now)
    states = changed_states(plan, books, Books(incidents, paging), now, item.event_id)
    return Decision(Books(incidents, _published(paging, states)), events, notifications, states)


def _published(paging: PagingBook, states: list[IncidentState]) -> PagingBook:
    """The owed reports of resolved incidents keep the state last published of each (what a later filing updates)."""
    owed = {s.key: s for s in states if s.key in paging.owed and not s.is_open}
    if not owed:
        return paging
    return paging.model_copy(update={"owed": {**paging.owed, **{
        key: paging.owed[key].model_copy(update={"state": state}) for key, state in owed.items()}}})


def _page(plan: CompiledPlan, roster: Roster, paging: PagingBook, events: list[IncidentEvent],
          now: dt.datetime) -> tuple[PagingBook, list[Notification]]:
    notifications: list[Notification] = []
    for event in events:
        paging, out = on_incident_event(plan, roster, paging, event, now)
        notifications += out
    return paging, notifications
