"""The corrections of streams/faust_fixes.py, in process (the restart test exercises them on a real broker)."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

import pytest
from faust.types import TP
from intervaltree import IntervalTree
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams import faust_fixes
from streams.faust_fixes import committable

faust_fixes.install()
TP0 = TP("ers.detections", 0)


def test_a_commit_stops_at_the_first_record_handed_on_and_not_acked() -> None:
    assert committable(10, handed={10, 11, 12}, acked={10, 11, 12}) == 13
    # Faust's own rule committed 13 here: one unacked offset at the head was taken for a transaction marker.
    assert committable(10, handed={10, 11, 12}, acked={11, 12}) is None
    assert committable(10, handed={10, 11, 12, 13}, acked={10, 11, 13}) == 12
    # ... and with nothing committed yet it checked nothing at all.
    assert committable(0, handed={0, 1, 2}, acked={1, 2}) is None


def test_offsets_never_handed_on_are_absent_from_the_log_and_do_not_hold_a_commit() -> None:
    assert committable(10, handed={11, 12}, acked={11, 12}) == 13       # a transaction marker at 10
    assert committable(10, handed={10, 12, 14}, acked={10, 12, 14}) == 15
    assert committable(10, handed={12}, acked=set()) == 12              # up to the record in flight


def test_nothing_new_to_commit() -> None:
    assert committable(10, handed=set(), acked={10}) is None
    assert committable(13, handed={11, 12}, acked=set()) is None        # below the committed offset: done


def consumer_with(committed: int | None, handed: set[int], acked: list[int]) -> SimpleNamespace:
    consumer = SimpleNamespace(_committed_offset=defaultdict(lambda: None, {TP0: committed}),
                               _acked=defaultdict(list, {TP0: list(acked)}),
                               _acked_index=defaultdict(set, {TP0: set(acked)}),
                               _gap=defaultdict(IntervalTree), _ers_handed=defaultdict(set, {TP0: set(handed)}))
    return consumer


def test_the_consumer_forgets_what_the_commit_passes_and_keeps_the_rest() -> None:
    consumer = consumer_with(10, handed={10, 11, 12, 13}, acked=[13, 10, 11])
    assert faust_fixes._new_offset(consumer, TP0) == 12
    assert consumer._ers_handed[TP0] == {12, 13}
    assert consumer._acked[TP0] == [13] and consumer._acked_index[TP0] == {13}
    consumer._committed_offset[TP0] = 12
    assert faust_fixes._new_offset(consumer, TP0) is None                 # 12 still in flight
    consumer._acked_index[TP0].add(12)
    consumer._acked[TP0].append(12)
    assert faust_fixes._new_offset(consumer, TP0) == 14


def test_resuming_a_flow_that_is_on_keeps_what_is_queued() -> None:
    flow = FlowControlEvent()
    queue: FlowControlQueue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    queue.put_nowait("record 41")
    flow.resume()
    assert queue.qsize() == 1, "a flow that is on is not resumed into an empty queue"
    flow.suspend()
    flow.resume()
    assert queue.qsize() == 0, "what was queued while suspended belongs to the previous assignment"


def test_stream_partitions_resume_only_after_their_seek_and_the_flow() -> None:
    calls: list[str] = []
    stream, changelog = TP("ers.readings", 0), TP("ers-station_state-changelog", 0)

    async def perform_seek() -> None:
        calls.append("seek")

    async def wait(coro, timeout=None) -> None:
        await coro

    async def maybe_start() -> None:
        calls.append("fetcher")

    consumer = SimpleNamespace(
        assignment=lambda: {stream, changelog}, perform_seek=perform_seek,
        resume_flow=lambda: calls.append("consumer flow"),
        resume_partitions=lambda tps: calls.append(f"partitions {sorted(tp.topic for tp in tps)}"))
    app = SimpleNamespace(consumer=consumer, conf=SimpleNamespace(broker_request_timeout=30),
                          flow_control=SimpleNamespace(resume=lambda: calls.append("flow")),
                          _fetcher=SimpleNamespace(maybe_start=maybe_start),
                          on_rebalance_end=lambda: calls.append("rebalance end"))
    tables = SimpleNamespace(on_actives_ready=lambda: calls.append("actives ready"),
                             on_standbys_ready=lambda: calls.append("standbys ready"))
    recovery = SimpleNamespace(app=app, tables=tables, _wait=wait, log=SimpleNamespace(info=lambda *a: None),
                               completed=asyncio.Event(), _is_changelog_tp=lambda tp: tp == changelog)
    asyncio.run(faust_fixes._resume_stream_partitions(recovery, standbys_ready=False))
    assert calls == ["seek", "flow", "consumer flow", "partitions ['ers.readings']", "fetcher", "actives ready",
                     "rebalance end"]
    assert recovery.completed.is_set()


def test_a_fetch_asks_for_the_partitions_active_when_it_was_made(monkeypatch) -> None:
    asked: list[object] = []

    async def faust_getmany(thread, partitions, timeout):
        await asyncio.sleep(0)  # waits in the consumer thread while the worker pauses partitions
        asked.append(partitions if partitions is None else set(partitions))
        return {}

    monkeypatch.setattr(faust_fixes, "_faust_thread_getmany", faust_getmany)
    live = {TP0, TP("ers.readings", 1)}

    async def fetch_then_pause() -> None:
        fetch = asyncio.ensure_future(faust_fixes._getmany(None, live, 1.0))
        await asyncio.sleep(0)
        live.clear()  # the end of a recovery pauses what was active
        await fetch

    asyncio.run(fetch_then_pause())
    assert asked == [{TP0, TP("ers.readings", 1)}], "aiokafka reads an empty set as every partition"
    assert asyncio.run(faust_fixes._getmany(None, set(), 1.0)) == {} and len(asked) == 1
    asyncio.run(faust_fixes._getmany(None, None, 1.0))
    assert asked[-1] is None  # a client-only app asks for every partition, as Faust means it


def test_a_flush_waits_until_every_buffered_message_is_acknowledged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust's ProducerBuffer.flush gave up after 0.1 s without a message going out, and the consumer then
    committed offsets past table writes still in the buffer."""
    monkeypatch.setattr(faust_fixes, "_faust_buffer_put", lambda buffer, fut: None)

    class Buffer:
        state = "running"

    async def scenario() -> None:
        buffer = Buffer()
        loop = asyncio.get_running_loop()
        first, second = loop.create_future(), loop.create_future()
        faust_fixes._buffer_put(buffer, first)  # type: ignore[arg-type]
        faust_fixes._buffer_put(buffer, second)  # type: ignore[arg-type]
        loop.call_later(0.3, first.set_result, "acknowledged")
        loop.call_later(0.5, second.set_exception, RuntimeError("failed (Faust logs it)"))
        started = loop.time()
        await faust_fixes._buffer_flush(buffer)  # type: ignore[arg-type]
        assert loop.time() - started >= 0.45
        assert first.done() and second.done()
        second.exception()

    asyncio.run(scenario())


def paused_consumer(active: set, buffered: set, fetched: list) -> SimpleNamespace:
    """What `_wait_next_records` and `on_buffer_drop` use of a Faust consumer."""
    async def getmany(active_partitions, timeout):
        fetched.append((set(active_partitions), timeout))
        return {}

    consumer = SimpleNamespace(flow_active=True, not_waiting_next_records=asyncio.Event(),
                               app=SimpleNamespace(client_only=False), _buffered_partitions=buffered,
                               _getmany=getmany)
    consumer._get_active_partitions = lambda: active
    return consumer


def test_a_partition_paused_for_a_full_queue_is_fetched_again_soon_after_the_queue_drains() -> None:
    """Item 7: Faust's fetcher waited up to a second for the other partitions, or slept a second with none left,
    while the agent emptied its queue and then sat idle."""
    readings, ticks = TP("ers.readings", 0), TP("ers.ticks", 0)
    fetched: list = []
    busy = paused_consumer({ticks}, {readings}, fetched)
    asyncio.run(faust_fixes._wait_next_records(busy, 1.0))
    assert fetched == [({ticks}, faust_fixes.BUFFER_POLL_SECONDS)]
    calm = paused_consumer({ticks}, set(), fetched)
    asyncio.run(faust_fixes._wait_next_records(calm, 1.0))
    assert fetched[-1] == ({ticks}, 1.0)  # nothing paused: Faust's timeout

    async def all_paused_then_drained() -> None:
        active: set = set()
        consumer = paused_consumer(active, {readings}, fetched)
        waiting = asyncio.ensure_future(faust_fixes._wait_next_records(consumer, 1.0))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        faust_fixes._on_buffer_drop(consumer, readings)  # the queue drained to 40 %
        assert active == {readings} and not consumer._buffered_partitions
        await asyncio.wait_for(waiting, 0.5)  # woken by the drop, not after Faust's second

    asyncio.run(all_paused_then_drained())
