"""Wiring of the HJ 212 gateway: the plan's stations, the Kafka sink, and the incident read model that tells it
what to ask of stations while an incident is open (`ers gateway`, started by `ers up` too)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
from collections.abc import Callable

import uvloop

from contingency import CompiledPlan
from contingency.hj212 import OpenIncident, station_orders
from contingency.loader import load_standards
from handlers.hj212.directory import StationDirectory
from handlers.hj212.kafka_sink import KafkaPacketSink
from handlers.hj212.server import Gateway, GatewayLimits
from handlers.incident_states import IncidentStateView
from handlers.kafka_admin import ensure_topics
from schemas.topics import INCIDENT_STATES
from streams.config import Settings

log = logging.getLogger("ers.gateway")
TALK_BACK_SECONDS = 1.0


def limits_of(settings: Settings) -> GatewayLimits:
    return GatewayLimits(max_connections=settings.hj212_max_connections, idle_seconds=settings.hj212_idle_seconds,
                         partial_seconds=settings.hj212_partial_seconds,
                         packets_per_second=settings.hj212_packets_per_second)


def open_incidents_by_source(view: IncidentStateView) -> dict[str, list[OpenIncident]]:
    """Open production incidents per source, oldest first (drill incidents never command a real station)."""
    states = sorted((s for s in view.board().open.values() if s.drill_id is None), key=lambda s: s.opened_at)
    by_source: dict[str, list[OpenIncident]] = {}
    for state in states:
        by_source.setdefault(state.source_id, []).append(OpenIncident(str(state.incident_id),
                                                                      state.facts.parameter_id))
    return by_source


async def serve_gateway(settings: Settings, plan: CompiledPlan, ready: Callable[[Gateway], None] = lambda g: None,
                        stop: asyncio.Event | None = None) -> None:
    directory = StationDirectory.from_plan(plan, load_standards().hj212, os.environ)
    sink = KafkaPacketSink(settings.bootstrap, settings.topics)
    await sink.start()
    gateway = Gateway(directory, sink, lambda: dt.datetime.now(dt.timezone.utc), limits_of(settings))
    view = IncidentStateView(settings.bootstrap, settings.topics.of(INCIDENT_STATES)).start()
    stop = stop or asyncio.Event()
    try:
        await gateway.start(settings.hj212_host, settings.hj212_port)
        log.info("HJ 212 gateway listening on %s:%d for %d station(s) of plan %s %s", settings.hj212_host,
                 gateway.port, len(directory.links), plan.id, plan.version)
        ready(gateway)
        while not stop.is_set():
            if view.wait_loaded(0):
                gateway.apply(station_orders(plan, open_incidents_by_source(view)))
            try:
                await asyncio.wait_for(stop.wait(), TALK_BACK_SECONDS)
            except asyncio.TimeoutError:
                pass
    finally:
        await gateway.close()
        view.stop()
        await sink.stop()


def run_gateway(settings: Settings, plan: CompiledPlan) -> None:
    """Blocks until SIGINT/SIGTERM."""
    ensure_topics(settings.bootstrap, settings.topics.specs())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_gateway(settings, plan, stop=stop)

    uvloop.run(main())
