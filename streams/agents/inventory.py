"""The ledger stage: InventoryMovement events -> the SQL ledger (append-only, idempotent by event id).

A movement the ledger refuses (negative stock, unknown depot or item, wrong unit) becomes a dead letter
with the reason, and the materials officer gets an SMS: the first refusal of each 15 minutes only. Once a day (08:00 local time, or at the
first check after it) the materials officer gets one SMS listing lots that expire within 30 days
and stock below its minimum.
"""
from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

import faust
from faust.types import EventT

from contingency import CompiledPlan
from contingency.ids import derive
from contingency.ledger import LedgerError, below_minimum, expiring
from contingency.material_notices import housekeeping_notices, refusal_notice_key, refused_movement_notices
from contingency.plausibility import TimeBounds, time_bounds, time_problem
from contingency.roster import Roster
from handlers.database import claim_once, is_claimed
from handlers.inventory_store import InventoryStore
from schemas import InventoryMovement, encode
from streams.agents.common import (
    Handler, Output, decode_or_dead_letter, process_each, send_confirmed, send_dead_letter,
)
from streams.channels import Channels
from streams.clocks import AgentClock, wall_clock

AGENT = "inventory"
HOUSEKEEPING_HOUR = 8  # local time of the daily stock check
log = logging.getLogger("ers.inventory")


def ledger_handler(ch: Channels, plan: CompiledPlan, roster: Roster, store: InventoryStore,
                   clock: AgentClock, bounds: TimeBounds | None = None) -> Handler:
    bounds = bounds or time_bounds(plan)

    async def handle(event: EventT) -> None:
        movement = await decode_or_dead_letter(event, InventoryMovement, ch.dlq, AGENT)
        if movement is None:
            return
        try:
            problem = time_problem(movement.occurred_at, clock.now(event), bounds)
            if problem is not None:
                raise LedgerError("occurred_at", problem)
            result = await asyncio.to_thread(store.record, movement, clock.now(event))
        except LedgerError as exc:
            now = clock.now(event)
            key = refusal_notice_key(plan, now)
            if not await asyncio.to_thread(is_claimed, store.engine, key):  # the window's first refusal
                notices = refused_movement_notices(plan, roster, movement, exc, now)
                await send_confirmed([Output(ch.notifications, n.person_id, encode(n)) for n in notices],
                                     clock.stamp(event))
                # Claimed after the notices are out: a crash in between tells this refusal again, with the same
                # notification ids, which the SMS outbox sends once.
                await asyncio.to_thread(claim_once, store.engine, key, "refused-movement-notice", now)
            await send_dead_letter(ch.dlq, event, f"{exc.field}: {exc.reason}", AGENT)
            return
        log.info("ledger %s %s %s %s %g %s: %s", movement.event_id, movement.kind, movement.depot_id,
                 movement.item_id, movement.quantity, movement.unit, result.outcome)

    return handle


def register_inventory_agent(app: faust.App, ch: Channels, plan: CompiledPlan, roster: Roster,
                             store: InventoryStore, clock: AgentClock, bounds: TimeBounds) -> None:
    handle = ledger_handler(ch, plan, roster, store, clock, bounds)

    @app.agent(ch.inventory, name="ers.inventory", concurrency=1)
    async def inventory(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)

    if clock.mode != "wall":
        return  # a drill's virtual day has no daily stock check

    @app.timer(interval=300.0, on_leader=True)
    async def housekeeping() -> None:
        now = wall_clock()
        local = now.astimezone(ZoneInfo(roster.timezone))
        if local.hour < HOUSEKEEPING_HOUR:
            return
        key = str(derive("housekeeping", plan.id, local.date().isoformat()))
        if await asyncio.to_thread(is_claimed, store.engine, key):
            return  # done today
        stock = await asyncio.to_thread(store.stock, local.date())
        minimums = await asyncio.to_thread(store.minimum_levels)
        notices = housekeeping_notices(plan, roster, expiring(stock, local.date()), below_minimum(stock, minimums),
                                       local.date(), now)
        log.info("daily stock check %s: %d notice(s)", local.date(), len(notices))
        # Sent before the day is marked done: a crash in between sends again, with the same notification
        # ids, which the SMS outbox sends once.
        await send_confirmed([Output(ch.notifications, n.person_id, encode(n)) for n in notices])
        await asyncio.to_thread(claim_once, store.engine, key, "housekeeping", now)
