"""What every agent does the same way: dead letters, sending outputs, wall-clock time."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import faust
from faust.types import EventT, TopicT

from schemas import encode
from streams.dead_letters import dead_letter_for
from streams.memo import Output

log = logging.getLogger("ers.streams")

# Table keys are ids and values are the JSON of domain state: str keys must survive a changelog recovery.
JSON_TABLE = faust.Schema(key_serializer="json", value_serializer="json")


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def send_dead_letter(dlq: TopicT, event: EventT, error: str, agent: str) -> None:
    msg = event.message
    letter = dead_letter_for(
        topic=msg.topic, partition=msg.partition, offset=msg.offset, key=_bytes(msg.key), value=_bytes(msg.value),
        error=error, agent=agent, failed_at=wall_clock(),
    )
    log.warning("dead letter from %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, error)
    await dlq.send(key=_bytes(msg.key), value=encode(letter))


async def send_outputs(topics: dict[str, TopicT], outputs: Iterable[Output]) -> None:
    for out in outputs:
        await topics[out.topic].send(key=out.key.encode("utf-8"), value=out.value)


def _bytes(raw: object) -> bytes | None:
    if raw is None or isinstance(raw, bytes):
        return raw
    return str(raw).encode("utf-8")
