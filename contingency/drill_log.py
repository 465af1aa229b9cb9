"""The drill log format: JSON Lines, one recorded or scripted event per line, on the log's own time axis.

A line is

    {"topic": "readings", "key": "hlh_dsk_auto", "headers": {}, "at": "2026-07-01T08:00:00+08:00", "payload": {...}}

- `topic`: a topic suffix without prefix (the drill runs under its own prefix): readings (StationReport),
  reports (IncidentReport), commands (Command), inventory (InventoryMovement), hj212-raw (StationPacket: an
  HJ 212 packet as the gateway archived it; the drill reads it through the gateway's parser into a reading);
- `key`: the Kafka key, which must be the payload's key (station_id / source_id or "unassigned" / depot_id);
- `headers`: optional, string to string;
- `at`: ISO time with an offset, the event's original timestamp; non-decreasing through the file; the payload's
  own time (observed_at, reported_at, issued_at, occurred_at) must not be after it;
- `payload`: the event JSON, valid for its topic's schema.

A command may name its incident as `"incident_code": "@first:<source_id>"`: the code of the first incident
opened at that source in this drill (codes are only known when the drill runs).

Pure: parsing and checking only. `read_lines` is the one tiny function that touches a file.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from contingency.problems import Problem
from schemas.base import error_message
from schemas.commands import Command
from schemas.inventory import InventoryMovement
from schemas.readings import StationReport
from schemas.reports import IncidentReport
from schemas.stations import StationPacket
from schemas.topics import RECORDABLE

if TYPE_CHECKING:
    from contingency.plan import Plan

# per topic suffix a log may hold: its event and the payload field holding the event's own time
TOPIC_MODELS: dict[str, type[BaseModel]] = {topic.suffix: topic.events[0] for topic in RECORDABLE}
TIME_FIELDS: dict[str, str] = {topic.suffix: topic.time_field for topic in RECORDABLE if topic.time_field}
LINE_FIELDS = ("topic", "key", "headers", "at", "payload")
FIRST_PREFIX = "@first:"
_FIRST = re.compile(r"^@first:([A-Za-z0-9_.:\-]{1,128})$")
_PLACEHOLDER_CODE = "ZZ"  # stands in for an @first: reference while the rest of a command is validated
WHOLE_LINE = ("(line)",)


class DrillLogError(ValueError):
    """A drill log that cannot be used; `problems` lists every problem, each `file:line: field: what is wrong`."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True)
class DrillEntry:
    """One line of a drill log. `payload` is the JSON as written; `event` is it validated (for a command with an
    `@first:` reference, validated with a placeholder code: use `resolve` to get the real event)."""

    topic: str
    key: str
    at: dt.datetime
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    line: int = field(default=0, compare=False)
    event: BaseModel | None = field(default=None, compare=False, repr=False)

    @property
    def first_of(self) -> str | None:
        """The source id of an `@first:<source_id>` incident reference, else None."""
        return first_reference(self.payload) if self.topic == "commands" else None

    def resolve(self, first_codes: Mapping[str, str]) -> BaseModel:
        """The event to send, with an `@first:` reference replaced by the code `first_codes[source_id]`
        (KeyError when no incident was opened at that source yet)."""
        source = self.first_of
        if source is None:
            return TOPIC_MODELS[self.topic].model_validate(self.payload)
        return Command.model_validate({**self.payload, "incident_code": first_codes[source]})

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "key": self.key, "headers": dict(self.headers), "at": self.at.isoformat(),
                "payload": self.payload}


@dataclass(frozen=True)
class DrillLog:
    name: str
    entries: tuple[DrillEntry, ...]

    @property
    def start(self) -> dt.datetime | None:
        return self.entries[0].at if self.entries else None

    @property
    def end(self) -> dt.datetime | None:
        return self.entries[-1].at if self.entries else None

    @property
    def first_sources(self) -> set[str]:
        """Sources whose first incident's code the drill's commands refer to."""
        return {e.first_of for e in self.entries if e.first_of is not None}


def first_reference(payload: Mapping[str, Any]) -> str | None:
    code = payload.get("incident_code")
    if isinstance(code, str):
        match = _FIRST.match(code)
        if match:
            return match.group(1)
    return None


def format_entry(entry: DrillEntry) -> str:
    """One line of the log (no newline), compact, non-ASCII kept readable."""
    return json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":"))


def read_lines(path: str | Path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def parse_drill_log(lines: Iterable[str], name: str, plan: "Plan | None" = None) -> DrillLog:
    """Typed entries of a drill log; raises DrillLogError listing every problem found."""
    entries: list[DrillEntry] = []
    problems: list[Problem] = []
    previous: tuple[dt.datetime, int] | None = None
    seen_ids: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            problems.append(Problem(WHOLE_LINE, f"not JSON: {exc}", name, number))
            continue
        entry, found = entry_from_json(data, name, number, plan)
        problems += found
        at = _aware_time(data.get("at")) if isinstance(data, dict) else None
        if at is not None:  # the order of times is checked on every line that has one, valid or not
            if previous is not None and at < previous[0]:
                problems.append(Problem(("at",), f"{at.isoformat()} is before {previous[0].isoformat()} of line "
                                                 f"{previous[1]}: times must not decrease", name, number))
            previous = (at, number)
        payload = data.get("payload") if isinstance(data, dict) else None
        event_id = payload.get("event_id") if isinstance(payload, dict) else None
        if isinstance(event_id, str):
            if event_id in seen_ids:
                problems.append(Problem(("payload", "event_id"), f"{event_id} is already used on line "
                                                                  f"{seen_ids[event_id]}", name, number))
            else:
                seen_ids[event_id] = number
        if entry is not None:
            entries.append(entry)
    if problems:
        raise DrillLogError(problems)
    return DrillLog(name=name, entries=tuple(entries))


def check_drill_log(path: str | Path, plan: "Plan | None" = None) -> list[Problem]:
    """Every problem of a drill log file; an empty list means it can be run."""
    try:
        lines = read_lines(path)
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(WHOLE_LINE, f"cannot read the drill log: {exc}", str(path), 0)]
    try:
        parse_drill_log(lines, str(path), plan)
    except DrillLogError as exc:
        return exc.problems
    return []


def parse_line(text: str, name: str, number: int, plan: "Plan | None" = None
               ) -> tuple[DrillEntry | None, list[Problem]]:
    """One line on its own (everything but the order of times and duplicate event ids)."""
    def problem(path: tuple[str | int, ...], message: str) -> Problem:
        return Problem(path, message, name, number)

    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, [problem(WHOLE_LINE, f"not JSON: {exc}")]
    return entry_from_json(data, name, number, plan)


def entry_from_json(data: Any, name: str = "<drill>", number: int = 0, plan: "Plan | None" = None
                    ) -> tuple[DrillEntry | None, list[Problem]]:
    def problem(path: tuple[str | int, ...], message: str) -> Problem:
        return Problem(path, message, name, number)

    if not isinstance(data, dict):
        return None, [problem(WHOLE_LINE, f"a line is a JSON object with {', '.join(LINE_FIELDS)}")]
    problems = [problem((extra,), "unknown field") for extra in data if extra not in LINE_FIELDS]
    problems += [problem((missing,), "missing") for missing in LINE_FIELDS
                 if missing not in data and missing != "headers"]

    topic = data.get("topic")
    if "topic" in data and topic not in TOPIC_MODELS:
        problems.append(problem(("topic",), f"unknown topic {topic!r}: one of {', '.join(TOPIC_MODELS)} "
                                            "(a suffix, without prefix)"))
    key = data.get("key")
    if "key" in data and not (isinstance(key, str) and key):
        problems.append(problem(("key",), "must be a non-empty string"))
    headers = data.get("headers", {})
    if not (isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())):
        problems.append(problem(("headers",), "must be an object of string values"))
        headers = {}
    at = _aware_time(data.get("at")) if "at" in data else None
    if "at" in data and at is None:
        problems.append(problem(("at",), f"{data.get('at')!r} is not an ISO time with an offset"))
    payload = data.get("payload")
    if "payload" in data and not isinstance(payload, dict):
        problems.append(problem(("payload",), "must be a JSON object (the event)"))
        payload = None

    event = None
    if topic in TOPIC_MODELS and isinstance(payload, dict):
        event, payload_problems = _validate_payload(topic, payload)
        problems += [problem(("payload",) + path, message) for path, message in payload_problems]
        if event is not None:
            expected = event.key  # type: ignore[attr-defined]
            if isinstance(key, str) and key and key != expected:
                problems.append(problem(("key",), f"{key!r} but the payload's key is {expected!r}"))
            own_time = getattr(event, TIME_FIELDS[topic])
            if at is not None and own_time > at:
                problems.append(problem(("payload", TIME_FIELDS[topic]),
                                        f"{own_time.isoformat()} is after the line's at {at.isoformat()}"))
            if plan is not None:
                problems += [problem(("payload",) + path, message)
                             for path, message in _plan_problems(topic, event, payload, plan)]
    if problems or at is None or event is None:
        return None, problems
    return DrillEntry(topic=topic, key=key, at=at, payload=payload, headers=dict(headers), line=number,
                      event=event), []


def parse_aware_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time with an offset (e.g. for --since/--until), else None."""
    return _aware_time(value)


def _aware_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None and parsed.utcoffset() is not None else None


def _validate_payload(topic: str, payload: dict[str, Any]
                      ) -> tuple[BaseModel | None, list[tuple[tuple[str | int, ...], str]]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    data = payload
    if topic == "commands":
        code = payload.get("incident_code")
        if isinstance(code, str) and code.startswith("@"):
            if _FIRST.match(code) is None:
                problems.append((("incident_code",), f"{code!r}: a reference is written @first:<source_id>"))
            data = {**payload, "incident_code": _PLACEHOLDER_CODE}
            source = payload.get("source_id")
            match = _FIRST.match(code)
            if match and source is not None and source != match.group(1):
                problems.append((("incident_code",), f"{code!r} names another source than source_id {source!r}"))
    try:
        event = TOPIC_MODELS[topic].model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            problems.append((tuple(err["loc"]), error_message(err)))
        return None, problems
    return (None if problems else event), problems


def _plan_problems(topic: str, event: BaseModel, payload: dict[str, Any], plan: "Plan"
                   ) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(event, StationReport):
        station = plan.stations.get(event.station_id)
        if station is None:
            return [(("station_id",), f"unknown station {event.station_id!r} (not in plan {plan.id})")]
        for index, measurement in enumerate(event.measurements):
            parameter = station.parameters.get(measurement.parameter)
            if parameter is None:
                problems.append((("measurements", index, "parameter"),
                                 f"station {event.station_id} has no parameter {measurement.parameter!r}"))
            elif parameter.unit != measurement.unit:
                problems.append((("measurements", index, "unit"),
                                 f"{measurement.unit!r} but the plan gives {measurement.parameter} in "
                                 f"{parameter.unit!r}"))
    elif isinstance(event, StationPacket):
        station = plan.stations.get(event.station_id)
        if station is None:
            return [(("station_id",), f"unknown station {event.station_id!r} (not in plan {plan.id})")]
        if station.hj212 is None:
            return [(("station_id",), f"station {event.station_id} has no hj212 identity in plan {plan.id}")]
        if station.hj212.mn != event.mn:
            problems.append((("mn",), f"{event.mn!r} but plan {plan.id} gives station {event.station_id} MN "
                                      f"{station.hj212.mn!r}"))
    elif isinstance(event, IncidentReport):
        if event.source_id is not None and event.source_id not in plan.sources:
            problems.append((("source_id",), f"unknown source {event.source_id!r}"))
    elif isinstance(event, Command):
        if event.source_id is not None and event.source_id not in plan.sources:
            problems.append((("source_id",), f"unknown source {event.source_id!r}"))
        referenced = first_reference(payload)
        if referenced is not None and referenced not in plan.sources:
            problems.append((("incident_code",), f"@first: names unknown source {referenced!r}"))
    elif isinstance(event, InventoryMovement):
        for name in ("depot_id", "to_depot_id"):
            depot = getattr(event, name)
            if depot is not None and depot not in plan.depots:
                problems.append(((name,), f"unknown depot {depot!r}"))
        item = plan.items.get(event.item_id)
        if item is None:
            problems.append((("item_id",), f"unknown item {event.item_id!r}"))
        elif item.unit != event.unit:
            problems.append((("unit",), f"{event.unit!r} but the plan counts {event.item_id} in {item.unit!r}"))
    return problems

