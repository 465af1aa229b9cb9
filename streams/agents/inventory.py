"""The ledger stage: InventoryMovement events -> the SQL ledger (append-only, idempotent by event id).

A movement the ledger refuses (negative stock, unknown depot or item, wrong unit) becomes a dead letter
with the reason, and the materials officer gets an SMS.
"""
from __future__ import annotations

import asyncio
import logging

import faust
from faust.types import EventT

from contingency import Plan
from contingency.ledger import LedgerError
from contingency.material_notices import refused_movement_notices
from contingency.roster import Roster
from handlers.inventory_store import InventoryStore
from schemas import EventDecodeError, InventoryMovement, decode, encode
from streams.agents.common import Output, process_each, send_confirmed, send_dead_letter, wall_clock
from streams.channels import Channels

AGENT = "inventory"
log = logging.getLogger("ers.inventory")


def register_inventory_agent(app: faust.App, ch: Channels, plan: Plan, roster: Roster,
                             store: InventoryStore) -> None:
    async def handle(event: EventT) -> None:
        try:
            movement = decode(InventoryMovement, event.message.value)
        except EventDecodeError as exc:
            await send_dead_letter(ch.dlq, event, exc.reason, AGENT)
            return
        try:
            result = await asyncio.to_thread(store.record, movement)
        except LedgerError as exc:
            notices = refused_movement_notices(plan, roster, movement, exc, wall_clock())
            await send_confirmed([Output(ch.notifications, n.person_id, encode(n)) for n in notices])
            await send_dead_letter(ch.dlq, event, f"{exc.field}: {exc.reason}", AGENT)
            return
        log.info("ledger %s %s %s %s %g %s: %s", movement.event_id, movement.kind, movement.depot_id,
                 movement.item_id, movement.quantity, movement.unit, result.outcome)

    @app.agent(ch.inventory, name="ers.inventory", concurrency=1)
    async def inventory(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)
