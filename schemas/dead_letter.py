"""What an agent could not process, with enough context to find and replay it."""
from __future__ import annotations

from typing import Literal

from schemas.base import Event, Timestamp


class DeadLetter(Event):
    type: Literal["dead_letter"] = "dead_letter"
    source_topic: str
    partition: int
    offset: int
    key: str | None
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    error: str
    agent: str
    failed_at: Timestamp
    peer: str | None = None  # the TCP peer, for a packet the HJ 212 gateway refused
