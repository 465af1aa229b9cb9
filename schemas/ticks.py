"""Clock ticks: time itself as an event, so time-driven rules (silence, flatline) run in-stream.

The worker's leader emits one per station every few seconds in production; a drill emits them on
its own virtual clock. Kafka key: station_id (co-partitioned with readings).
"""
from __future__ import annotations

from typing import Literal

from schemas.base import Event, Identifier, Timestamp


class StationTick(Event):
    type: Literal["station_tick"] = "station_tick"
    station_id: Identifier
    at: Timestamp
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return self.station_id


class ClockTick(Event):
    """The county-wide clock for escalation timers and SMS bundles. Kafka key: "clock"."""

    type: Literal["clock_tick"] = "clock_tick"
    at: Timestamp
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return "clock"
