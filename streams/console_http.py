"""What every page of the duty-room console shares about a request: its language, its session's CSRF token and the
check of a form's token (a refusal is audited), where it came from, cookies and HTML answers. The console's page
modules (streams/console*.py) import these; none imports another's routes."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from handlers.console_users import audit
from handlers.road_files import RoadFileCache

if TYPE_CHECKING:
    from streams.console import Console

log = logging.getLogger("ers.console")
SESSION_COOKIE = "ers_session"
LANGUAGE_COOKIE = "ers_lang"  # a browser's choice of language; the console's default (ERS_LANGUAGE) otherwise
LANGUAGES = ("zh-CN", "en")
ROADS = web.AppKey("roads", RoadFileCache)  # the road graph, read once for every page that needs travel times
SSE_POLL_SECONDS = 0.25
SSE_KEEP_ALIVE_SECONDS = 15.0


def language_of(request: web.Request) -> str:
    """The language this browser chose (a cookie), else the console's default."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return chosen if chosen in LANGUAGES else request.app["console"].language


def csrf_token(console: "Console", request: web.Request) -> str:
    return console.keys.csrf_token(request.cookies.get(SESSION_COOKIE, ""))


async def check_csrf(console: "Console", request: web.Request, form: dict, binding: str, what: str) -> None:
    if not console.keys.csrf_ok(binding, form.get("csrf")):
        user = request.get("user")
        await asyncio.to_thread(audit, console.engine, console.now(), user.username if user else "-", what,
                                request.path, "no valid CSRF token", source_of(request), "refused")
        log.warning("refused %s %s from %s: no valid CSRF token", request.method, request.path, source_of(request))
        raise web.HTTPForbidden(text="refused: the form's CSRF token is missing or wrong")


def source_of(request: web.Request) -> str:
    return request.remote or "?"


def set_cookie(console: "Console", response: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict", secure=console.https,
                        path="/")


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


async def event_stream(request: web.Request, look: Callable[[], Awaitable[Mapping[str, object]]]) -> web.StreamResponse:
    """Server-sent events: `look()` gives named values (the board's rows, a drill's status) 4 times a second; each
    is sent as an event of that name when it changed, and a comment every 15 s keeps proxies from closing it."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    sent: dict[str, str] = {}
    quiet = 0.0
    try:
        while True:
            wrote = False
            for name, value in (await look()).items():
                payload = json.dumps(value, ensure_ascii=False)
                if sent.get(name) != payload:
                    await response.write(f"event: {name}\ndata: {payload}\n\n".encode("utf-8"))
                    sent[name], wrote = payload, True
            if wrote:
                quiet = 0.0
            elif quiet >= SSE_KEEP_ALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                quiet = 0.0
            await asyncio.sleep(SSE_POLL_SECONDS)
            quiet += SSE_POLL_SECONDS
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response
