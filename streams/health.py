"""`GET /health`: is this worker keeping up, and if not, why? For a supervisor's liveness probe and an operator.

- "broker unreachable" / "database unreachable" (503): the worker cannot reach Kafka or its SQL database. Its agents
  wait the outage out (streams.agents.common.process_each): nothing is dropped, and a restart would not help; the
  answer names the agents waiting and for how long.
- "stalled" (503): the worker's consumer group has records it has not committed (read from the broker, as the drill
  runner does) and this worker has handled no event for `STALL_SECONDS`: the supervisor should restart it;
  restarts lose nothing (see streams/faust_fixes.py and the README).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import faust
from faust.web import Request, Response, View

from handlers.kafka_progress import GroupProgress
from streams.agents.common import TROUBLES, Troubles
from streams.channels import Channels

HEALTH_PATH = "/health"
STALL_SECONDS = 60.0
PROBE_SECONDS = 5.0


def verdict(uncommitted: int | None, idle_seconds: float, stall_after: float = STALL_SECONDS) -> tuple[str, int]:
    """(status, HTTP code): stalled only when records wait and nothing has been handled for a while."""
    if uncommitted and idle_seconds > stall_after:
        return "stalled", 503
    return "ok", 200


def waiting_now(troubles: Troubles) -> dict[str, dict[str, object]]:
    now = time.monotonic()
    return {agent: {"for": w.kind, "seconds": round(now - w.since, 1), "error": w.error}
            for agent, w in troubles.now().items()}


def register_health(app: faust.App, ch: Channels, bootstrap: str, group_id: str,
                    ping_database: Callable[[], None]) -> None:
    """`ping_database` raises when the database cannot be reached."""
    seen = {"events": -1, "at": time.monotonic()}
    progress: list[GroupProgress] = []

    def idle_seconds() -> float:
        events = app.monitor.events_total
        if events != seen["events"]:
            seen["events"], seen["at"] = events, time.monotonic()
        return time.monotonic() - seen["at"]

    def behind() -> int | None:
        if not progress:
            progress.append(GroupProgress(bootstrap, group_id, ch.names.consumed()))
        return progress[0].behind()

    # The broker's client waits up to its request timeout (30 s) for an unreachable broker: one probe at a time,
    # and an answer within PROBE_SECONDS whatever it does, so a supervisor's probe never times out on us.
    probe: list[asyncio.Future] = []

    async def behind_now() -> int | None:
        if not probe or probe[0].done():
            probe[:] = [asyncio.ensure_future(asyncio.to_thread(behind))]
        try:
            return await asyncio.wait_for(asyncio.shield(probe[0]), PROBE_SECONDS)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer from the broker within {PROBE_SECONDS:g} s") from None

    @app.timer(interval=5.0)
    async def watch_progress() -> None:
        idle_seconds()

    @app.page(HEALTH_PATH)
    class Health(View):
        async def get(self, request: Request) -> Response:
            idle = idle_seconds()
            try:
                await asyncio.wait_for(asyncio.to_thread(ping_database), PROBE_SECONDS)
            except Exception as exc:  # noqa: BLE001 - whatever stops the database answering is the answer
                return self.json({"status": "database unreachable", "error": _said(exc),
                                  "waiting": waiting_now(TROUBLES)}, status=503)
            try:
                waiting = await behind_now()
            except Exception as exc:  # the broker is unreachable: not this worker's stall, but say it
                return self.json({"status": "broker unreachable", "error": _said(exc),
                                  "waiting": waiting_now(TROUBLES)}, status=503)
            status, code = verdict(waiting, idle)
            return self.json({"status": status, "uncommitted_records": waiting,
                              "seconds_since_last_event": round(idle, 1), "stall_after_seconds": STALL_SECONDS,
                              "waiting": waiting_now(TROUBLES)},
                             status=code)


def _said(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:200]
