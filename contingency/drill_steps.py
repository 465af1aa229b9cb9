"""The steps of a drill run: what the runner sends, in which order, at which virtual time. Pure.

A drill log holds the events; time itself is sent as ticks: every `tick` (one minute by default) the runner sends a
`StationTick` for each station the log has readings of (other stations would be found silent) and one `ClockTick`
for escalation timers. At equal times the clock step goes first: time reaches `t`, then what happened at `t`.

Ids are derived from the log's content and the line, not from the drill id: two runs of one log give the same
incident ids and codes (their SMS texts can be compared), and a log recorded in production gets new ids, so a
drill's incident codes never collide with production's.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import BaseModel

from contingency.drill_log import DrillEntry, DrillLog
from contingency.ids import derive
from schemas.readings import StationReport
from schemas.ticks import ClockTick, StationTick
from schemas.topics import BY_SUFFIX, CLOCK, HJ212_RAW, READINGS, TICKS, Topic

DEFAULT_TICK = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Step:
    at: dt.datetime
    entry: DrillEntry | None = None  # None: a clock step

    @property
    def is_clock(self) -> bool:
        return self.entry is None


@dataclass(frozen=True)
class Outgoing:
    topic: Topic
    key: str
    event: BaseModel
    at: dt.datetime


def log_digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def drill_steps(log: DrillLog, tick: dt.timedelta = DEFAULT_TICK) -> Iterator[Step]:
    """Clock steps every `tick` (on whole multiples of it since the epoch) from the log's start to its end, and
    the log's entries, in time order."""
    if tick <= dt.timedelta(0):
        raise ValueError("tick must be positive")
    if not log.entries:
        return
    start, end = log.entries[0].at, log.entries[-1].at
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    at = epoch + tick * -(-(start - epoch) // tick)  # the first whole tick at or after the start
    entries = iter(log.entries)
    pending = next(entries, None)
    while at <= end or pending is not None:
        if pending is not None and pending.at < at or at > end:
            assert pending is not None
            yield Step(pending.at, pending)
            pending = next(entries, None)
        else:
            yield Step(at.astimezone(start.tzinfo))
            at += tick


def log_stations(log: DrillLog, packet_readings: Mapping[int, StationReport] = MappingProxyType({})) -> list[str]:
    """The stations the log has readings of (its own, and those its HJ 212 packets make), in order of first
    appearance."""
    seen: dict[str, None] = {}
    for entry in log.entries:
        if entry.topic == READINGS.suffix:
            seen.setdefault(entry.key)
        elif entry.line in packet_readings:
            seen.setdefault(packet_readings[entry.line].station_id)
    return list(seen)


def step_events(step: Step, drill_id: str, digest: str, stations: list[str], first_codes: Mapping[str, str],
                packet_readings: Mapping[int, StationReport] = MappingProxyType({})) -> list[Outgoing]:
    """What to send for a step. For an `@first:` command whose source has no incident yet, KeyError.

    `packet_readings` holds, by line, the reading each hj212-raw line makes when read through the gateway's parser
    (the caller reads them: parsing the wire format is not the domain's); the packet goes to the drill's raw
    archive and its reading to readings, as the gateway would have sent them."""
    if step.entry is None:
        ticks: list[Outgoing] = [
            Outgoing(TICKS, station, StationTick(event_id=derive("drill-tick", digest, station, step.at.isoformat()),
                                                   station_id=station, at=step.at, drill_id=drill_id), step.at)
            for station in stations]
        clock = ClockTick(event_id=derive("drill-clock", digest, step.at.isoformat()), at=step.at, drill_id=drill_id)
        return ticks + [Outgoing(CLOCK, "clock", clock, step.at)]
    entry = step.entry
    event = entry.resolve(first_codes)
    event = event.model_copy(update={"drill_id": drill_id, "event_id": derive("drill-event", digest, entry.line)})
    out = [Outgoing(BY_SUFFIX[entry.topic], entry.key, event, entry.at)]
    reading = packet_readings.get(entry.line) if entry.topic == HJ212_RAW.suffix else None
    if reading is not None:
        # From the reading's own id, not the line: a packet the station resent is the same reading, as live.
        reading = reading.model_copy(update={"drill_id": drill_id,
                                             "event_id": derive("drill-event", digest, reading.event_id)})
        out.append(Outgoing(READINGS, reading.station_id, reading, entry.at))
    return out
