"""Time as events: the leader's timer publishes ticks that time-driven rules and escalation read."""
from __future__ import annotations

import faust

from contingency import Plan
from schemas import ClockTick, StationTick, encode
from streams.clocks import wall_clock
from streams.channels import Channels


def register_clock(app: faust.App, ch: Channels, plan: Plan, tick_seconds: float) -> None:
    @app.timer(interval=tick_seconds, on_leader=True)
    async def clock() -> None:
        now = wall_clock()
        await ch.clock.send(key=b"clock", value=encode(ClockTick(at=now)))
        for station_id in plan.stations:
            await ch.ticks.send(key=station_id.encode("utf-8"),
                                value=encode(StationTick(station_id=station_id, at=now)))
