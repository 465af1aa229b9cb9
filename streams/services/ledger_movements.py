"""Recording ledger movements from a command: send them to the worker's inventory topic, then wait until the
worker has recorded each one or refused it (a dead letter with the reason)."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from handlers.kafka_io import TopicWatch, send_event
from schemas import InventoryMovement, encode
from schemas.topics import DLQ, INVENTORY, TopicNames


class RecordedMovements(Protocol):
    def movements(self, depot_id: str | None = None, item_id: str | None = None) -> list[InventoryMovement]: ...


@dataclass(frozen=True)
class MovementsOutcome:
    recorded: list[str]         # event ids the ledger holds
    refused: dict[str, str]     # event id -> the ledger's reason
    waiting: list[str]          # neither, when the wait ended (no worker running?)


def record_movements(bootstrap: str, names: TopicNames, ledger: RecordedMovements,
                     movements: Sequence[InventoryMovement], wait: float) -> MovementsOutcome:
    ids = [str(m.event_id) for m in movements]
    refused: dict[str, str] = {}
    watch = TopicWatch(bootstrap, names.of(DLQ))  # positioned before anything is sent
    try:
        for movement in movements:
            send_event(bootstrap, names.of(INVENTORY), movement.depot_id, encode(movement))
        deadline = time.monotonic() + wait
        while True:
            held = {str(m.event_id) for m in ledger.movements()}
            pending = [i for i in ids if i not in held and i not in refused]
            if not pending or time.monotonic() > deadline:
                break
            letter = watch.find(lambda letter: any(i in letter.get("payload", "") for i in pending), 0.3)
            if letter is not None:
                refused.update({i: letter.get("error", "") for i in pending if i in letter.get("payload", "")})
    finally:
        watch.close()
    return MovementsOutcome([i for i in ids if i in held], refused, pending)
