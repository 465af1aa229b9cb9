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
    # The original value's size and SHA-256 (hex), set by the agents. A dead letter must fit in one record, so when
    # the original does not, `payload` holds only its first bytes and `payload_truncated` is true.
    payload_bytes: int | None = None
    payload_sha256: str | None = None
    payload_truncated: bool = False
    key_truncated: bool = False  # `key` holds only the first bytes of an oversize key
