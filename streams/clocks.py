"""Where agents read the time.

Production agents read the wall clock. A drill replays a log on a virtual clock: the drill runner stamps every
record it sends with its time on the log's axis, agents take `now` from the record they handle and stamp what
they send with the same time, so a drill gives the same results at any replay speed.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal, Protocol

from faust.types import EventT

ClockMode = Literal["wall", "record"]


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class AgentClock(Protocol):
    mode: ClockMode

    def now(self, event: EventT | None = None) -> dt.datetime:
        """The time for handling `event` (None: outside any record, e.g. in a webhook)."""

    def stamp(self, event: EventT | None = None) -> float | None:
        """The Kafka timestamp (seconds) for records sent while handling `event`; None lets the producer decide."""


class WallClock:
    mode: ClockMode = "wall"

    def now(self, event: EventT | None = None) -> dt.datetime:
        return wall_clock()

    def stamp(self, event: EventT | None = None) -> float | None:
        return None


class RecordClock:
    """Time is the Kafka timestamp of the record being handled; outside a record, the latest time seen."""

    mode: ClockMode = "record"

    def __init__(self) -> None:
        self._latest: float | None = None

    def _seconds(self, event: EventT | None) -> float:
        if event is not None:
            seconds = float(event.message.timestamp)
            self._latest = seconds if self._latest is None else max(self._latest, seconds)
            return seconds
        return self._latest if self._latest is not None else wall_clock().timestamp()

    def now(self, event: EventT | None = None) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._seconds(event), dt.timezone.utc)

    def stamp(self, event: EventT | None = None) -> float | None:
        return self._seconds(event)


def clock_for(mode: ClockMode) -> AgentClock:
    return RecordClock() if mode == "record" else WallClock()
