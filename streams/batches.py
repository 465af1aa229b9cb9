"""A Faust stream's events in batches, each acknowledged only once its batch was handled (issue 14).

Faust's own `Stream.take_events` acknowledges a batch's events in a `finally`: when the worker stops or the agent
is cancelled while a batch is being handled, its events are acknowledged anyway and the next commit passes them,
although their outputs may never have been sent. `event_batches` acknowledges a batch after its handling returns:
a batch that is interrupted is read again after the restart, and handled again (every id ERS writes is derived
from its input, so handling twice is harmless).

It takes the events from the stream's channel queue itself, as many as are queued (up to `max_events`), and does
to each what Faust's stream iterator does (`_Intake`). Iterating the stream instead cost a turn of the event loop
per event (the iterator's `sleep(0)`, a `queue.get()`, a processor to collect the event): about a third of the
worker's time on a backlog (py-spy, issue 14), and batches stayed small however long the queue was.
A batch is yielded when `max_events` are queued, or `within` seconds after its first event arrived. Order is kept:
batches are yielded, handled and acknowledged one after the other.
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


class _Intake:
    """What Faust's stream iterator does to an event it takes from the channel (faust/_cython/streams.pyx,
    StreamIterator._prepare_event): an event of a previous assignment (or taken while the flow is stopped, in a
    rebalance) is skipped and acknowledged at once, as Faust does; any other is tracked as unacknowledged (what
    holds the commit back) and reported to the sensors, whose count the health check reads."""

    def __init__(self, stream: Any) -> None:
        app = stream.app
        self._stream = stream
        self._app = app
        self._acking_topics = app.topics._acking_topics
        self._add_unacked = app.consumer._unacked_messages.add
        self._on_message_in = stream._on_message_in
        self._on_stream_event_in = stream._on_stream_event_in

    def admit(self, value: Any) -> bool:
        """True: the event is to be handled; False: skipped (the caller acknowledges it)."""
        if not isinstance(value, EventT):
            raise TypeError(f"event_batches reads topics only, and got {type(value).__name__} from the channel")
        message = value.message
        app = self._app
        if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
            return False
        if message.topic in self._acking_topics and not message.tracked:
            message.tracked = True
            self._add_unacked(message)
            self._on_message_in(message.tp, message.offset, message)
        self._on_stream_event_in(message.tp, message.offset, self._stream, value)
        return True


async def event_batches(stream: faust.StreamT, max_events: int, within: float) -> AsyncIterator[list[EventT]]:
    s: Any = stream  # Faust's Stream internals, as its iterator uses them
    started_here = await s.maybe_start()
    queue = s.channel.queue
    intake = _Intake(s)

    def take(value: Any, batch: list[EventT], skipped: list[EventT]) -> None:
        (batch if intake.admit(value) else skipped).append(value)

    def drain(batch: list[EventT], skipped: list[EventT]) -> None:
        while len(batch) < max_events and not queue.empty():
            take(queue.get_nowait(), batch, skipped)  # raises what was thrown into the channel, as Faust's does

    try:
        while not s.should_stop:
            first = await s.wait(queue.get())
            if first.stopped:
                continue
            batch: list[EventT] = []
            skipped: list[EventT] = []
            take(first.result, batch, skipped)
            drain(batch, skipped)
            if len(batch) < max_events and within > 0:
                await asyncio.sleep(within)
                drain(batch, skipped)
            for event in skipped:
                await s.ack(event)
            if not batch:
                continue
            s.events_total += len(batch)
            yield batch  # an exception or a close here leaves the batch unacknowledged: read again after a restart
            for event in batch:
                await s.ack(event)
    except StopAsyncIteration:  # what Faust throws into the channel when the worker stops, as its iterator ends
        return
    finally:
        s._channel_stop_iteration(s.channel)
        if started_here:
            await s.stop()
            s.service_reset()


@contextlib.contextmanager
def as_of(event: EventT) -> Iterator[None]:
    """Faust writes a table entry to the changelog partition of the event being handled, which it knows only
    inside stream iteration; a batch's entries are written after it, each as of the event it last came from."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
