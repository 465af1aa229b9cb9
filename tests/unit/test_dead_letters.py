"""A refused message always leaves a dead letter that fits in one record (issue 13, item 2)."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json

import faust
import pytest

from schemas import DeadLetter, encode
from schemas.topics import DLQ, INCIDENTS, READINGS, TopicNames
from streams.agents.rules import rules_handler
from streams.channels import FAUST_FETCH_BYTES, Channels, fetch_bytes
from streams.dead_letters import KEY_BYTES, RECORD_OVERHEAD, dead_letter_for, dead_letter_key
from tests.unit.test_agents import PLAN, FixedClock, event, fake_channels

NOW = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)
LIMIT = 1_000_000  # Faust's producer_max_request_size, under the broker's default 1,048,588

INVALID_UTF8 = bytes(range(256)) * 3600                   # 921,600 bytes, base64: 1.2 MB
ESCAPED_QUOTES = b'"' + b'\\"' * 450_000 + b'"'           # a 900 KB JSON string, escaped again: 1.8 MB
CONTROL_CHARS = b"\x01" * 400_000                          # 400 KB of UTF-8, \u0001 each: 2.4 MB
MULTIBYTE = "氨氮超标".encode() * 100_000                   # 1.2 MB, three bytes a character


def letter_for(value: bytes | None, key: bytes | None = b"city_source_auto", max_bytes: int = LIMIT,
               error: str = "(message): Input should be an object") -> DeadLetter:
    return dead_letter_for(topic="ers.readings", partition=3, offset=1207, key=key, value=value, error=error,
                           agent="rules", failed_at=NOW, max_bytes=max_bytes)


def record_bytes(letter: DeadLetter, key: bytes | None) -> int:
    return len(encode(letter)) + len(dead_letter_key(key) or b"") + RECORD_OVERHEAD


def first_bytes(letter: DeadLetter) -> bytes:
    if letter.payload_encoding == "base64":
        return base64.b64decode(letter.payload)
    return letter.payload.encode("utf-8")


@pytest.mark.parametrize("value", [b'{"station_id": "s1", "observed_at": "yesterday"}', b"\xff\xfe\x00garbage",
                                   b"\x01" * 100_000, b""])
def test_a_dead_letter_that_fits_embeds_the_payload_unchanged(value: bytes) -> None:
    letter = letter_for(value)
    assert first_bytes(letter) == value and not letter.payload_truncated
    assert letter.payload_bytes == len(value) and letter.payload_sha256 == hashlib.sha256(value).hexdigest()
    assert letter.error == "(message): Input should be an object" and letter.key == "city_source_auto"


@pytest.mark.parametrize("value", [INVALID_UTF8, ESCAPED_QUOTES, CONTROL_CHARS, MULTIBYTE])
def test_a_dead_letter_of_an_original_that_does_not_fit_has_its_size_hash_and_first_bytes(value: bytes) -> None:
    letter = letter_for(value)
    assert letter.payload_truncated and record_bytes(letter, b"city_source_auto") <= LIMIT
    assert letter.payload_bytes == len(value) and letter.payload_sha256 == hashlib.sha256(value).hexdigest()
    prefix = first_bytes(letter)
    assert 1024 <= len(prefix) <= 4096 and value.startswith(prefix)
    assert letter.payload_encoding == ("base64" if value is INVALID_UTF8 else "utf-8")
    assert (letter.source_topic, letter.partition, letter.offset) == ("ers.readings", 3, 1207)
    assert letter.error == "(message): Input should be an object"
    # The reader needs nothing else: the letter round-trips as the DLQ topic's contract.
    assert DeadLetter.model_validate_json(encode(letter)) == letter


def test_a_payload_just_under_the_limit_is_embedded_and_one_over_is_cut() -> None:
    sample = 100_000  # as many digits in payload_bytes as the payload that just fits
    room = sample + LIMIT - record_bytes(letter_for(b"x" * sample), b"city_source_auto")
    assert not letter_for(b"x" * room).payload_truncated
    assert record_bytes(letter_for(b"x" * room), b"city_source_auto") == LIMIT
    assert letter_for(b"x" * (room + 1)).payload_truncated


@pytest.mark.parametrize("max_bytes", [16_000, 64_000, 200_000])
@pytest.mark.parametrize("value", [INVALID_UTF8, ESCAPED_QUOTES, CONTROL_CHARS])
def test_a_dead_letter_fits_a_small_limit_too(value: bytes, max_bytes: int) -> None:
    key = b"\x01" * 5000  # control characters: six bytes each in JSON, the worst case
    letter = letter_for(value, key=key, max_bytes=max_bytes, error="\x02" * 50_000)
    assert record_bytes(letter, key) <= max_bytes
    assert letter.payload_truncated and letter.payload_sha256 == hashlib.sha256(value).hexdigest()
    assert len(letter.error) <= 1001 and letter.error.startswith("\x02" * 100)


def test_an_oversize_key_is_cut_in_the_record_key_and_in_the_letter() -> None:
    key = b"k" * 900_000
    letter = letter_for(b"not json", key=key)
    assert dead_letter_key(key) == b"k" * KEY_BYTES
    assert letter.key == "k" * KEY_BYTES and letter.key_truncated
    assert letter.payload == "not json" and not letter.payload_truncated
    assert record_bytes(letter, key) <= LIMIT
    assert not letter_for(b"not json", key=b"k" * KEY_BYTES).key_truncated


def test_the_agents_cut_a_dead_letter_to_the_topics_limit() -> None:
    ch = fake_channels()
    ch.dlq.max_bytes = 50_000
    handle = rules_handler(ch, PLAN, FixedClock(), {})
    asyncio.run(handle(event("readings", INVALID_UTF8, "city_source_auto")))
    [(key, value)] = ch.dlq.sent
    assert key == b"city_source_auto" and len(key) + len(value) + RECORD_OVERHEAD <= 50_000
    letter = json.loads(value)
    assert letter["payload_truncated"] and letter["payload_bytes"] == len(INVALID_UTF8)
    assert letter["payload_sha256"] == hashlib.sha256(INVALID_UTF8).hexdigest()
    assert INVALID_UTF8.startswith(base64.b64decode(letter["payload"]))


NAMES = TopicNames("t.", 4)
BROKER_DEFAULT = 1_048_588


def limits(**by_suffix: int) -> dict[str, int]:
    topics = {spec.name: BROKER_DEFAULT for spec in NAMES.specs()}
    return {**topics, **{NAMES.prefix + suffix: size for suffix, size in by_suffix.items()}}


def test_the_dead_letter_limit_is_the_smaller_of_the_topics_and_the_producers() -> None:
    app = faust.App("dead-letter-limits", broker="kafka://127.0.0.1:1", producer_max_request_size=700_000)
    assert Channels.declare(app, NAMES, limits()).dlq.max_bytes == 700_000
    assert Channels.declare(app, NAMES, limits(**{DLQ.suffix: 300_000})).dlq.max_bytes == 300_000


def test_the_fetch_size_holds_the_largest_record_a_consumed_topic_takes() -> None:
    assert fetch_bytes(limits(), NAMES) == BROKER_DEFAULT
    assert fetch_bytes(limits(**{READINGS.suffix: 5_000_000}), NAMES) == 5_000_000
    assert not INCIDENTS.consumed
    small = {name: 1000 for name in limits()}
    assert fetch_bytes({**small, NAMES.of(INCIDENTS): 9_000_000}, NAMES) == FAUST_FETCH_BYTES
