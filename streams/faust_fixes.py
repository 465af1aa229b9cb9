"""Corrections to faust-streaming 0.15 (with aiokafka 0.14) that "nothing lost" rests on.

Records produced while a worker was down were sometimes skipped for good after its restart (issue 17; seen as a
reading, a detection or a resolve command never applied while the group's committed offset had passed it). The
chain, read in faust/tables/recovery.py, faust/transport/consumer.py and mode/utils/queues.py:

1. At the end of a recovery, `Recovery.on_recovery_completed` (and `_resume_streams`) resumed the stream partitions
   first, then sought them to their committed offsets, then resumed the flow. The flow was already on (it was
   turned on to read the changelogs), so during the seek the fetcher handed new stream records to the agents'
   queues (faust-streaming #596; #253 meant to order this and did not reach this path).
2. `FlowControlEvent.resume()` clears every queue it manages, even when the flow was not suspended: the records
   queued during the seek were dropped, never acked.
3. `Consumer._new_offset` then committed past the dropped record: it lets the committed offset skip one offset that
   was never acked (meant for a transaction marker at the head, faust-streaming #606/#707), and checks nothing
   while the partition has no committed offset. The next record's ack committed the offset after it.
4. aiokafka's `seek_to_committed()` leaves a partition without a committed offset wherever its fetch position was
   (it seeks only when the committed offset is above 0), so such a partition could not go back to a dropped record.
5. The fetcher passes the consumer thread its live set of active partitions, and aiokafka's `fetched_records` reads
   an empty set as "every partition". A fetch still waiting when a pause emptied the set (the end of a recovery)
   took the stream partitions' new records out of aiokafka; Faust's filter then dropped them as paused, after the
   seek meant to bring them back.

6. `Consumer._commit_offsets` flushes the producer before it commits, so that the changelog holds every table write
   of the records it commits past. But `ProducerBuffer.flush` (where table writes wait to be handed to the producer)
   gives up after 0.1 s without a message going out: on a busy worker (a batch of 500 readings holds the loop for
   longer) the offsets were committed while station states were still in the buffer, and a SIGKILL then lost them
   (found by the kill test under load: a rule cleared at a different reading after the restart).

7. When an agent's queue fills up, Faust pauses the partitions feeding it and resumes them once the queue has drained
   to 40 % (`Consumer.on_buffer_full`/`on_buffer_drop`). But the fetcher meanwhile waits for records of the other
   partitions, up to a second, or sleeps a second when none is left: the agent emptied its queue and sat idle for
   the rest of that second. On a worker working through a backlog this happened every few thousand records, and
   capped a worker with nothing to do at ~6,500 records/s (issue 14, measured by bench/faust_flow.py).

`install()` corrects each where it happens: the stream partitions resume only after the seek and the flow; a flow
that is already on is not "resumed" into empty queues; a commit never passes a record that was handed to the
streams and not acked (offsets never handed, absent from the log, do not hold it); a partition with no
committed offset is sought to its first offset; a fetch asks for the partitions active when it was made; a flush
waits until every message put in the buffer has been acknowledged or has failed; and a partition paused for a full
queue is fetched again within BUFFER_POLL_SECONDS of the queue draining. tests/integration/test_restart_bursts.py is the acceptance test.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP
from faust.utils import venusian as faust_venusian
from mode.utils.queues import FlowControlEvent

log = logging.getLogger("ers.faust")
_installed = False
_faust_buffer_put = ProducerBuffer.put
_faust_buffer_flush = ProducerBuffer.flush


# 1. Resume stream partitions only after their seek and the flow.

async def _resume_stream_partitions(recovery: Recovery, standbys_ready: bool) -> None:
    """Seek the assigned stream partitions to their committed offsets, resume the flow, and only then let the
    fetcher take records from them; the worker is ready."""
    app, consumer = recovery.app, recovery.app.consumer
    assignment = consumer.assignment()
    if assignment:
        recovery.log.info("Seek stream partitions to committed offsets.")
        await recovery._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
    recovery.completed.set()
    app.flow_control.resume()
    consumer.resume_flow()
    consumer.resume_partitions({tp for tp in assignment if not recovery._is_changelog_tp(tp)})
    await app._fetcher.maybe_start()
    recovery.tables.on_actives_ready()
    if standbys_ready:
        recovery.tables.on_standbys_ready()
    app.on_rebalance_end()
    recovery.log.info("Worker ready")


async def _on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callbacks = [asyncio.ensure_future(table.on_recovery_completed(self.actives_for_table[table],
                                                                   self.standbys_for_table[table]))
                 for table in self.tables.values()]
    if callbacks:
        await asyncio.wait(callbacks)
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again: generation %s, recovery of %s",
                         self.app.consumer_generation_id, generation_id)
        return
    await _resume_stream_partitions(self, standbys_ready=not self.app.assignor.assigned_standbys())


async def _resume_streams(self: Recovery, generation_id: int = 0) -> None:
    """The same for an app without tables."""
    await self.app.on_rebalance_complete.send()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    await _resume_stream_partitions(self, standbys_ready=True)


# 2. Resuming a flow that is on changes nothing.

def _flow_resume(self: FlowControlEvent) -> None:
    suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if suspended:  # what was queued while suspended belongs to the previous assignment
        self.clear()


# 3. A commit never passes a record handed to the streams and not acked.

def _handed(consumer: Consumer) -> defaultdict[TP, set[int]]:
    """Offsets the fetcher handed to the streams and the commit has not passed yet, per acking partition."""
    try:
        return consumer._ers_handed  # type: ignore[attr-defined]
    except AttributeError:
        consumer._ers_handed = defaultdict(set)  # type: ignore[attr-defined]
        return consumer._ers_handed  # type: ignore[attr-defined]


_faust_to_message = AIOKafkaConsumer._to_message


def _to_message(self: AIOKafkaConsumer, tp: TP, record: Any) -> Any:
    # Every record the fetcher hands on goes through here, in offset order per partition. Records it takes from
    # aiokafka and does not hand on (generation changed, flow stopped, partition paused) occur only in a rebalance,
    # and every partition is sought to its committed offset after one (perform_seek), so they are read again.
    if self.app.topics.acks_enabled_for(record.topic):
        _handed(self)[tp].add(record.offset)
    return _faust_to_message(self, tp, record)


def committable(start: int, handed: set[int], acked: set[int]) -> int | None:
    """The offset to commit: past every offset from `start` on that was handed and acked or never handed (absent
    from the log: a transaction marker, a compacted record), up to the first handed and unacked one (in flight, or
    lost on its way: it holds the commit so that a seek or a restart reads it again). None: nothing new."""
    waiting = [offset for offset in handed if offset >= start and offset not in acked]
    if waiting:
        end = min(waiting)
    else:
        seen = [offset for offset in handed if offset >= start]
        if not seen:
            return None
        end = max(seen) + 1
    return end if end > start else None


def _new_offset(self: Consumer, tp: TP) -> int | None:
    committed = self._committed_offset[tp]
    start = committed or 0  # Faust keeps 0 as None; a never-sought partition has none either
    handed = _handed(self)[tp]
    acked_index = self._acked_index[tp]
    end = committable(start, handed, acked_index)
    if end is None:
        return None
    handed.difference_update([offset for offset in handed if offset < end])
    acked_index.difference_update([offset for offset in acked_index if offset < end])
    self._acked[tp] = sorted(acked_index)
    self._gap[tp].chop(0, end)  # Faust's guess at absent offsets, replaced by `committable`
    return end


_faust_perform_seek = Consumer.perform_seek


async def _perform_seek(self: Consumer) -> None:
    await _faust_perform_seek(self)
    # Every assigned partition now reads again from its committed offset: what it hands on from here is new.
    _handed(self).clear()


# 4. A partition without a committed offset is sought to its first offset.

async def _seek_to_committed_or_beginning(thread: AIOKafkaConsumerThread) -> Any:
    consumer = thread._ensure_consumer()
    committed = await consumer.seek_to_committed()
    changelogs = thread.app.tables.changelog_topics
    unplaced = [tp for tp, offset in committed.items()
                if not offset and tp.topic not in changelogs and "__assignor" not in tp.topic]
    if unplaced:
        # An explicit offset, not seek_to_beginning(): that leaves the position unset until the next fetch, and
        # Faust's livelock detector then crashes the consumer on aiokafka's `assert position is not None`.
        firsts = await consumer.beginning_offsets(unplaced)
        for tp in unplaced:
            consumer.seek(tp, firsts[tp])
            committed[tp] = firsts[tp]  # where this partition's commits start
    log.info("after rebalance: %d partition(s) at committed offsets, %d without one from the beginning",
             len(committed) - len(unplaced), len(unplaced))
    return committed


async def _seek_to_committed(self: AIOKafkaConsumerThread) -> Any:
    return await self.call_thread(_seek_to_committed_or_beginning, self)


# 5. A fetch asks for the partitions active when it was made.

_faust_thread_getmany = AIOKafkaConsumerThread.getmany
FETCH_WAIT_SECONDS = 0.2  # Faust waits a second; an idle worker pays about 0.5 % of a core more for this


async def _getmany(self: AIOKafkaConsumerThread, active_partitions: set[TP] | None, timeout: float) -> Any:
    if active_partitions is None:  # a client-only app: every partition, as Faust means it
        return await _faust_thread_getmany(self, None, timeout)
    requested = frozenset(active_partitions)
    if not requested:
        return {}
    # A fetch keeps the partitions it asked for while it waits: records of a partition resumed meanwhile (the
    # streams, at the end of every recovery) wait for the next one. Short waits keep that next one near.
    return await _faust_thread_getmany(self, requested, min(timeout, FETCH_WAIT_SECONDS))  # type: ignore[arg-type]


# 6. Start promptly: a restarted worker should take its partitions back within seconds (issue 13).

async def _table_manager_on_start(self: TableManager) -> None:
    # Faust sleeps a second here so that tables made while agents start can still register. Every ERS table is
    # made before the app starts (streams/app.py), and one made later fails loudly ("Too late to add tables").
    if not self.should_stop:
        await self._update_channels()
        await self.recovery.start()


_faust_resume_partitions = Consumer.resume_partitions


def _resumed(consumer: Consumer) -> asyncio.Event:
    try:
        return consumer._ers_resumed  # type: ignore[attr-defined]
    except AttributeError:
        consumer._ers_resumed = asyncio.Event()  # type: ignore[attr-defined]
        return consumer._ers_resumed  # type: ignore[attr-defined]


def _resume_partitions(self: Consumer, tps: Any) -> None:
    _faust_resume_partitions(self, tps)
    _resumed(self).set()


_faust_on_buffer_drop = Consumer.on_buffer_drop
BUFFER_POLL_SECONDS = 0.02  # how soon a partition paused for a full queue is fetched again once the queue drained


def _on_buffer_drop(self: Consumer, tp: TP) -> None:
    _faust_on_buffer_drop(self, tp)
    _resumed(self).set()


async def _wait_next_records(self: Consumer, timeout: float) -> Any:
    """Faust's, except that with no active partition it waits for a resume (at most a second) instead of
    sleeping a second: at the end of a recovery the changelogs are paused before the streams resume, and the
    fetcher's sleep in between held every restart's first record back by up to a second. While a partition is
    paused for a full queue (item 7), a fetch waits at most BUFFER_POLL_SECONDS for the others."""
    if not self.flow_active:
        await self.wait(self.can_resume_flow)  # type: ignore[arg-type]
    try:
        self.not_waiting_next_records.set()
        if self.app.client_only:
            return await self._getmany(active_partitions=None, timeout=timeout), None
        if self._buffered_partitions:
            timeout = min(timeout, BUFFER_POLL_SECONDS)
        active_partitions = self._get_active_partitions()
        if active_partitions:
            return await self._getmany(active_partitions=active_partitions, timeout=timeout), active_partitions
        resumed = _resumed(self)
        resumed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(resumed.wait(), timeout=1.0)
        return {}, active_partitions
    finally:
        self.not_waiting_next_records.set()


# 6. A flush waits for every buffered message.

FLUSH_WARN_SECONDS = 10.0


def _unsent(buffer: ProducerBuffer) -> set[asyncio.Future]:
    unsent = buffer.__dict__.get("_ers_unsent")
    if unsent is None:
        unsent = buffer.__dict__["_ers_unsent"] = set()
    return unsent


def _buffer_put(self: ProducerBuffer, fut: Any) -> None:
    unsent = _unsent(self)
    unsent.add(fut)
    fut.add_done_callback(unsent.discard)
    _faust_buffer_put(self, fut)


async def _buffer_flush(self: ProducerBuffer) -> None:
    """Every message put in the buffer sent, and acknowledged or failed (Faust logs a failure); a stopping
    producer's buffer is flushed as Faust does."""
    if self.state != "running":
        await _faust_buffer_flush(self)
        return
    waited = 0.0
    while unsent := _unsent(self):
        started = time.monotonic()
        await asyncio.wait(list(unsent), timeout=FLUSH_WARN_SECONDS)
        waited += time.monotonic() - started
        if _unsent(self) and waited >= FLUSH_WARN_SECONDS:
            log.warning("%d table writes not yet acknowledged by the broker after %.0f s: the commit waits for them",
                        len(_unsent(self)), waited)


def _attach_nothing(*args: Any, **kwargs: Any) -> None:
    """Faust marks every agent, timer and page for venusian's module scan, which reads the caller's source file
    each time (0.2 s of a worker's start); ERS registers explicitly and never scans."""


def install() -> None:
    """Apply the corrections process-wide (once)."""
    global _installed
    if _installed:
        return
    Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
    Recovery._resume_streams = _resume_streams  # type: ignore[method-assign]
    FlowControlEvent.resume = _flow_resume  # type: ignore[method-assign]
    AIOKafkaConsumer._to_message = _to_message  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]
    AIOKafkaConsumerThread.getmany = _getmany  # type: ignore[method-assign]
    TableManager.on_start = _table_manager_on_start  # type: ignore[method-assign]
    Consumer.resume_partitions = _resume_partitions  # type: ignore[method-assign]
    Consumer._wait_next_records = _wait_next_records  # type: ignore[method-assign]
    Consumer.on_buffer_drop = _on_buffer_drop  # type: ignore[method-assign]
    faust_venusian.attach = _attach_nothing
    ProducerBuffer.put = _buffer_put  # type: ignore[method-assign]
    ProducerBuffer.flush = _buffer_flush  # type: ignore[method-assign]
    _installed = True
