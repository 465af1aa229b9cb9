"""A Faust stream's events in batches, each acknowledged only once its batch was handled (issue 14).

Faust's own `Stream.take_events` acknowledges a batch's events in a `finally`: when the worker stops or the agent
is cancelled while a batch is being handled, its events are acknowledged anyway and the next commit passes them,
although their outputs may never have been sent. `event_batches` is take_events with the acknowledgement moved
after the batch's handling returns: a batch that is interrupted is read again after the restart, and handled
again (every id ERS writes is derived from its input, so handling twice is harmless).

Like take_events, it buffers the stream in the background (a processor on the stream, passively consumed), and
yields when `max_events` are buffered or `within` seconds have passed with at least one. Unlike take_events, the
buffer goes on filling while a batch is handled: a handler spends much of its time waiting for the broker to
confirm its outputs, and with the stream halted meanwhile the worker sat idle half the time (py-spy, issue 14).
Order is kept all the same: batches are yielded, handled and acknowledged one after the other.
"""
from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import EventT


async def event_batches(stream: faust.StreamT, max_events: int, within: float) -> AsyncIterator[list[EventT]]:
    s: Any = stream  # Faust's Stream internals, as take_events uses them
    events: list[EventT] = []
    buffer_full = asyncio.Event()
    buffer_consumed = asyncio.Event()

    async def add_to_buffer(value: Any) -> Any:
        event = s.current_event
        if event is None:
            raise RuntimeError("event_batches found no current event")
        events.append(event)
        if len(events) >= max_events:
            buffer_full.set()
            buffer_consumed.clear()
            await s.wait(buffer_consumed)  # a batch never grows past max_events
        return value

    enable_acks = s.enable_acks
    s.enable_acks = False  # acknowledged below, once handled
    s.add_processor(add_to_buffer)
    s._enable_passive(aiter(s.channel))
    try:
        while not s.should_stop:
            await s.wait_for_stopped(buffer_full, timeout=within)
            if not events:
                continue
            batch = events[:max_events]
            del events[:len(batch)]
            buffer_full.clear()
            buffer_consumed.set()  # the stream goes on filling the buffer while the batch is handled
            yield batch  # an exception or a close here leaves the batch unacknowledged: read again after a restart
            for event in batch:
                await s.ack(event)
    finally:
        s.enable_acks = enable_acks
        s._processors.remove(add_to_buffer)


@contextlib.contextmanager
def as_of(event: EventT) -> Iterator[None]:
    """Faust writes a table entry to the changelog partition of the event being handled, which it knows only
    inside stream iteration; a batch's entries are written after it, each as of the event it last came from."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
