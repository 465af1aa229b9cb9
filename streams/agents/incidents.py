"""The incident desk: detections, commands, delivery receipts and clock ticks -> incident lifecycle
events and SMS notifications.

One partition and one book: deduplication, folding downstream into upstream incidents, escalation
and acknowledgement need one ordered view of every open incident in the county. The incident book
(contingency.incidents) and the paging book (contingency.paging) live together in one table entry,
so they always change together.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import faust
from faust.types import EventT

from contingency import IncidentBook, Plan, apply_event, on_detection
from contingency.paging import PagingBook, on_clock, on_command, on_delivery, on_incident_event
from contingency.roster import Roster
from contingency.phones import mask
from schemas import ClockTick, Command, DeliveryStatus, Detection, Notification, encode
from schemas.incidents import IncidentEvent
from streams.agents.common import JSON_TABLE, Output, decode_or_dead_letter, process_each, send_confirmed
from streams.channels import DESK_INPUTS, Channels
from streams.clocks import AgentClock

AGENT = "incidents"
BOOK_KEY = "book"
log = logging.getLogger("ers.incidents")


@dataclass
class Books:
    incidents: IncidentBook
    paging: PagingBook

    @classmethod
    def from_json(cls, data: dict | None) -> "Books":
        if not data:
            return cls(IncidentBook(), PagingBook())
        return cls(IncidentBook.from_json(data["incidents"]), PagingBook.from_json(data["paging"]))

    def to_json(self) -> dict:
        return {"incidents": self.incidents.to_json(), "paging": self.paging.to_json()}


@dataclass
class Decision:
    events: list[IncidentEvent]
    notifications: list[Notification]


Enrich = Callable[[IncidentEvent], IncidentEvent]


def decide(plan: Plan, roster: Roster, books: Books, item: Detection | Command | DeliveryStatus | ClockTick,
           now_: Callable[[], object], enrich: Enrich = lambda event: event) -> Decision:
    """Route one input to its domain function; every incident event also goes through paging. `enrich` adds
    what the incident book cannot know (the materials proposal, from the ledger) before anyone is paged."""
    events: list[IncidentEvent] = []
    notes: list[Notification] = []
    if isinstance(item, Detection):
        books.incidents, events = on_detection(plan, books.incidents, item, now_())
        events = [enrich(event) for event in events]
        for event in events:
            books.paging, paged = on_incident_event(plan, roster, books.paging, event, now_())
            notes += paged
    elif isinstance(item, Command):
        books.paging, events, notes = on_command(plan, roster, books.incidents, books.paging, item, now_())
        for event in events:
            books.incidents = apply_event(books.incidents, event)
    elif isinstance(item, DeliveryStatus):
        books.paging, escalated, notes = on_delivery(plan, roster, books.paging, item, now_())
        events = list(escalated)
    else:
        books.paging, escalated, notes = on_clock(plan, roster, books.paging, item.at)
        events = list(escalated)
    return Decision(events, notes)


@dataclass(frozen=True)
class DeskView:
    """Read-only access to the desk's current books, for the SMS webhook (same worker process)."""

    table: faust.Table

    def books(self) -> Books:
        return Books.from_json(self.table.get(BOOK_KEY))


def register_incident_agent(app: faust.App, ch: Channels, plan: Plan, roster: Roster, clock: AgentClock,
                            enrich: Enrich = lambda event: event) -> DeskView:
    table = app.Table("incident_book", default=None, partitions=1, schema=JSON_TABLE)
    models = {ch.names.of(topic): topic.events[0] for topic in DESK_INPUTS}

    async def handle(event: EventT) -> None:
        item = await decode_or_dead_letter(event, models[event.message.topic], ch.dlq, AGENT)
        if item is None:
            return
        stored = table.get(BOOK_KEY)
        books = Books.from_json(stored)
        decision = decide(plan, roster, books, item, lambda: clock.now(event), enrich)
        for e in decision.events:
            log.info("%s %s at %s", e.type, e.incident_id, e.source_id)
        for n in decision.notifications:
            log.info("notify %s (%s): %s", n.person_id, mask(n.to), n.body.replace("\n", " ")[:60])
        await send_confirmed(
            [Output(ch.incidents, e.source_id, encode(e)) for e in decision.events]
            + [Output(ch.notifications, n.person_id, encode(n)) for n in decision.notifications],
            clock.stamp(event),
        )
        new_books = books.to_json()
        if new_books != stored:
            table[BOOK_KEY] = new_books

    @app.agent(ch.desk_input, name="ers.incidents", concurrency=1)
    async def incidents(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)

    return DeskView(table)
