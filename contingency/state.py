"""What the engine remembers about one station between reports, and its stored form, so a Faust changelog table
can hold it and a restarted worker continues where it stopped.

Stored as MessagePack written and read by msgspec (`to_bytes`, `from_bytes`: readings as [time, value] pairs, times
as MessagePack timestamps): the rules stage writes a station's state once per batch, on a backlog of many stations
once per reading. Building the plain-JSON form (`to_json`) took longer than judging the batch; msgspec's JSON
(stored before, version 2) half as long as that again, at twice the size, most of it formatting times
(bench/catch_up.py: 18 % of the worker). `from_bytes` reads all three.

Plain tuples and a slotted class, not validated models: the rules stage builds one of these for every reading,
and validation belongs to the edges (a reading is checked when it is decoded; a stored state was written by this
module). Treat a state as immutable: the engine returns a new one."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from schemas.incidents import WarningLevel

RECENT_REPORTS = 64  # how many report ids / observation times are remembered to drop duplicates
MAX_HISTORY = 1000   # hard cap on readings kept per parameter, whatever the plan asks


class Reading(NamedTuple):
    at: dt.datetime
    value: float


class Run(NamedTuple):
    """Consecutive readings whose values stay within a flatline rule's tolerance."""

    start: dt.datetime
    last: dt.datetime
    low: float
    high: float
    count: int


class Extremes(NamedTuple):
    """A rate-of-change window's candidates for its lowest (values rising) and highest (values falling) value, oldest
    first, each ending with the last reading pushed (contingency.windows)."""

    lows: tuple[Reading, ...]
    highs: tuple[Reading, ...]


class Firing(NamedTuple):
    since: dt.datetime
    level: WarningLevel


@dataclass(slots=True)
class StationState:
    station_id: str
    watch_since: dt.datetime | None = None
    last_heard_at: dt.datetime | None = None
    latest_observed_at: dt.datetime | None = None
    drill_id: str | None = None
    last_report_id: str | None = None
    recent_event_ids: tuple[str, ...] = ()
    recent_observed: tuple[dt.datetime, ...] = ()
    history: dict[str, tuple[Reading, ...]] = field(default_factory=dict)
    latest: dict[str, Reading] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    firing: dict[str, Firing] = field(default_factory=dict)
    # Derived from `history` and rebuilt from it when missing: neither stored nor compared.
    windows: dict[str, Extremes] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def initial(cls, station_id: str, now: dt.datetime) -> "StationState":
        """A station being watched from `now` on: silence counts from here until its first report."""
        return cls(station_id=station_id, watch_since=utc(now))

    def to_json(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id, "watch_since": _time(self.watch_since),
            "last_heard_at": _time(self.last_heard_at), "latest_observed_at": _time(self.latest_observed_at),
            "drill_id": self.drill_id, "last_report_id": self.last_report_id,
            "recent_event_ids": list(self.recent_event_ids),
            "recent_observed": [_time(at) for at in self.recent_observed],
            "history": {p: [{"at": _time(r.at), "value": r.value} for r in readings]
                        for p, readings in self.history.items()},
            "latest": {p: {"at": _time(r.at), "value": r.value} for p, r in self.latest.items()},
            "runs": {k: {"start": _time(r.start), "last": _time(r.last), "low": r.low, "high": r.high,
                         "count": r.count} for k, r in self.runs.items()},
            "firing": {k: {"since": _time(f.since), "level": f.level.value} for k, f in self.firing.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StationState":
        """A state `to_json` wrote (by this engine or the one before it: the format is the same)."""
        unknown = set(data) - _FIELDS
        if unknown:
            raise ValueError(f"station state has unknown fields: {', '.join(sorted(unknown))}")
        return cls(
            station_id=str(data["station_id"]), watch_since=_parse(data.get("watch_since")),
            last_heard_at=_parse(data.get("last_heard_at")), latest_observed_at=_parse(data.get("latest_observed_at")),
            drill_id=data.get("drill_id"), last_report_id=data.get("last_report_id"),
            recent_event_ids=tuple(data.get("recent_event_ids", ())),
            recent_observed=tuple(_parse(at) for at in data.get("recent_observed", ())),
            history={p: tuple(Reading(_parse(r["at"]), float(r["value"])) for r in readings)
                     for p, readings in data.get("history", {}).items()},
            latest={p: Reading(_parse(r["at"]), float(r["value"])) for p, r in data.get("latest", {}).items()},
            runs={k: Run(_parse(r["start"]), _parse(r["last"]), float(r["low"]), float(r["high"]), int(r["count"]))
                  for k, r in data.get("runs", {}).items()},
            firing={k: Firing(_parse(f["since"]), WarningLevel(f["level"])) for k, f in data.get("firing", {}).items()},
        )

    def to_bytes(self) -> bytes:
        return _ENCODER.encode(_Stored(
            _PACKED, self.station_id, self.watch_since, self.last_heard_at, self.latest_observed_at, self.drill_id,
            self.last_report_id, self.recent_event_ids, self.recent_observed, self.history, self.latest, self.runs,
            self.firing))

    @classmethod
    def from_bytes(cls, data: bytes) -> "StationState":
        """A state `to_bytes` wrote, or one stored before: its msgspec JSON, or the JSON of `to_json`."""
        if data[:1] == b"{":
            try:
                stored, version = _JSON_DECODER.decode(data), _JSON
            except msgspec.ValidationError:  # the plain-JSON form: readings as objects
                return cls.from_json(msgspec.json.decode(data))
        else:
            stored, version = _DECODER.decode(data), _PACKED
        if stored.v != version:
            raise ValueError(f"station state of an unknown version {stored.v}")
        return cls(stored.station_id, stored.watch_since, stored.last_heard_at, stored.latest_observed_at,
                   stored.drill_id, stored.last_report_id, stored.recent_event_ids, stored.recent_observed,
                   stored.history, stored.latest, stored.runs, stored.firing)

    def forget_after(self, limit: dt.datetime) -> "StationState":
        """This state without what was observed after `limit` (readings dated in the future, accepted before
        times were checked): the newest plausible reading is the newest again, so real readings can clear a rule.
        What is firing stays firing until they do; runs that reach past `limit` start again."""
        limit = utc(limit)
        history = {p: tuple(r for r in rs if r.at <= limit) for p, rs in self.history.items()}
        history = {p: rs for p, rs in history.items() if rs}
        latest = {p: r for p, r in self.latest.items() if r.at <= limit}
        observed = tuple(at for at in self.recent_observed if at <= limit)
        known = [r.at for r in latest.values()] + list(observed)
        return StationState(
            self.station_id, self.watch_since, self.last_heard_at, max(known) if known else None, self.drill_id,
            self.last_report_id, self.recent_event_ids, observed, history, latest,
            {k: run for k, run in self.runs.items() if run.last <= limit}, dict(self.firing))

    def has_seen(self, event_id: str, observed_at: dt.datetime) -> bool:
        """`observed_at` in UTC (`utc`)."""
        if event_id in self.recent_event_ids:
            return True
        latest = self.latest_observed_at  # usually a new report is the newest: no need to look through the times
        return (latest is None or observed_at <= latest) and observed_at in self.recent_observed


_FIELDS = frozenset(StationState.__dataclass_fields__) - {"windows"}


class _Stored(msgspec.Struct, forbid_unknown_fields=True):
    """The stored form. Times are written in UTC by `to_bytes` (the engine keeps them so); msgspec reads them back
    with the shared UTC zone. `v` is the version (_JSON, _PACKED); the plain JSON of `to_json` has none."""

    v: int
    station_id: str
    watch_since: dt.datetime | None
    last_heard_at: dt.datetime | None
    latest_observed_at: dt.datetime | None
    drill_id: str | None
    last_report_id: str | None
    recent_event_ids: tuple[str, ...]
    recent_observed: tuple[dt.datetime, ...]
    history: dict[str, tuple[Reading, ...]]
    latest: dict[str, Reading]
    runs: dict[str, Run]
    firing: dict[str, Firing]


_JSON, _PACKED = 2, 3  # versions: msgspec JSON (read only), MessagePack
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Stored)
_JSON_DECODER = msgspec.json.Decoder(_Stored)


def _time(at: dt.datetime | None) -> str | None:
    """As pydantic writes an aware time (the format states were stored in before): Z for UTC."""
    if at is None:
        return None
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _parse(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    at = dt.datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"station state time {text!r} has no time zone")
    return utc(at)


def utc(at: dt.datetime) -> dt.datetime:
    """`at` in UTC, with the one shared UTC zone. Times in a state are compared all the time (duplicates, order of
    readings, windows); two aware times with different zone objects (pydantic gives every parsed time its own)
    compare through both zones' utcoffset(), 25 times slower than two with the same zone."""
    return at if at.tzinfo is dt.timezone.utc else at.astimezone(dt.timezone.utc)
