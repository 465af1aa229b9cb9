"""Hostile input (issue 13 item 9): thousands of messages no sender should send, across the four topics people and
stations write to (readings, reports, commands, inventory), interleaved with readings over a limit. The worker
never stops (alive, /health 200 at the end), every hostile message leaves exactly one dead letter (matched by the
topic, partition and offset it was written to), the valid readings still open their incidents, once each, and the
SMS the hostile input causes (a refused ledger movement pages the materials officer) go out once each.

The kinds: random bytes, invalid UTF-8, not JSON, JSON of the wrong shape (a list, a number, an object of nothing
we know, nesting 3,000 deep), a required field missing, a number written as a string, NaN / infinity / numbers too
large for a float or for their field, times far in the future or the past, stations and depots the plan does not
know, and oversize values (~900 KB). A kind applies to a topic when the worker refuses it there: a command naming
an incident nobody knows is answered, not refused, a command has no number field to write as a string, and a
report naming an unknown source is attached to the nearest one (contingency/reports.py), so those are not sent
(NOT_REFUSED). A refused ledger movement pages the materials officer once per 15 minutes, not once each.

Deterministic: one seeded random generator. Short: 2,000 hostile messages. Full (ERS_CHAOS=full): 20,000."""
from __future__ import annotations

import collections
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from kafka import KafkaProducer

from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from handlers.database import make_engine
from handlers.inventory_store import InventoryStore
from tests.chaos import accounting
from tests.chaos.conftest import Figures, scaled
from tests.integration.harness import TopicReader, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]
SEED = 20260913
HOSTILE = int(scaled(2_000, 20_000))
OVERSIZE = int(scaled(8, 40))  # of them ~900 KB each (the broker takes 1 MB a record)
OVERSIZE_BYTES = 900_000
QUIET_SECONDS = 30  # no new dead letter for this long: the rest are not coming
TOPICS = ("readings", "reports", "commands", "inventory")
KINDS = ("random bytes", "invalid UTF-8", "not JSON", "wrong shape", "missing field", "number as string",
         "NaN or huge", "far time", "unknown id", "oversize")
NOT_REFUSED = {("commands", "unknown id"), ("commands", "number as string"), ("reports", "unknown id")}
STATIONS = ("hlh_dsk_auto", "city_source_auto", "yirshi_wwtp_online")  # stations measuring pH
# Readings over limits of plans/arxan.yaml at four sources none of which folds into another: (station, parameter,
# value, unit, the source whose incident opens).
VALID = [("yirshi_wwtp_online", "cod", 80.0, "mg/L", "yirshi_wwtp_outfall"),
         ("city_air_auto", "no2", 1500.0, "ug/m3", "arxan_city_air"),
         ("city_source_auto", "ammonia_nitrogen", 1.6, "mg/L", "arxan_city_drinking_source"),
         ("tailings_example_online", "seepage_flow", 9.0, "L/s", "tailings_example")]
FAR_TIMES = ("9999-12-31T23:59:59+00:00", "2200-01-01T00:00:00+00:00", "1970-01-01T00:00:00+00:00",
             "0001-01-01T00:00:00+00:00", "2000-02-29T12:00:00+08:00")


@dataclass(frozen=True)
class Message:
    topic: str  # the registry's suffix
    kind: str
    key: bytes | None
    value: bytes


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


RAW = "@@raw@@"  # a field's placeholder for a token JSON itself cannot write (NaN, 1e400)


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8")


def valid_event(topic: str, rng: random.Random, now: str) -> dict:
    """An event the worker would take, for the hostile kinds to spoil one thing of. `now`: its time."""
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if topic == "readings":
        station = rng.choice(STATIONS)
        return {"event_id": event_id, "station_id": station, "observed_at": now,
                "measurements": [{"parameter": "pH", "value": 7.1, "unit": "dimensionless"}]}
    if topic == "reports":
        return {"event_id": event_id, "reported_at": now, "category": "oil_spill", "description": "chaos",
                "location": {"lat": 47.17, "lon": 119.94}}
    if topic == "commands":
        return {"event_id": event_id, "action": "ack", "incident_code": "ZZZ", "actor": "chaos", "channel": "cli",
                "issued_at": now}
    return {"event_id": event_id, "kind": "receipt", "depot_id": "yirshi", "item_id": "sandbags", "quantity": 5,
            "unit": "个", "occurred_at": now, "actor": "chaos"}


def key_of(topic: str, event: dict) -> bytes | None:
    """The key a sender would use: a reading keyed otherwise than by its station would be re-keyed (a new record,
    whose dead letter would name another offset)."""
    name = {"readings": "station_id", "inventory": "depot_id"}.get(topic)
    return None if name is None else str(event[name]).encode("utf-8")


def spoil(topic: str, kind: str, rng: random.Random, now: str) -> Message:
    """One hostile message of `kind` for `topic`."""
    event = valid_event(topic, rng, now)
    key: bytes | None = rng.choice([None, rng.randbytes(rng.randint(1, 40)), b"chaos"])
    if kind == "random bytes":
        value = rng.randbytes(rng.randint(0, 600))
    elif kind == "invalid UTF-8":
        text = _json(event)
        cut = rng.randint(2, len(text) - 2)
        value = text[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + text[cut:]
        if rng.random() < 0.3:  # or inside a string, where a lenient parser might let it through
            field = {"readings": "station_id", "reports": "description", "commands": "actor",
                     "inventory": "actor"}[topic]
            value = _json({**event, field: "X"}).replace(b'"X"', b'"\xc0\xaf\xfe"')
    elif kind == "not JSON":
        value = rng.choice([b"", b"hello", b"<xml/>", b"{'single': 'quotes'}", b'{"a": 1,}', b"{", b"\x00" * 8,
                            b"station_id=hlh_dsk_auto&value=1", _json(event)[:-1], _json(event) + b"}",
                            "\u9519\u8bef".encode("utf-8"), b"NaN", b"--", b"\xef\xbb\xbf"])
    elif kind == "wrong shape":
        value = rng.choice([_json([event]), b"42", b'"a string"', b"null", b"true", _json({"foo": "bar"}),
                            _json({**event, "type": "something_else"}), _json({**event, "extra_field": 1}),
                            b"[" * 3000 + b"]" * 3000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                            _json({"payload": event})])
    elif kind == "missing field":
        required = {"readings": ["station_id", "observed_at", "measurements"],
                    "reports": ["reported_at", "category", "location"],
                    "commands": ["action", "actor", "channel", "issued_at"],
                    "inventory": ["kind", "depot_id", "item_id", "quantity", "unit", "occurred_at"]}[topic]
        del event[rng.choice(required)]
        value = _json(event)
    elif kind == "number as string":
        if topic == "readings":
            event["measurements"][0]["value"] = rng.choice(["7.1", "1e3", " 7 ", "七"])
        elif topic == "reports":
            event["location"]["lat"] = rng.choice(["47.17", "47", "north"])
        else:
            event["quantity"] = rng.choice(["5", "5.0", "five"])
        value = _json(event)
    elif kind == "NaN or huge":
        token = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e300", b"1e300", b"9" * 400])
        if topic == "readings":  # pH, whose physical range is 0-14
            event["measurements"][0]["value"] = RAW
        elif topic == "reports":
            event["location"]["lat"] = RAW
        elif topic == "commands":  # its one number: the contract's version (1)
            event["schema_version"] = RAW
        else:  # over any item's max_movement
            event["quantity"] = RAW
        value = _json(event).replace(_json(RAW), token)
    elif kind == "far time":
        field = {"readings": "observed_at", "reports": "reported_at", "inventory": "occurred_at",
                 "commands": "issued_at"}[topic]
        event[field] = rng.choice(FAR_TIMES)
        value = _json(event)
    elif kind == "unknown id":
        if topic == "readings":
            event["station_id"] = rng.choice(["no_such_station", "hlh_dsk_auto_2", "x", "A" * 128])
        else:
            event["depot_id"] = rng.choice(["no_such_depot", "yirshi2", "depot.9"])
        value = _json(event)
    else:  # oversize: a JSON event with one string near the broker's record limit, or a blob
        field = {"readings": "station_id", "reports": "description", "commands": "note",
                 "inventory": "reason"}[topic]
        value = rng.choice([_json({**event, field: "x" * OVERSIZE_BYTES}),
                            rng.randbytes(OVERSIZE_BYTES), b'"' + b'\\"' * (OVERSIZE_BYTES // 2) + b'"'])
    if kind in ("far time", "unknown id", "NaN or huge") and topic in ("readings", "inventory"):
        key = key_of(topic, event)  # decodable: keyed as a sender would (readings are not re-keyed)
    return Message(topic, kind, key, value)


def hostile_messages(now: str, seed: int = SEED, count: int = HOSTILE, oversize: int = OVERSIZE) -> list[Message]:
    """`now`: the time of what is not meant to be implausibly timed."""
    rng = random.Random(seed)
    kinds = {topic: [k for k in KINDS if k != "oversize" and (topic, k) not in NOT_REFUSED] for topic in TOPICS}
    messages = [spoil(TOPICS[i % len(TOPICS)], rng.choice(kinds[TOPICS[i % len(TOPICS)]]), rng, now)
                for i in range(count - oversize)]
    for i in range(oversize):
        messages.insert(rng.randint(0, len(messages)), spoil(TOPICS[i % len(TOPICS)], "oversize", rng, now))
    return messages


def valid_reading(station: str, parameter: str, value: float, unit: str) -> Message:
    return Message("readings", "valid", station.encode(), _json(
        {"event_id": str(uuid.uuid4()), "station_id": station, "observed_at": _now(),
         "measurements": [{"parameter": parameter, "value": value, "unit": unit}]}))


def event_id_of(message: Message) -> str | None:
    try:
        return str(json.loads(message.value)["event_id"])
    except (ValueError, TypeError, KeyError, RecursionError):
        return None


def dead_letter_count(written: list[tuple[str, int, int]], letters: list[dict]) -> accounting.Count:
    return accounting.dead_letters(written, letters)


def test_the_count_sees_a_letter_too_many_and_one_too_few() -> None:
    """The experiment's verdict is honest: one letter doubled, or one missing, or one for a valid message, shows."""
    written = [("t.readings", 0, 5), ("t.reports", 0, 7), ("t.readings", 2, 5)]
    letters = [{"source_topic": t, "partition": p, "offset": o} for t, p, o in written]
    assert dead_letter_count(written, letters) == accounting.Count(3, 3, 0, 0)
    assert dead_letter_count(written, letters + letters[:1]).doubled == 1
    assert dead_letter_count(written, letters[1:]).lost == 1
    stray = {"source_topic": "t.readings", "partition": 1, "offset": 5}
    assert dead_letter_count(written, letters + [stray]).doubled == 1


def test_the_hostile_messages_are_the_same_every_run() -> None:
    now = "2026-09-13T08:00:00+08:00"
    first, again = hostile_messages(now, count=200, oversize=4), hostile_messages(now, count=200, oversize=4)
    assert [(m.topic, m.kind, m.key, m.value) for m in first] == [(m.topic, m.kind, m.key, m.value) for m in again]
    assert {m.kind for m in first} == set(KINDS)


@pytest.fixture(scope="module")
def sms() -> Iterator[LocalTwilioApi]:
    """This experiment's own: a refused movement pages the materials officer, and those SMS are counted too."""
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


@pytest.fixture(scope="module")
def worker(broker: str, sms: LocalTwilioApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), sms).start()
    yield process
    process.stop()


def test_hostile_input_leaves_one_dead_letter_each_and_valid_readings_still_open_incidents(
        broker: str, worker: WorkerProcess, sms: LocalTwilioApi, figures: list[Figures]) -> None:
    hostile = hostile_messages(_now())
    stream = list(hostile)
    step = len(stream) // (len(VALID) + 1)
    for i, (station, parameter, value, unit, _) in reversed(list(enumerate(VALID, start=1))):
        stream.insert(i * step, valid_reading(station, parameter, value, unit))

    dlq = TopicReader(broker, worker.topic("dlq"))
    incidents = TopicReader(broker, worker.topic("incidents"))
    notifications = TopicReader(broker, worker.topic("notifications"))
    delivery = TopicReader(broker, worker.topic("delivery"))
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", max_request_size=2**21, linger_ms=5)
    began, began_wall = time.monotonic(), dt.datetime.now(dt.timezone.utc)
    try:
        futures = [(m, producer.send(worker.topic(m.topic), key=m.key, value=m.value)) for m in stream]
        producer.flush(timeout=300)
        written = [(m, f.get(timeout=60)) for m, f in futures]
    finally:
        producer.close()
    sent_in = time.monotonic() - began
    where = {(meta.topic, meta.partition, meta.offset): m for m, meta in written if m.kind != "valid"}
    valid_at = {(meta.topic, meta.partition, meta.offset) for m, meta in written if m.kind == "valid"}
    assert len(where) == len(hostile)

    def at(letter: dict) -> tuple[str, int, int]:
        return letter["source_topic"], letter["partition"], letter["offset"]

    try:
        # Until every hostile message has its letter, or none has come for QUIET_SECONDS (a lost one never will).
        seen: set[tuple[str, int, int]] = set()
        read, last_new = 0, time.monotonic()
        while len(seen) < len(where) and time.monotonic() - last_new < QUIET_SECONDS:
            records = dlq.poll()
            fresh = {at(x) for x in records[read:]} & where.keys()
            read = len(records)
            if fresh - seen:
                seen |= fresh
                last_new = time.monotonic()
            worker.check_alive()
        handled_in = last_new - began
        sources = {source for *_, source in VALID}
        incidents.wait_for(lambda rs: {r["source_id"] for r in rs if r["type"] == "incident.opened"} >= sources,
                           timeout=60)
        letters = dlq.settle(3.0)  # a letter written twice would arrive now
        records = incidents.settle(1.0)
        # The SMS the hostile input caused (a refused movement pages the materials officer): each once.
        page_count = accounting.final_pages(notifications, delivery, sms, timeout=scaled(60, 300))
    finally:
        for reader in (dlq, incidents, notifications, delivery):
            reader.close()
    worker.check_alive()
    answer = requests.get(worker.public_url + "/health", timeout=30)
    from contingency import load_plan
    from contingency.material_notices import refusal_notice_key
    from tests.integration.harness import DEFAULT_PLAN

    plan = load_plan(DEFAULT_PLAN)
    windows = len({refusal_notice_key(plan, t) for t in (began_wall, dt.datetime.now(dt.timezone.utc))})

    hostile_topics = {worker.topic(t) for t in TOPICS}
    others = [x for x in letters if x["source_topic"] not in hostile_topics]  # the worker's own messages
    letters = [x for x in letters if x["source_topic"] in hostile_topics]
    letter_count = dead_letter_count(list(where), letters)
    opened = collections.Counter(r["source_id"] for r in {r["event_id"]: r for r in records}.values()
                                 if r["type"] == "incident.opened")
    incident_count = accounting.count(sorted(sources), [s for s, n in opened.items() if s in sources
                                                        for _ in range(n)])
    lettered = {at(x) for x in letters}
    lost = [k for k in where if k not in lettered]
    lost_kinds = collections.Counter((where[k].topic, where[k].kind) for k in lost)
    # What became of a lost movement: recorded by the ledger as if it were true?
    recorded = {str(m.event_id) for m in InventoryStore(make_engine(worker.env["ERS_DATABASE_URL"])).movements()}
    taken = [where[k] for k in lost if where[k].topic == "inventory" and event_id_of(where[k]) in recorded]
    for_valid = [x for x in letters if at(x) in valid_at]
    per_topic = collections.Counter(m.topic for m in hostile)
    reasons = collections.Counter(x["error"].split(":")[0][:40] for x in letters if at(x) in where)
    name = f"hostile input {len(hostile)} messages"
    figures.append(Figures(name, "dead letters", len(hostile), letter_count.expected, letter_count.observed,
                           letter_count.lost, letter_count.doubled, None, [
                               "hostile by topic: " + ", ".join(f"{t} {n}" for t, n in sorted(per_topic.items())),
                               f"of them {OVERSIZE} oversize (~{OVERSIZE_BYTES // 1000} KB), seed {SEED}",
                               f"written in {sent_in:.1f} s; the last letter {handled_in:.1f} s after the first "
                               f"message; /health at the end {answer.status_code}",
                               "most frequent reasons: " + "; ".join(f"{r} x{n}" for r, n in reasons.most_common(4)),
                               *(f"LOST {topic} / {kind}: {n}" for (topic, kind), n in lost_kinds.most_common(5)),
                               *([f"{len(taken)} lost movements recorded by the ledger instead, e.g. "
                                  f"{taken[0].value[:160].decode('utf-8', 'replace')}"] if taken else [])]))
    figures.append(Figures(name, "incidents opened (valid)", len(VALID), incident_count.expected,
                           incident_count.observed, incident_count.lost, incident_count.doubled))
    refusal_sms = [m for m in sms.messages if m.direction == "outbound-api" and "未入账" in m.body]
    figures.append(Figures(name, "SMS (refusal notices, pages)", per_topic["inventory"], page_count.expected,
                           page_count.observed, page_count.lost, page_count.doubled, None, [
                               f"{len(refusal_sms)} SMS to the materials officer for {per_topic['inventory']} "
                               f"movements refused in {windows} window(s) of 15 minutes; the other SMS page the "
                               "valid readings' incidents",
                               f"{len(others)} dead letters of the worker's own messages" + "".join(
                                   f"; {x['source_topic']}[{x['partition']}]@{x['offset']}: {x['error'][:100]}"
                                   for x in others[:3])]))

    assert letter_count.doubled == 0, letter_count
    assert letter_count.lost == 0, (letter_count, lost_kinds.most_common(10))
    assert not for_valid, f"valid readings dead-lettered: {for_valid[:3]}"
    assert not others, f"dead letters of the worker's own messages: {others[:3]}"
    assert page_count.lost == 0 and page_count.doubled == 0, page_count
    assert incident_count.lost == 0 and incident_count.doubled == 0, (incident_count, opened)
    assert answer.status_code == 200 and answer.json()["status"] == "ok", answer.text
    assert not taken, f"{len(taken)} hostile movements recorded by the ledger instead of refused"
    refusal_sms = [m for m in sms.messages if m.direction == "outbound-api" and "未入账" in m.body]
    assert 1 <= len(refusal_sms) <= windows, \
        f"{len(refusal_sms)} SMS for refused movements in {windows} window(s) of 15 minutes: a flood (or none)"
