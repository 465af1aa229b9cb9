"""Turning a message an agent could not process into a DeadLetter."""
from __future__ import annotations

import base64
import datetime as dt

from schemas import DeadLetter


def dead_letter_for(
    *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, error: str, agent: str,
    failed_at: dt.datetime,
) -> DeadLetter:
    payload, encoding = _text(value or b"")
    return DeadLetter(
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=None if key is None else _text(key)[0],
        payload=payload,
        payload_encoding=encoding,
        error=error,
        agent=agent,
        failed_at=failed_at,
    )


def _text(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
