"""`ers web`: the duty-room console (issue 16), an aiohttp server of its own that reads the incident read model (the
compacted incident-states topic, not the desk's table) and the database, so any number of them can run.

Every page but /health and /login needs a session; every POST needs the CSRF token of its session; actions are the
same commands an SMS reply gives (the commands topic), so the audit is one stream, and each is also written to the
console's audit log (who, when, what, from where). Wrong passwords lock an account and an address out for a while.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy import Engine

from contingency.access import Action, LoginThrottle, allowed
from contingency.ids import derive
from contingency.incident_states import find
from contingency.plan import Plan
from contingency.roster import Roster, person_by_id
from contingency.timeline import timeline
from handlers.console_sessions import SessionKeys, new_nonce
from handlers.console_users import User, audit, check_login, get_user, read_audit
from handlers.incident_states import IncidentStateView
from handlers.incident_timeline import IncidentTimelineView
from handlers.kafka_io import send_event
from schemas import Command, encode
from streams.views import console_pages as pages

log = logging.getLogger("ers.console")
SESSION_COOKIE = "ers_session"
LOGIN_COOKIE = "ers_login"  # the login form's nonce, which its CSRF token is bound to
STATIC = Path(__file__).with_name("views") / "static"
OPEN_PATHS = ("/health", "/login", "/static/", "/favicon.ico")
SSE_POLL_SECONDS = 0.25
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Console:
    plan: Plan
    roster: Roster
    engine: Engine
    view: IncidentStateView
    bootstrap: str
    commands_topic: str
    keys: SessionKeys
    language: str = "zh-CN"
    https: bool = False
    now: Clock = _utc_now
    throttle: LoginThrottle | None = None
    timeline: IncidentTimelineView | None = None

    def __post_init__(self) -> None:
        self.throttle = self.throttle or LoginThrottle()

    def name(self, person_id: str | None) -> str:
        if not person_id:
            return ""
        person = person_by_id(self.roster, person_id)
        if person is not None:
            return person.name
        drill = self.roster.drill_phones.get(person_id)
        return drill.name if drill is not None else person_id


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[_headers, _authenticated(console)])
    app["console"] = console
    app.router.add_get("/health", _health)
    app.router.add_get("/favicon.ico", _no_icon)
    app.router.add_get("/login", _login_form)
    app.router.add_post("/login", _login)
    app.router.add_post("/logout", _logout)
    app.router.add_get("/", _board)
    app.router.add_get("/events", _events)
    app.router.add_get("/incidents/{code}", _incident)
    app.router.add_post("/incidents/{code}/{action}", _act)
    app.router.add_get("/audit", _audit)
    app.router.add_static("/static/", STATIC, show_index=False)
    return app


# --- middleware -----------------------------------------------------------------------------------------------

@web.middleware
async def _headers(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _authenticated(console: Console):
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        if request.path.startswith(OPEN_PATHS):
            return await handler(request)
        user = await _user_of(console, request)
        if user is None:
            if request.method == "GET" and request.path != "/events":
                raise web.HTTPFound("/login")
            raise web.HTTPUnauthorized(text="log in first")
        request["user"] = user
        return await handler(request)

    return middleware


async def _user_of(console: Console, request: web.Request) -> User | None:
    session = console.keys.session(request.cookies.get(SESSION_COOKIE), console.now())
    if session is None:
        return None
    user = await asyncio.to_thread(get_user, console.engine, session.username)
    # a disabled account, or a password changed since the session began, ends it
    if user is None or user.disabled or int(user.password_changed_at.timestamp()) != int(
            session.password_changed_at.timestamp()):
        return None
    return user


def _csrf(console: Console, request: web.Request) -> str:
    return console.keys.csrf_token(request.cookies.get(SESSION_COOKIE, ""))


async def _check_csrf(console: Console, request: web.Request, form: dict, binding: str, what: str) -> None:
    if not console.keys.csrf_ok(binding, form.get("csrf")):
        user = request.get("user")
        await asyncio.to_thread(audit, console.engine, console.now(), user.username if user else "-", what,
                                request.path, "no valid CSRF token", _source(request), "refused")
        log.warning("refused %s %s from %s: no valid CSRF token", request.method, request.path, _source(request))
        raise web.HTTPForbidden(text="refused: the form's CSRF token is missing or wrong")


def _source(request: web.Request) -> str:
    return request.remote or "?"


def _cookie(console: Console, response: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict", secure=console.https,
                        path="/")


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


# --- pages ----------------------------------------------------------------------------------------------------

async def _health(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    loaded = console.view.wait_loaded(0)
    return web.json_response({"status": "ok" if loaded else "loading", "read_model": loaded},
                             status=200 if loaded else 503)


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _login_form(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    console: Console = request.app["console"]
    # One nonce per browser until it logs in: a second GET of the form (a reload, or the favicon's redirect in
    # another tab) must not invalidate the form already shown.
    nonce = request.cookies.get(LOGIN_COOKIE) or new_nonce()
    response = _html(pages.login_page(console.language, console.keys.csrf_token("login|" + nonce), message), status)
    _cookie(console, response, LOGIN_COOKIE, nonce, 3600)
    return response


async def _login(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    assert console.throttle is not None
    form = dict(await request.post())
    await _check_csrf(console, request, form, "login|" + request.cookies.get(LOGIN_COOKIE, ""), "login")
    username, password = str(form.get("username", "")).strip().lower(), str(form.get("password", ""))
    now, source = console.now(), _source(request)
    words = pages.words(console.language)
    until = console.throttle.locked_until(username, source, now)
    if until is not None:
        await asyncio.to_thread(audit, console.engine, now, username or "-", "login", username, "locked out",
                                source, "refused")
        local = until.astimezone(console.roster.tz)
        return await _login_form(request, words["locked"].format(until=f"{local:%H:%M}"), 429)
    user = await asyncio.to_thread(check_login, console.engine, username, password, now, source)
    if user is None:
        console.throttle.failed(username, source, now)
        log.warning("login refused for %r from %s", username, source)
        return await _login_form(request, words["wrong"], 401)
    console.throttle.succeeded(username)
    response = web.HTTPFound("/")
    _cookie(console, response, SESSION_COOKIE, console.keys.session_token(user.username, now,
                                                                          user.password_changed_at), 12 * 3600)
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def _logout(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    form = dict(await request.post())
    await _check_csrf(console, request, form, request.cookies.get(SESSION_COOKIE, ""), "logout")
    await asyncio.to_thread(audit, console.engine, console.now(), request["user"].username, "logout", "", "",
                            _source(request))
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _rows(console: Console) -> list[dict]:
    board = console.view.board()
    return pages.board_rows(console.plan, board.open.values(), console.name, console.roster.tz, console.language,
                            console.now())


async def _board(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    return _html(pages.board_page(_rows(console), console.language, user.display_name, user.role,
                                  _csrf(console, request)))


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the board's rows whenever the read model changes (checked 4 times a second), and a
    comment every 15 s so proxies keep the connection."""
    console: Console = request.app["console"]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    sent, quiet = None, 0.0
    try:
        while True:
            rows = _rows(console)
            payload = json.dumps(rows, ensure_ascii=False)
            if payload != sent:
                await response.write(f"event: board\ndata: {payload}\n\n".encode("utf-8"))
                sent, quiet = payload, 0.0
            elif quiet >= 15:
                await response.write(b": keep-alive\n\n")
                quiet = 0.0
            await asyncio.sleep(SSE_POLL_SECONDS)
            quiet += SSE_POLL_SECONDS
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def _incident(request: web.Request, message: str = "") -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    state = find(console.view.states(), request.match_info["code"])
    if state is None:
        raise web.HTTPNotFound(text=f"no incident {request.match_info['code']}")
    entries: list = []
    if console.timeline is not None:
        events, messages, statuses = console.timeline.of(str(state.incident_id))
        levels = {level.value: policy.name for level, policy in console.plan.levels.items()}
        entries = timeline(events, messages, statuses, console.name, levels, console.language)
    return _html(pages.incident_page(console.plan, state, console.name, console.roster.tz, console.language,
                                     user.role, _csrf(console, request), message, user.display_name, entries))


ACTIONS: dict[str, tuple[Action, str]] = {"ack": ("acknowledge", "ack"), "resolve": ("resolve", "resolve")}


async def _act(request: web.Request) -> web.Response:
    """Acknowledge or resolve: the same command an SMS reply gives, from the account's roster person."""
    console: Console = request.app["console"]
    user: User = request["user"]
    code, name = request.match_info["code"].upper(), request.match_info["action"]
    if name not in ACTIONS:
        raise web.HTTPNotFound(text=f"no action {name}")
    form = dict(await request.post())
    await _check_csrf(console, request, form, request.cookies.get(SESSION_COOKIE, ""), f"incident.{name}")
    permission, action = ACTIONS[name]
    now, source = console.now(), _source(request)
    if not allowed(user.role, permission):
        await asyncio.to_thread(audit, console.engine, now, user.username, f"incident.{name}", code,
                                f"role {user.role}", source, "refused")
        raise web.HTTPForbidden(text=pages.words(console.language)["forbidden"])
    state = find(console.view.board().open.values(), code)
    if state is None:
        raise web.HTTPNotFound(text=f"no open incident {code}")
    note = str(form.get("note", ""))[:500]
    # The form's own id: a double click, or a browser sending the form again, gives the same command (applied once).
    once = str(form.get("once", "")) or str(uuid.uuid4())
    command = Command(event_id=derive("command.console", user.username, state.incident_id, name, once), action=action, incident_id=state.incident_id, incident_code=state.code,
                      source_id=state.source_id, actor=user.person_id or f"console:{user.username}",
                      channel="console", issued_at=now, note=note, drill_id=state.drill_id)
    await asyncio.to_thread(send_event, console.bootstrap, console.commands_topic, command.key, encode(command))
    await asyncio.to_thread(audit, console.engine, now, user.username, f"incident.{name}", code, note, source)
    log.info("%s %s by %s from %s", name, code, user.username, source)
    raise web.HTTPSeeOther(f"/incidents/{code}")


async def _audit(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    if not allowed(user.role, "read_audit"):
        raise web.HTTPForbidden(text=pages.words(console.language)["forbidden"])
    entries = await asyncio.to_thread(read_audit, console.engine, 500)
    return _html(pages.audit_page(entries, console.roster.tz, console.language, user.display_name, user.role,
                                  _csrf(console, request)))
