"""Turning a message an agent could not process into a DeadLetter that fits in one record.

A dead letter embeds the original value, base64 when it is not UTF-8 and JSON-escaped otherwise, so it can be up to
six times the original's size. When that is more than the dead-letter topic takes, the letter carries the original's
size, SHA-256 and first bytes instead: a refused message always leaves a dead letter."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib

from contingency.ids import derive
from schemas import DeadLetter, encode

RECORD_OVERHEAD = 1024  # bytes of a record besides its key and value: batch and record headers, headers, slack
PREFIX_BYTES = (4096, 1024, 256, 0)  # the first bytes kept of an original that does not fit, tried in turn
KEY_BYTES = 1024  # a longer key is cut: it is both the letter's record key and its `key` field
ERROR_CHARS = 1000  # of the reason, in a letter that had to be cut


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The dead letter's own record key: the original's, cut to KEY_BYTES."""
    return None if key is None else key[:KEY_BYTES]


def dead_letter_for(
    *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, error: str, agent: str,
    failed_at: dt.datetime, max_bytes: int,
) -> DeadLetter:
    """`max_bytes`: the largest record the dead-letter topic and our producer accept (streams.channels). The letter
    encoded, plus its record key (dead_letter_key) and RECORD_OVERHEAD, is at most that, for any limit of 16 KB or
    more (the worst case: a key and a reason of control characters, six bytes each in JSON)."""
    raw = value or b""
    record_key = dead_letter_key(key)
    budget = max_bytes - RECORD_OVERHEAD - len(record_key or b"")
    context = dict(
        # One message, one letter: written again (its agent's batch was retried after a broker error) it has the
        # same id, which a reader of the dead-letter topic can drop.
        event_id=derive("dead-letter", topic, partition, offset, agent),
        source_topic=topic, partition=partition, offset=offset,
        key=None if key is None else _text(key, KEY_BYTES)[0], key_truncated=key is not None and len(key) > KEY_BYTES,
        agent=agent, failed_at=failed_at, payload_bytes=len(raw), payload_sha256=hashlib.sha256(raw).hexdigest(),
    )
    # Embedded, the payload takes at least as many bytes as the original: skip encoding one that cannot fit.
    if len(raw) <= budget:
        payload, encoding = _text(raw)
        whole = DeadLetter(**context, payload=payload, payload_encoding=encoding, error=error)
        if len(encode(whole)) <= budget:
            return whole
    reason = error if len(error) <= ERROR_CHARS else error[:ERROR_CHARS] + "…"
    for size in PREFIX_BYTES:
        payload, encoding = _text(raw, size)
        letter = DeadLetter(**context, payload=payload, payload_encoding=encoding, error=reason,
                            payload_truncated=True)
        if len(encode(letter)) <= budget:
            break
    return letter


def _text(raw: bytes, limit: int | None = None) -> tuple[str, str]:
    """`raw`, or its first `limit` bytes, as text when `raw` is UTF-8 (cut before a split character), else base64."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw[:limit]).decode("ascii"), "base64"
    return (text if limit is None or len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")), "utf-8"
