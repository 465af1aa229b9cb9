"""The incident stage: detections -> contingency.incidents -> incident lifecycle events.

One partition and one book: deduplication and folding downstream into upstream incidents need
one ordered view of every open incident in the county.
"""
from __future__ import annotations

import logging

import faust
from faust.types import EventT

from contingency import IncidentBook, Plan, on_detection
from schemas import Detection, EventDecodeError, decode, encode
from streams.agents.common import JSON_TABLE, Output, send_confirmed, send_dead_letter, wall_clock
from streams.channels import Channels

AGENT = "incidents"
BOOK_KEY = "book"
log = logging.getLogger("ers.incidents")


def register_incident_agent(app: faust.App, ch: Channels, plan: Plan) -> None:
    table = app.Table("incident_book", default=None, partitions=1, schema=JSON_TABLE)

    async def handle(event: EventT) -> None:
        try:
            detection = decode(Detection, event.message.value)
        except EventDecodeError as exc:
            await send_dead_letter(ch.dlq, event, exc.reason, AGENT)
            return
        stored = table.get(BOOK_KEY)
        book = IncidentBook() if stored is None else IncidentBook.from_json(stored)
        book, events = on_detection(plan, book, detection, wall_clock())
        for e in events:
            log.info("%s %s at %s", e.type, e.incident_id, e.source_id)
        await send_confirmed(Output(ch.incidents, e.source_id, encode(e)) for e in events)
        new_book = book.to_json()
        if new_book != stored:
            table[BOOK_KEY] = new_book

    @app.agent(ch.detections, name="ers.incidents", concurrency=1)
    async def incidents(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                await handle(event)
            except Exception as exc:  # an agent must never stop on one message
                log.exception("incidents failed at offset %d", event.message.offset)
                await send_dead_letter(ch.dlq, event, f"internal error: {type(exc).__name__}: {exc}", AGENT)
