"""The incident desk's wiring: detections, commands, delivery receipts and clock ticks from one partition each,
through contingency.desk, to incident events and SMS notifications.

One partition and one desk: deduplication, folding downstream into upstream incidents, escalation and
acknowledgement need one ordered view of every open incident in the county. Both books are kept in memory and
written to the table an entry per part, what a batch changed, with a journal so they always change together
(handlers/desk_table.py).
"""
from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import faust
from faust.types import EventT

from contingency import CompiledPlan
from contingency import desk
from contingency.desk import Books, Enrich
from contingency.phones import mask
from contingency.plausibility import TimeBounds, implausible_time, time_bounds
from contingency.roster import Roster
from handlers.desk_table import DeskTable
from schemas import Command, DeliveryStatus, encode
from streams.agents.common import (
    BATCH_WAIT, CHANGELOG_CONFIG, JSON_TABLE, BatchHandler, Handler, Output, dead_letter, decode_or_letter,
    process_batches, send_confirmed,
)
from streams.batches import as_of, event_batches
from streams.channels import DESK_INPUTS, Channels
from streams.clocks import AgentClock

AGENT = "incidents"
DESK_BATCH = 64  # inputs a batch of the desk takes at most (a save's journal stays small: handlers.desk_table)
log = logging.getLogger("ers.incidents")


def desk_handler(ch: Channels, plan: CompiledPlan, roster: Roster, clock: AgentClock, enrich: Enrich,
                 table: MutableMapping[str, Any], bounds: TimeBounds | None = None) -> Handler:
    """One input at a time: a batch of one (the batch handler is the one implementation)."""
    handle_batch = desk_batch_handler(ch, plan, roster, clock, enrich, table, bounds)

    async def handle(event: EventT) -> None:
        await handle_batch([event])

    return handle


def desk_batch_handler(ch: Channels, plan: CompiledPlan, roster: Roster, clock: AgentClock, enrich: Enrich,
                       table: MutableMapping[str, Any], bounds: TimeBounds | None = None) -> BatchHandler:
    """The books in `table` (the worker's changelog-backed table, a dict in tests), an entry per part
    (handlers.desk_table). The desk holds them in memory between batches and reads them again only when the table
    changed under it (a recovery, a rebalance); a batch's outputs are confirmed before the parts it changed are
    written, and a batch interrupted before that is handled again from the books before it."""
    models = {ch.names.of(topic): topic.events[0] for topic in DESK_INPUTS}
    bounds = bounds or time_bounds(plan)
    store = DeskTable(table)
    held: dict[str, Any] = {"meta": None, "books": None, "counts": {}}  # as of our last save

    def current() -> tuple[Books, dict[str, int]]:
        meta = store.meta()
        if held["books"] is None or meta is not held["meta"]:
            held["books"], held["counts"] = store.load()
            held["meta"] = meta
        return held["books"], held["counts"]

    async def handle_batch(events: list[EventT]) -> None:
        start, counts = current()
        books = start
        outputs: list[Output] = []
        last = None
        for event in events:
            item, letter = decode_or_letter(event, models[event.message.topic], ch.dlq, AGENT)
            if letter is not None:
                outputs.append(letter)
                continue
            # Commands and receipts come from outside the worker too (the CLI, anything that can write to the
            # topic): their own time must be plausible, as a reading's is (detections and ticks are the worker's).
            own = (("issued_at", item.issued_at) if isinstance(item, Command)
                   else ("at", item.at) if isinstance(item, DeliveryStatus) else None)
            if own is not None and (reason := implausible_time(*own, clock.now(event), bounds)) is not None:
                outputs.append(dead_letter(ch.dlq, event, reason, AGENT))
                continue
            decision = desk.handle(plan, roster, books, item, clock.now(event), enrich)
            for e in decision.events:
                log.info("%s %s at %s", e.type, e.incident_id, e.source_id)
            # What is queued for whom at debug (the dispatcher logs each send): formatting it was a sixth of the
            # desk's time in a stream of exceedances.
            if log.isEnabledFor(logging.DEBUG):
                for n in decision.notifications:
                    log.debug("notify %s (%s): %s", n.person_id, mask(n.to), n.body.replace("\n", " ")[:60])
            stamp = clock.stamp(event)
            outputs += ([Output(ch.incidents, e.source_id, encode(e), stamp) for e in decision.events]
                        + [Output(ch.notifications, n.person_id, encode(n), stamp) for n in decision.notifications]
                        + [Output(ch.incident_states, s.key, encode(s), stamp) for s in decision.states])
            books, last = decision.books, event
        await send_confirmed(outputs)
        if books is not start and last is not None:
            with as_of(last):
                counts = store.save(start, books, counts)
            held.update(books=books, counts=counts, meta=store.meta())

    return handle_batch


def register_incident_agent(app: faust.App, ch: Channels, plan: CompiledPlan, roster: Roster, clock: AgentClock,
                            enrich: Enrich, bounds: TimeBounds) -> None:
    table = app.Table("incident_book", default=None, partitions=1, schema=JSON_TABLE,
                      extra_topic_configs=CHANGELOG_CONFIG)
    handle_batch = desk_batch_handler(ch, plan, roster, clock, enrich, table, bounds)

    async def handle(event: EventT) -> None:
        await handle_batch([event])

    @app.agent(ch.desk_input, name="ers.incidents", concurrency=1)
    async def incidents(stream: faust.StreamT) -> None:
        await process_batches(event_batches(stream, DESK_BATCH, BATCH_WAIT), handle_batch, handle, ch.dlq, AGENT)
