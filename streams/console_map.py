"""The console's map (issue 16, item 4): `GET /map`, and `GET /map/features.geojson`, what its script draws.

The road graph and the depots' 2-hour reach depend only on the plan and the road file: computed once, on the first
request. The stock, the 2-hour verdicts (the same `coverage_on` as `ers inventory coverage`) and the stations' states
(maintenance windows, open silence/flatline incidents of the read model) are read on every request: they change.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from contingency.isochrones import Isochrone, depot_isochrones
from contingency.ledger import MinimumLevels, Stock, stock_lines
from contingency.roads import RoadGraph
from contingency.station_status import station_statuses
from handlers.road_files import RoadFileCache, RoadFileError
from streams.console_http import ROADS, csrf_token, html_response, language_of
from streams.views.console_map_page import map_features, map_page

log = logging.getLogger("ers.console")
CACHE = "console_map.roads"
WINDOW_MINUTES = 120.0  # 2小时应急圈: the default window of `ers inventory coverage`


@dataclass
class _Roads:
    graph: RoadGraph | None = None
    isochrones: dict[str, Isochrone] = field(default_factory=dict)
    error: str = ""


class _RoadCache:
    """The depots' 2-hour reach, computed once from the console's road graph (console_http.ROADS)."""

    def __init__(self, files: RoadFileCache) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._roads: _Roads | None = None

    def get(self, console: Any) -> _Roads:
        with self._lock:
            if self._roads is None:
                try:
                    graph = self._files.graph()
                except RoadFileError as exc:
                    log.warning("map: %s", exc)
                    return _Roads(error=str(exc))  # not kept: read again at the next request
                self._roads = _Roads(graph, depot_isochrones(list(console.plan.depots.values()), graph,
                                                             WINDOW_MINUTES))
            return self._roads


@dataclass(frozen=True)
class _Ledger:
    """The stock read once, for both the depots' lines and the coverage (one consistent view)."""

    read: Stock
    minimums: MinimumLevels

    def stock(self, on: dt.date | None = None) -> Stock:
        return self.read

    def minimum_levels(self) -> MinimumLevels:
        return self.minimums


def add_routes(app: web.Application) -> None:
    app[CACHE] = _RoadCache(app[ROADS])
    app.router.add_get("/map", _map)
    app.router.add_get("/map/features.geojson", _features)


async def _map(request: web.Request) -> web.Response:

    console = request.app["console"]
    user = request["user"]
    response = html_response(map_page(language_of(request), console.map_tiles, user.display_name, user.role,
                                      csrf_token(console, request)))
    origin = tile_origin(console.map_tiles)
    if origin:  # the console's policy allows only its own images: a tile server elsewhere is allowed here only
        response.headers["Content-Security-Policy"] = (f"default-src 'self'; img-src 'self' {origin}; "
                                                       "frame-ancestors 'none'")
    return response


def tile_origin(template: str | None) -> str | None:
    """The origin of an absolute tile URL template ({s} subdomains as a wildcard); None for a same-origin path."""
    if not template:
        return None
    parts = urlsplit(template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


async def _features(request: web.Request) -> web.Response:
    console = request.app["console"]
    cache: _RoadCache = request.app[CACHE]
    data = await asyncio.to_thread(build_features, console, cache)
    return web.json_response(data, content_type="application/geo+json",
                             dumps=lambda value: json.dumps(value, ensure_ascii=False))


def build_features(console: Any, cache: _RoadCache) -> dict[str, Any]:
    from handlers.inventory_store import InventoryStore
    from streams.services.materials import coverage_on

    roads = cache.get(console)
    now = console.now()
    day = now.astimezone(console.roster.tz).date()
    lines, report, ledger_error = [], None, ""
    try:
        store = InventoryStore(console.engine)
        ledger = _Ledger(store.stock(on=day), store.minimum_levels())
        lines = stock_lines(ledger.read, ledger.minimums, day)
        if roads.graph is not None:
            report = coverage_on(console.plan, roads.graph, ledger, day, WINDOW_MINUTES)
    except SQLAlchemyError as exc:
        log.warning("map: the ledger cannot be read (%s)", type(exc).__name__)
        ledger_error = type(exc).__name__
    stations = station_statuses(console.plan, console.roster, console.view.board().open.values(), now)
    data = map_features(console.plan, roads.graph, report, lines, roads.isochrones, stations)
    data["properties"].update({"day": day.isoformat(), "roads_error": roads.error, "ledger_error": ledger_error})
    return data
