"""What the engine remembers about one station between reports. Plain JSON in and out, so a Faust
changelog table can hold it and a restarted worker continues where it stopped."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.incidents import WarningLevel

RECENT_REPORTS = 64  # how many report ids / observation times are remembered to drop duplicates
MAX_HISTORY = 1000   # hard cap on readings kept per parameter, whatever the plan asks


class _StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Reading(_StateModel):
    at: dt.datetime
    value: float


class Run(_StateModel):
    """Consecutive readings whose values stay within a flatline rule's tolerance."""

    start: dt.datetime
    last: dt.datetime
    low: float
    high: float
    count: int


class Firing(_StateModel):
    since: dt.datetime
    level: WarningLevel


class StationState(_StateModel):
    station_id: str
    watch_since: dt.datetime | None = None
    last_heard_at: dt.datetime | None = None
    latest_observed_at: dt.datetime | None = None
    drill_id: str | None = None
    last_report_id: str | None = None
    recent_event_ids: tuple[str, ...] = ()
    recent_observed: tuple[dt.datetime, ...] = ()
    history: dict[str, tuple[Reading, ...]] = {}
    latest: dict[str, Reading] = {}
    runs: dict[str, Run] = {}
    firing: dict[str, Firing] = {}

    @classmethod
    def initial(cls, station_id: str, now: dt.datetime) -> "StationState":
        """A station being watched from `now` on: silence counts from here until its first report."""
        return cls(station_id=station_id, watch_since=now)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StationState":
        return cls.model_validate(data)

    def forget_after(self, limit: dt.datetime) -> "StationState":
        """This state without what was observed after `limit` (readings dated in the future, accepted before
        times were checked): the newest plausible reading is the newest again, so real readings can clear a rule.
        What is firing stays firing until they do; runs that reach past `limit` start again."""
        history = {p: tuple(r for r in rs if r.at <= limit) for p, rs in self.history.items()}
        history = {p: rs for p, rs in history.items() if rs}
        latest = {p: r for p, r in self.latest.items() if r.at <= limit}
        observed = tuple(at for at in self.recent_observed if at <= limit)
        known = [r.at for r in latest.values()] + list(observed)
        return self.model_copy(update={
            "history": history, "latest": latest, "recent_observed": observed,
            "latest_observed_at": max(known) if known else None,
            "runs": {k: run for k, run in self.runs.items() if run.last <= limit}})

    def has_seen(self, event_id: str, observed_at: dt.datetime) -> bool:
        return event_id in self.recent_event_ids or observed_at in self.recent_observed
