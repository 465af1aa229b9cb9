"""`GET /health`: is this worker keeping up? For a supervisor's liveness probe.

Stalled means: the worker's consumer group has records it has not committed (read from the broker, as the drill
runner does) and this worker has handled no event for `STALL_SECONDS`. A stalled worker answers 503 so that the
supervisor restarts it; restarts lose nothing (see streams/faust_fixes.py and the README).
"""
from __future__ import annotations

import asyncio
import time

import faust
from faust.web import Request, Response, View

from handlers.kafka_progress import GroupProgress
from streams.channels import Channels

HEALTH_PATH = "/health"
STALL_SECONDS = 60.0


def verdict(uncommitted: int | None, idle_seconds: float, stall_after: float = STALL_SECONDS) -> tuple[str, int]:
    """(status, HTTP code): stalled only when records wait and nothing has been handled for a while."""
    if uncommitted and idle_seconds > stall_after:
        return "stalled", 503
    return "ok", 200


def register_health(app: faust.App, ch: Channels, bootstrap: str, group_id: str) -> None:
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

    @app.timer(interval=5.0)
    async def watch_progress() -> None:
        idle_seconds()

    @app.page(HEALTH_PATH)
    class Health(View):
        async def get(self, request: Request) -> Response:
            idle = idle_seconds()
            try:
                waiting = await asyncio.to_thread(behind)
            except Exception as exc:  # the broker is unreachable: not this worker's stall, but say it
                return self.json({"status": "broker unreachable", "error": str(exc)[:200]}, status=503)
            status, code = verdict(waiting, idle)
            return self.json({"status": status, "uncommitted_records": waiting,
                              "seconds_since_last_event": round(idle, 1), "stall_after_seconds": STALL_SECONDS},
                             status=code)
