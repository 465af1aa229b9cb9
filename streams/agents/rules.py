"""The rules stage: readings and ticks per station -> contingency.engine -> detections.

Per-station engine state lives in a changelog-backed table keyed by station id, co-partitioned
with the readings topic, so a restarted worker continues where it stopped.

Each entry also holds the offsets of the last reading and tick it reflects (`pack`). A restarted worker goes back to
its group's committed offsets, which trail what it wrote to the table by up to a commit interval: on a busy worker
thousands of readings, far more than a state remembers ids of. Without the offsets those readings came back as late
readings, and could fire a rule again (found by the kill test under load, tests/chaos/test_worker_kills.py); with
them, an input at or before the entry's offset is known to be in it, and skipped.
"""
from __future__ import annotations

import logging
from collections.abc import MutableMapping

import faust
import msgspec
from faust.types import EventT

from contingency import CompiledPlan, StationState, evaluate, tick
from contingency.physical import implausible_value, physical_ranges
from contingency.plausibility import TimeBounds, implausible_time, time_bounds
from schemas import StationReport, StationTick, encode
from schemas.topics import READINGS, TICKS
from streams.agents.common import (
    BATCH_EVENTS, BATCH_WAIT, CHANGELOG_CONFIG, BatchHandler, Handler, Output, dead_letter, decode_or_letter,
    process_batches, send_confirmed,
)
from streams.batches import event_batches
from streams.changelog import write_entries
from streams.channels import Channels
from streams.clocks import AgentClock

AGENT = "rules"
STATE_TABLE = faust.Schema(key_serializer="json", value_serializer="raw")
log = logging.getLogger("ers.rules")


Positions = dict[str, int]  # "topic:partition" -> offset of the last input of a station its stored state reflects


def pack(positions: Positions, state: bytes) -> bytes:
    """A table entry: "@", the positions as JSON, a newline, the state's bytes (StationState.to_bytes)."""
    return b"@" + msgspec.json.encode(positions) + b"\n" + state


def unpack(stored: bytes) -> tuple[Positions, bytes]:
    """The positions and the state's bytes of a table entry (one written before entries had positions: none)."""
    if stored[:1] != b"@":
        return {}, stored
    head, _, state = stored.partition(b"\n")  # JSON written by msgspec escapes every newline
    return msgspec.json.decode(head[1:], type=Positions), state


class ParsedStates:
    """Parsed StationState objects of the table values this agent wrote itself.

    Parsing a state costs about as much as evaluating a report, and a parsed state carries what the engine derives
    from it (rate-of-change windows). The memory store hands back the very value we stored, so an identity check
    tells whether the cached object still matches the table; after a recovery or a rebalance the table holds new
    values and the cache misses.
    """

    def __init__(self) -> None:
        self._states: dict[str, tuple[bytes, Positions, StationState]] = {}

    def get(self, station_id: str, stored: bytes | None) -> tuple[Positions, StationState | None]:
        if stored is None:
            return {}, None
        cached = self._states.get(station_id)
        if cached is not None and cached[0] is stored:
            return dict(cached[1]), cached[2]
        positions, state = unpack(stored)
        return positions, StationState.from_bytes(state)

    def put(self, station_id: str, stored: bytes, positions: Positions, state: StationState) -> None:
        self._states[station_id] = (stored, positions, state)


def rules_handler(ch: Channels, plan: CompiledPlan, clock: AgentClock,
                  table: MutableMapping[str, bytes | None], bounds: TimeBounds | None = None) -> Handler:
    """One event at a time: a batch of one (the batch handler is the one implementation)."""
    handle_batch = rules_batch_handler(ch, plan, clock, table, bounds)

    async def handle(event: EventT) -> None:
        await handle_batch([event])

    return handle


def rules_batch_handler(ch: Channels, plan: CompiledPlan, clock: AgentClock,
                        table: MutableMapping[str, bytes | None], bounds: TimeBounds | None = None) -> BatchHandler:
    """Per-station engine state in `table` (the worker's changelog-backed table, a dict in tests). A batch's
    detections are sent together and confirmed before each station's new state is written, once per batch: a batch
    interrupted before that is handled again from the states before it."""
    bounds = bounds or time_bounds(plan)
    ranges = physical_ranges(plan)
    parsed = ParsedStates()
    ticks_topic = ch.names.of(TICKS)

    async def handle_batch(events: list[EventT]) -> None:
        states: dict[str, StationState | None] = {}  # this batch's work: written only once its outputs are out
        positions: dict[str, Positions] = {}           # and the inputs it reflects
        last: dict[str, EventT] = {}                   # the event each station's state last came from
        outputs: list[Output] = []  # detections, dead letters and re-keyed readings, sent together
        for event in events:
            msg = event.message
            is_tick = msg.topic == ticks_topic
            item, letter = decode_or_letter(event, StationTick if is_tick else StationReport, ch.dlq, AGENT)
            if letter is not None:
                outputs.append(letter)
                continue
            station_id = item.station_id
            if msg.key != station_id.encode("utf-8"):
                # Per-station state must live in the station's partition: re-key once and move on.
                outputs.append(Output(ch.readings, station_id, msg.value, clock.stamp(event)))
                continue
            now = clock.now(event)
            when = item.at if isinstance(item, StationTick) else item.observed_at
            reason = implausible_time("at" if isinstance(item, StationTick) else "observed_at", when, now, bounds)
            if reason is None and station_id not in plan.stations:
                reason = f"station_id: unknown station {station_id!r} (not in plan {plan.id} {plan.version})"
            if reason is None and isinstance(item, StationReport):
                reason = implausible_value(item, ranges)
            if reason is not None:
                outputs.append(dead_letter(ch.dlq, event, reason, AGENT))
                continue
            if station_id in states:
                state = states[station_id]
            else:
                positions[station_id], state = parsed.get(station_id, table.get(station_id))
            where = f"{msg.topic}:{msg.partition}"
            if msg.offset <= positions[station_id].get(where, -1):
                continue  # in the stored state already, its outputs sent before it was stored
            ahead = now + bounds.future
            if state is not None and state.latest_observed_at is not None and state.latest_observed_at > ahead:
                log.warning("station %s: its state held readings dated up to %s, ahead of the clock; forgotten, so "
                            "that real readings can clear its rules again", station_id,
                            state.latest_observed_at.isoformat())
                state = state.forget_after(ahead)
            if isinstance(item, StationTick):
                # The tick carries its own time, so replaying it gives the same answer. A station that has
                # never reported is silent from the moment the worker first looks at it.
                state, detections = tick(plan, state or StationState.initial(station_id, item.at), station_id,
                                         item.at)
            else:
                state, detections = evaluate(plan, state, item, now)
            states[station_id], last[station_id] = state, event
            positions[station_id][where] = msg.offset
            if detections and log.isEnabledFor(logging.DEBUG):  # the desk logs what they open and resolve at INFO
                for d in detections:
                    log.debug("detection %s %s at %s (%s): %s", d.status, d.level, d.source_id, d.rule_id, d.title)
            stamp = clock.stamp(event)
            outputs.extend(Output(ch.detections, d.source_id, encode(d), stamp) for d in detections)
        await send_confirmed(outputs)
        changed: list[tuple[str, bytes, StationState]] = []
        for station_id, state in states.items():
            if state is None:
                continue
            entry = pack(positions[station_id], state.to_bytes())
            if entry != table.get(station_id):
                changed.append((station_id, entry, state))
        await write_entries(table, [(station_id, entry, last[station_id].message.partition)
                                    for station_id, entry, _ in changed])
        for station_id, entry, state in changed:
            parsed.put(station_id, entry, positions[station_id], state)

    return handle_batch


def register_rules_agent(app: faust.App, ch: Channels, plan: CompiledPlan, clock: AgentClock,
                         bounds: TimeBounds) -> None:
    # Values are `pack`ed: positions and the state's own bytes (StationState.to_bytes; a changelog written before
    # holds the state alone, or plain JSON, which unpack and from_bytes read too). value_type=bytes is what makes Faust hand the changelog's values back as bytes when it
    # recovers the table: the schema only decides how they are written.
    table = app.Table("station_state", default=None, partitions=ch.names.partitions_of(READINGS), schema=STATE_TABLE,
                      value_type=bytes,
                      extra_topic_configs=CHANGELOG_CONFIG)
    handle_batch = rules_batch_handler(ch, plan, clock, table, bounds)

    async def handle(event: EventT) -> None:
        await handle_batch([event])

    @app.agent(ch.station_input, name="ers.rules", concurrency=1)
    async def rules(stream: faust.StreamT) -> None:
        await process_batches(event_batches(stream, BATCH_EVENTS, BATCH_WAIT), handle_batch, handle, ch.dlq, AGENT)
