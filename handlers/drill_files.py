"""Drill log files: read, write, and `record` one from live Kafka topics (kafka-python).

The format and its checks are in contingency.drill_log; this module only does the I/O.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kafka import KafkaConsumer, TopicPartition

from contingency.drill_log import (
    DrillEntry,
    DrillLog,
    entry_from_json,
    format_entry,
    parse_drill_log,
    read_lines,
)
from handlers.hj212.replay import reading_ids
from schemas.stations import StationPacket
from schemas.topics import HJ212_RAW, READINGS, Topic, TopicNames

if TYPE_CHECKING:
    from contingency.drill_report import DrillReport
    from contingency.plan import Plan

log = logging.getLogger(__name__)


def read_drill_log(path: str | Path, plan: "Plan | None" = None) -> DrillLog:
    """Parse a drill log file; raises contingency.drill_log.DrillLogError listing every problem."""
    return parse_drill_log(read_lines(path), str(path), plan)


def write_drill_log(path: str | Path, entries: Iterable[DrillEntry]) -> int:
    """Write entries as a drill log (one JSON line each); returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for entry in entries:
            out.write(format_entry(entry) + "\n")
            count += 1
    return count


def record_topics(bootstrap: str, names: TopicNames, topics: list[Topic], since: dt.datetime | None,
                  until: dt.datetime | None, out: Path, timeout: float = 60) -> int:
    """Write the records of each of `topics` (named under `names`), from `since` (inclusive; else the beginning)
    to `until` (exclusive; else the end offsets when called), merged by Kafka timestamp, as a drill log at `out`.

    A record whose value is not a valid event of its topic (garbage, a wrong key) is skipped with a warning.
    A line's `at` is the record's Kafka timestamp, or the event's own time if that is later (clock skew), so
    the log always validates. Returns the number of lines written.
    """
    unknown = [t.suffix for t in topics if not t.recordable]
    if unknown:
        raise ValueError(f"cannot record {', '.join(unknown)}: a drill log holds readings, reports, commands, "
                         "inventory and hj212-raw")
    since_ms = _ms(since) if since is not None else None
    until_ms = _ms(until) if until is not None else None
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="ers-drill-record")
    rows: list[tuple[int, int, int, int, DrillEntry]] = []
    try:
        topic_of: dict[str, tuple[int, Topic]] = {}
        tps: list[TopicPartition] = []
        for order, topic in enumerate(topics):
            name = names.of(topic)
            topic_of[name] = (order, topic)
            tps += [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not tps:
            return write_drill_log(out, [])
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        if since_ms is None:
            consumer.seek_to_beginning(*tps)
        else:
            found = consumer.offsets_for_times({tp: since_ms for tp in tps})
            for tp in tps:
                offset = found.get(tp)
                consumer.seek(tp, offset.offset if offset is not None else ends[tp])
        pending = {tp: end for tp, end in ends.items() if consumer.position(tp) < end}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=300).items():
                for record in batch:
                    if record.offset >= ends[tp]:
                        continue  # arrived after we started: not part of this recording
                    if since_ms is not None and record.timestamp < since_ms:
                        continue
                    if until_ms is not None and record.timestamp >= until_ms:
                        continue
                    order, topic = topic_of[tp.topic]
                    entry = _entry(topic, record)
                    if entry is not None:
                        rows.append((int(entry.at.timestamp() * 1000), order, tp.partition, record.offset, entry))
            done = [tp for tp, end in pending.items() if consumer.position(tp) >= end]
            if done:
                consumer.pause(*done)
                pending = {tp: end for tp, end in pending.items() if tp not in done}
        if pending:
            log.warning("drill record: timed out before the end of %s", ", ".join(f"{tp.topic}[{tp.partition}]"
                                                                               for tp in pending))
    finally:
        consumer.close()
    rows.sort(key=lambda row: row[:4])
    return write_drill_log(out, _without_packet_readings([row[4] for row in rows]))


def _without_packet_readings(entries: list[DrillEntry]) -> list[DrillEntry]:
    """A recording of both hj212-raw and readings holds every gateway reading twice: as its packet and as the
    reading made of it. The drill makes the reading again from the packet, so the reading line is left out."""
    packets = [e.event for e in entries if e.topic == HJ212_RAW.suffix and isinstance(e.event, StationPacket)]
    if not packets:
        return entries
    made = reading_ids(packets)
    kept = [e for e in entries if not (e.topic == READINGS.suffix and str(getattr(e.event, "event_id", "")) in made)]
    if len(kept) < len(entries):
        log.info("drill record: left out %d readings that recorded HJ 212 packets make again",
                 len(entries) - len(kept))
    return kept


def _entry(topic: Topic, record) -> DrillEntry | None:  # record: kafka ConsumerRecord
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    try:
        payload = json.loads(record.value)
    except (TypeError, ValueError):
        log.warning("drill record: skipped %s: not JSON", where)
        return None
    at = dt.datetime.fromtimestamp(record.timestamp / 1000, tz=dt.timezone.utc)
    own = _own_time(topic, payload)
    if own is not None and own > at:
        at = own
    data = {
        "topic": topic.suffix,
        "key": record.key.decode("utf-8", errors="replace") if record.key is not None else "",
        "headers": {name: (value or b"").decode("utf-8", errors="replace") for name, value in record.headers or ()},
        "at": at.isoformat(),
        "payload": payload,
    }
    entry, problems = entry_from_json(data, where, 0)
    if entry is None:
        log.warning("drill record: skipped %s: %s", where, "; ".join(f"{p.field}: {p.message}" for p in problems))
    return entry


def _own_time(topic: Topic, payload: object) -> dt.datetime | None:
    field = topic.time_field
    if field is None or not isinstance(payload, dict) or not isinstance(payload.get(field), str):
        return None
    try:
        value = dt.datetime.fromisoformat(payload[field])
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _ms(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()}: give --since/--until with an offset")
    return int(moment.timestamp() * 1000)


def write_report_files(report: "DrillReport", workdir: Path | None, json_path: Path | None,
                       html_path: Path | None) -> list[Path]:
    """The report as JSON and HTML in the drill's folder, and where the user asked; returns the paths written."""
    from streams.views.drill_html import render_html

    text = report.model_dump_json(indent=2)
    page = render_html(report)
    paths: list[Path] = []
    for path, content in ((workdir / "report.json" if workdir else None, text), (json_path, text),
                          (workdir / "report.html" if workdir else None, page), (html_path, page)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content + ("\n" if not content.endswith("\n") else ""), encoding="utf-8")
            paths.append(path)
    return paths


@dataclass(frozen=True)
class DrillWebhook:
    """Where a running drill's worker takes SMS replies, and the sandbox token that signs them."""

    url: str
    account_sid: str
    auth_token: str  # of the drill's own local sandbox, made up for this run: not a Twilio secret
    to: str
    bootstrap: str   # the broker the drill runs on

    FILE = "webhook.json"


def write_drill_webhook(workdir: Path, hook: DrillWebhook) -> None:
    path = workdir / DrillWebhook.FILE
    path.write_text(json.dumps(dataclasses.asdict(hook)), encoding="utf-8")
    path.chmod(0o600)


def read_drill_webhook(workdir: Path) -> DrillWebhook | None:
    path = workdir / DrillWebhook.FILE
    if not path.exists():
        return None
    return DrillWebhook(**json.loads(path.read_text(encoding="utf-8")))
