"""Wiring of the HJ 212 gateway: the plan's stations, the Kafka sink, and the incident read model that tells it
what to ask of stations while an incident is open (`ers gateway`, started by `ers up` too).

With ERS_HJ212_PROCESSES above one, `run_gateway` starts that many gateway processes on the same port (each with
its own sink and read model, and its share of the MNs: handlers/hj212/handoff.py) and restarts any that dies."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import multiprocessing as mp
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable

import uvloop

from contingency import CompiledPlan
from contingency.hj212 import OpenIncident, station_orders
from contingency.loader import load_standards
from handlers.hj212.directory import StationDirectory
from handlers.hj212.handoff import Handoff
from handlers.hj212.kafka_sink import KafkaPacketSink
from handlers.hj212.server import Gateway, GatewayLimits
from handlers.incident_states import IncidentStateView
from handlers.kafka_admin import ensure_topics
from schemas.topics import INCIDENT_STATES
from streams.config import Settings

log = logging.getLogger("ers.gateway")
TALK_BACK_SECONDS = 1.0
RESTART_SECONDS = 1.0


def limits_of(settings: Settings, processes: int = 1) -> GatewayLimits:
    return GatewayLimits(max_connections=math.ceil(settings.hj212_max_connections / processes),
                         idle_seconds=settings.hj212_idle_seconds,
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
                        stop: asyncio.Event | None = None, handoff: Handoff | None = None,
                        port: int | None = None) -> None:
    directory = StationDirectory.from_plan(plan, load_standards().hj212, os.environ)
    sink = KafkaPacketSink(settings.bootstrap, settings.topics)
    await sink.start()
    gateway = Gateway(directory, sink, lambda: dt.datetime.now(dt.timezone.utc),
                      limits_of(settings, handoff.count if handoff else 1), handoff=handoff)
    view = IncidentStateView(settings.bootstrap, settings.topics.of(INCIDENT_STATES)).start()
    stop = stop or asyncio.Event()
    try:
        await gateway.start(settings.hj212_host, settings.hj212_port if port is None else port)
        log.info("HJ 212 gateway%s listening on %s:%d for %d station(s) of plan %s %s",
                 f" process {handoff.index + 1} of {handoff.count}" if handoff else "", settings.hj212_host,
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
    processes = settings.hj212_processes or os.cpu_count() or 1
    if processes == 1:
        _serve_until_signalled(settings, plan, None, None)
    else:
        _supervise(settings, plan, processes)


def _serve_until_signalled(settings: Settings, plan: CompiledPlan, handoff: Handoff | None, port: int | None) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_gateway(settings, plan, stop=stop, handoff=handoff, port=port)

    uvloop.run(main())


def _gateway_process(settings: Settings, plan: CompiledPlan, token: str, index: int, count: int, port: int) -> None:
    from streams.cli_support import console
    from streams.logs import configure_logging

    configure_logging(settings, console)
    _serve_until_signalled(settings, plan, Handoff(token, index, count), port)


def _supervise(settings: Settings, plan: CompiledPlan, count: int) -> None:
    # Hold the port (bound, never listening, so the kernel gives it no connections) for the children to share:
    # with port 0 they need one chosen for them, and a child restarting must find it still free.
    holder = socket.socket(socket.AF_INET6 if ":" in settings.hj212_host else socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((settings.hj212_host, settings.hj212_port))
    port = holder.getsockname()[1]
    token, context = uuid.uuid4().hex[:12], mp.get_context("spawn")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)

    def start(index: int) -> mp.process.BaseProcess:
        child = context.Process(target=_gateway_process, args=(settings, plan, token, index, count, port),
                                name=f"ers-gateway-{index}", daemon=False)
        child.start()
        return child

    children = [start(index) for index in range(count)]
    log.info("HJ 212 gateway: %d processes on %s:%d (pids %s)", count, settings.hj212_host, port,
             ", ".join(str(c.pid) for c in children))
    try:
        while not stopping:
            time.sleep(0.2)
            for index, child in enumerate(children):
                if not child.is_alive() and not stopping:
                    log.error("gateway process %d (pid %s) exited with %s; its stations are refused until it is "
                              "back; restarting in %.0f s", index, child.pid, child.exitcode, RESTART_SECONDS)
                    time.sleep(RESTART_SECONDS)
                    children[index] = start(index)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: each closes its connections and its producer
        for child in children:
            child.join(15)
            if child.is_alive():
                child.kill()
        holder.close()
