"""A batch's table entries written at once: one record batch per changelog partition, waited for, then stored.

Setting a Faust table entry sends its changelog record on its own: a pending message, a buffered future, a task
step to publish it and a callback when the broker has it. The rules stage writes a station state for almost every
reading while it works through a backlog of many stations (issue 14, bench/catch_up.py), and that path took a
third of the worker. Here a batch's entries go into aiokafka record batches (its public `create_batch` and
`send_batch`), one per partition until full, and are stored in the table once the broker has them all: a
changelog recovery reads the same records, and an entry is never in memory without being on the broker.
"""
from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, MutableMapping
from typing import Any

from faust.tables.base import Collection


async def write_entries(table: MutableMapping[Any, Any], entries: Iterable[tuple[Any, bytes, int]]) -> None:
    """Store `entries` (key, value, changelog partition: that of the input the value came from, as Faust's own
    table writes do) in `table`, after the broker acknowledged each one's changelog record. Values are bytes
    (a table with a raw value serializer); keys are serialized as the table's schema says. A mapping that is no
    Faust table (a dict, in unit tests) takes the entries as they are."""
    by_partition: defaultdict[int, list[tuple[Any, bytes]]] = defaultdict(list)
    for key, value, partition in entries:
        by_partition[partition].append((key, value))
    if not isinstance(table, Collection):
        for items in by_partition.values():
            table.update(items)
        return
    if not by_partition:
        return
    topic: Any = table.changelog_topic
    name = topic.get_topic_name()
    producer = table.app.producer._ensure_producer()  # the aiokafka producer under Faust's, as Faust sends with
    pending: list[asyncio.Future] = []
    for partition, items in by_partition.items():
        batch = producer.create_batch()
        for key, value in items:
            record_key, _ = topic.prepare_key(key, table.key_serializer)
            if batch.append(key=record_key, value=value, timestamp=None) is None:  # full: the first always fits
                pending.append(await producer.send_batch(batch, name, partition=partition))
                batch = producer.create_batch()
                batch.append(key=record_key, value=value, timestamp=None)
        pending.append(await producer.send_batch(batch, name, partition=partition))
    await asyncio.gather(*pending)
    data = table.data
    for items in by_partition.values():
        for key, value in items:
            data[key] = value
