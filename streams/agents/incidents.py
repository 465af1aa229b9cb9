"""The incident desk's wiring: detections, commands, delivery receipts and clock ticks from one partition each,
through contingency.desk, to incident events and SMS notifications.

One partition and one book: deduplication, folding downstream into upstream incidents, escalation and
acknowledgement need one ordered view of every open incident in the county; both books live in one table entry,
so they always change together.
"""
from __future__ import annotations

import logging
from collections.abc import MutableMapping

import faust
from faust.types import EventT

from contingency import CompiledPlan
from contingency import desk
from contingency.desk import Books, Enrich
from contingency.plausibility import TimeBounds, implausible_time, time_bounds
from contingency.roster import Roster
from contingency.phones import mask
from schemas import Command, DeliveryStatus, encode
from streams.agents.common import (
    CHANGELOG_CONFIG, JSON_TABLE, Handler, Output, decode_or_dead_letter, process_each, send_confirmed, send_dead_letter,
)
from streams.channels import DESK_INPUTS, Channels
from streams.clocks import AgentClock

AGENT = "incidents"
BOOK_KEY = "book"
log = logging.getLogger("ers.incidents")


def desk_handler(ch: Channels, plan: CompiledPlan, roster: Roster, clock: AgentClock, enrich: Enrich,
                 table: MutableMapping[str, dict | None], bounds: TimeBounds | None = None) -> Handler:
    """Both books in one entry of `table` (the worker's changelog-backed table, a dict in tests)."""
    models = {ch.names.of(topic): topic.events[0] for topic in DESK_INPUTS}
    bounds = bounds or time_bounds(plan)

    async def handle(event: EventT) -> None:
        item = await decode_or_dead_letter(event, models[event.message.topic], ch.dlq, AGENT)
        if item is None:
            return
        # Commands and receipts come from outside the worker too (the CLI, anything that can write to the topic):
        # their own time must be plausible, as a reading's is (detections and ticks are the worker's own).
        own = (("issued_at", item.issued_at) if isinstance(item, Command)
               else ("at", item.at) if isinstance(item, DeliveryStatus) else None)
        if own is not None and (reason := implausible_time(*own, clock.now(event), bounds)) is not None:
            await send_dead_letter(ch.dlq, event, reason, AGENT)
            return
        stored = table.get(BOOK_KEY)
        decision = desk.handle(plan, roster, Books.from_json(stored), item, clock.now(event), enrich)
        for e in decision.events:
            log.info("%s %s at %s", e.type, e.incident_id, e.source_id)
        for n in decision.notifications:
            log.info("notify %s (%s): %s", n.person_id, mask(n.to), n.body.replace("\n", " ")[:60])
        await send_confirmed(
            [Output(ch.incidents, e.source_id, encode(e)) for e in decision.events]
            + [Output(ch.notifications, n.person_id, encode(n)) for n in decision.notifications]
            + [Output(ch.incident_states, s.key, encode(s)) for s in decision.states],
            clock.stamp(event),
        )
        new_books = decision.books.to_json()
        if new_books != stored:
            table[BOOK_KEY] = new_books

    return handle


def register_incident_agent(app: faust.App, ch: Channels, plan: CompiledPlan, roster: Roster, clock: AgentClock,
                            enrich: Enrich, bounds: TimeBounds) -> None:
    table = app.Table("incident_book", default=None, partitions=1, schema=JSON_TABLE,
                      extra_topic_configs=CHANGELOG_CONFIG)
    handle = desk_handler(ch, plan, roster, clock, enrich, table, bounds)

    @app.agent(ch.desk_input, name="ers.incidents", concurrency=1)
    async def incidents(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)
