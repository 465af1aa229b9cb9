"""What every agent does the same way: dead letters and sending outputs.

Nothing lost, nothing doubled: an agent first sends what an input produced and waits until the broker
has it, and only then records its new state in its table. A worker killed in between comes back
with the old state and evaluates the input again; the domain derives every id from its inputs, so
the outputs are the same events with the same ids, which their consumers deduplicate.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from faust.types import EventT, TopicT

from schemas import EventDecodeError, decode, encode
from streams.clocks import wall_clock
from streams.dead_letters import dead_letter_for, dead_letter_key

log = logging.getLogger("ers.streams")

Handler = Callable[[EventT], Awaitable[None]]  # what an agent does with one input

# Table keys are ids and values are the JSON of domain state: str keys must survive a changelog recovery.
JSON_TABLE = faust.Schema(key_serializer="json", value_serializer="json")

# A restarted worker reads its tables' changelogs before it handles anything. Kafka compacts only closed segments,
# and its defaults close one at 1 GiB or after 7 days, so a changelog would hold every state ever written: a
# restart would take longer every day. Small segments, closed every 10 minutes and compacted once a tenth is
# stale, keep a recovery near one record per key (applied to existing changelogs at start: streams/worker.py).
CHANGELOG_CONFIG = {"segment.bytes": str(8 * 1024 * 1024), "segment.ms": str(10 * 60 * 1000),
                    "min.cleanable.dirty.ratio": "0.1"}


class DeadLetterSink(Protocol):
    """Where dead letters go (streams.channels.DeadLetterTopic)."""

    topic: TopicT
    max_bytes: int  # the largest record it takes

    async def send(self, key: bytes | None, value: bytes) -> Any: ...


async def send_dead_letter(dlq: DeadLetterSink, event: EventT, error: str, agent: str) -> None:
    out = dead_letter(dlq, event, error, agent)
    await dlq.send(key=out.key, value=out.value)


def dead_letter(dlq: DeadLetterSink, event: EventT, error: str, agent: str) -> "Output":
    """The dead letter of `event`, as an output for the dead-letter topic (logged here)."""
    msg = event.message
    key = _bytes(msg.key)
    letter = dead_letter_for(
        topic=msg.topic, partition=msg.partition, offset=msg.offset, key=key, value=_bytes(msg.value),
        error=error, agent=agent, failed_at=wall_clock(), max_bytes=dlq.max_bytes,
    )
    log.warning("dead letter from %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, error)
    return Output(dlq.topic, dead_letter_key(key), encode(letter))


def decode_or_letter(event: EventT, model: Any, dlq: DeadLetterSink, agent: str) -> tuple[Any | None, Output | None]:
    """The message as `model`, or its dead letter (to be sent with the batch's other outputs)."""
    try:
        return decode(model, event.message.value), None
    except EventDecodeError as exc:
        return None, dead_letter(dlq, event, exc.reason, agent)


async def decode_or_dead_letter(event: EventT, model: Any, dlq: DeadLetterSink, agent: str) -> Any | None:
    """The message as `model`, or None after sending it to the dead-letter topic with the reason."""
    try:
        return decode(model, event.message.value)
    except EventDecodeError as exc:
        await send_dead_letter(dlq, event, exc.reason, agent)
        return None


@dataclass(frozen=True)
class Output:
    topic: TopicT
    key: str | bytes | None
    value: bytes
    timestamp: float | None = None  # its own record time (streams.clocks), else the one send_confirmed is given


async def send_confirmed(outputs: Iterable[Output], timestamp: float | None = None) -> None:
    """Send, then wait for the broker's acknowledgement of every message. `timestamp`: see streams.clocks."""
    pending = [await out.topic.send(key=out.key.encode("utf-8") if isinstance(out.key, str) else out.key,
                                    value=out.value, timestamp=timestamp if out.timestamp is None else out.timestamp)
               for out in outputs]
    if pending:
        await asyncio.gather(*pending)


def _bytes(raw: object) -> bytes | None:
    if raw is None or isinstance(raw, bytes):
        return raw
    return str(raw).encode("utf-8")


# Waits before retrying an input that failed on the broker or the database, the last one repeated for as long as
# the outage lasts: a reading, a page or a ledger movement must not become a dead letter because Kafka or the
# database was unreachable, and the agent keeps its partition's order by waiting. Handling an input twice is
# harmless (ids are derived, outputs are sent before state is written), so retrying is safe.
TRANSIENT_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0, 5.0)  # then every 5 s: back within seconds of the outage


def is_transient(exc: BaseException) -> bool:
    from aiokafka.errors import KafkaError
    from sqlalchemy.exc import DBAPIError, OperationalError

    return (isinstance(exc, (KafkaError, OperationalError, asyncio.TimeoutError, ConnectionError))
            or (isinstance(exc, DBAPIError) and exc.connection_invalidated))


def trouble_kind(exc: BaseException) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    return "database unreachable" if isinstance(exc, SQLAlchemyError) else "broker unreachable"


@dataclass
class Waiting:
    """An agent waiting out an outage: what it waits for, since when (monotonic), the last error."""

    kind: str
    since: float
    error: str


class Troubles:
    """Which agents of this worker are waiting out an outage now; /health reports them."""

    def __init__(self) -> None:
        self._waiting: dict[str, Waiting] = {}

    def waiting(self, agent: str, exc: BaseException) -> Waiting:
        kind, error = trouble_kind(exc), f"{type(exc).__name__}: {exc}"[:300]
        current = self._waiting.get(agent)
        self._waiting[agent] = Waiting(kind, current.since if current and current.kind == kind else time.monotonic(),
                                       error)
        return self._waiting[agent]

    def cleared(self, agent: str) -> Waiting | None:
        return self._waiting.pop(agent, None)

    def now(self) -> dict[str, Waiting]:
        return dict(self._waiting)


TROUBLES = Troubles()  # one worker process, one view of what it waits for


BatchHandler = Callable[[list[EventT]], Awaitable[None]]  # what an agent does with a batch of inputs


async def process_each(stream: faust.StreamT, handle: Handler, dlq: DeadLetterSink, agent: str,
                       retry_seconds: tuple[float, ...] = TRANSIENT_RETRY_SECONDS,
                       troubles: Troubles = TROUBLES) -> None:
    """Run `handle` on every event: what it raises becomes a dead letter, so an agent never stops on one message;
    except a broker or database error, which is retried until it goes away (retry_seconds, the last repeated)."""
    async for event in stream.events():
        await _handle_one(event, handle, dlq, agent, retry_seconds, troubles)


BATCH_EVENTS = 5000     # at most this many inputs a batch
BATCH_WAIT = 0.005      # seconds a batch waits to fill: a lone reading is handled at most this late


async def process_batches(batches: AsyncIterator[list[EventT]], handle_batch: BatchHandler, handle: Handler,
                          dlq: DeadLetterSink, agent: str, retry_seconds: tuple[float, ...] = TRANSIENT_RETRY_SECONDS,
                          troubles: Troubles = TROUBLES) -> None:
    """Run `handle_batch` on each batch (streams.batches.event_batches: acknowledged once handled). A broker or
    database error is retried until it goes away, as one event's is; any other error sends the batch through
    `handle` one event at a time, so only the event at fault becomes a dead letter. `handle_batch` must change no
    state before its outputs are confirmed (a batch may be handled again)."""
    async for events in batches:
        error = await _retrying(lambda: handle_batch(events), agent, f"a batch of {len(events)}", retry_seconds,
                                troubles)
        if error is not None:
            log.error("%s failed on a batch of %d: handling its events one by one", agent, len(events),
                      exc_info=error)
            for event in events:
                await _handle_one(event, handle, dlq, agent, retry_seconds, troubles)


async def _handle_one(event: EventT, handle: Handler, dlq: DeadLetterSink, agent: str,
                      retry_seconds: tuple[float, ...], troubles: Troubles) -> None:
    msg = event.message
    where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
    error = await _retrying(lambda: handle(event), agent, where, retry_seconds, troubles)
    if error is not None:
        log.error("%s failed on %s", agent, where, exc_info=error)
        await send_dead_letter(dlq, event, f"internal error: {type(error).__name__}: {error}", agent)


async def _retrying(work: Callable[[], Awaitable[None]], agent: str, what: str, retry_seconds: tuple[float, ...],
                    troubles: Troubles) -> Exception | None:
    """Run `work` until it returns (None) or raises an error that is not a broker or database outage (returned);
    an outage is waited out, retried after each of `retry_seconds` (the last one repeated) and reported to
    `troubles` while it lasts."""
    attempt = 0
    error: Exception | None = None
    while True:
        try:
            await work()
        except Exception as exc:
            if is_transient(exc):
                delay = retry_seconds[min(attempt, len(retry_seconds) - 1)]
                waiting = troubles.waiting(agent, exc)
                log.warning("%s: %s on %s (%s for %.0f s), retrying in %g s", agent, type(exc).__name__, what,
                            waiting.kind, time.monotonic() - waiting.since, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            error = exc
        waited = troubles.cleared(agent)
        if waited is not None:
            log.info("%s: %s over after %.0f s; %s handled", agent, waited.kind, time.monotonic() - waited.since,
                     what)
        return error
