"""A partial workaround for a faust-streaming + aiokafka defect that lost messages after a restart.

After a rebalance Faust seeks every assigned partition to its committed offset (`Recovery` ->
`consumer.perform_seek()` -> aiokafka `seek_to_committed`). aiokafka only seeks when the committed offset is
above 0; for a partition with no committed offset (or 0) it leaves the fetch position where it is. While the
tables recover, the fetcher may already have fetched such a partition's first records, which Faust drops because
flow is suspended; the position has moved past them, so they are never consumed. We saw it as SMS never sent
after a worker was killed before it had committed anything on a notifications partition (tests/e2e
test_killed_after_queueing_a_notification_sends_exactly_one_sms, about one run in five).

What this does: after seeking to committed offsets, partitions of stream topics without a committed offset are
sought to their beginning, which is what `auto_offset_reset = earliest` means for them. Table changelogs are left
alone (their recovery positions them). It narrows the loss but does not close it: in about one restart in twenty
the first record of such a partition was still not handed to the agent (no "DROPPED" or "Skipping" in Faust's
dev log; cause not found). For SMS, handlers/notification_sweep.py sends what the dispatcher never took.
"""
from __future__ import annotations

import logging
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_installed = False
log = logging.getLogger("ers.faust")


async def _seek_to_committed_or_beginning(thread: AIOKafkaConsumerThread) -> Any:
    consumer = thread._ensure_consumer()
    committed = await consumer.seek_to_committed()
    changelogs = thread.app.tables.changelog_topics
    unplaced = [tp for tp, offset in committed.items()
                if not offset and tp.topic not in changelogs and "__assignor" not in tp.topic]
    if unplaced:
        await consumer.seek_to_beginning(*unplaced)
    log.info("after rebalance: %d partition(s) at committed offsets, %d without one from the beginning",
             len(committed) - len(unplaced), len(unplaced))
    return committed


def install() -> None:
    global _installed
    if _installed:
        return

    async def seek_to_committed(self: AIOKafkaConsumerThread) -> Any:
        return await self.call_thread(_seek_to_committed_or_beginning, self)

    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    _installed = True
