"""`ers web`: the duty-room console (issue 16), an aiohttp server of its own that reads the incident read model (the
compacted incident-states topic, not the desk's table) and the database, so any number of them can run.

Every page but /health and /login needs a session; every POST needs the CSRF token of its session; actions are the
same commands an SMS reply gives (the commands topic), so the audit is one stream, and each is also written to the
console's audit log (who, when, what, from where). Wrong passwords lock an account and an address out for a while.
"""
from __future__ import annotations

import asyncio
import datetime as dt
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
from contingency.materials import dispatch_movements
from contingency.plan import Plan
from contingency.roster import Roster, person_by_id
from contingency.timeline import timeline
from handlers.console_sessions import SessionKeys, new_nonce
from handlers.console_users import User, audit, check_login, get_user, read_audit
from handlers.incident_states import IncidentStateView
from handlers.incident_timeline import IncidentTimelineView
from handlers.inventory_store import InventoryStore
from handlers.kafka_io import send_event
from handlers.road_files import RoadFileCache
from schemas import Command, InventoryMovement, encode
from schemas.incident_states import IncidentState
from schemas.topics import TopicNames
from streams import console_stock
from streams import console_map
from streams import console_drills
from streams.console_http import (LANGUAGE_COOKIE, LANGUAGES, ROADS, SESSION_COOKIE, check_csrf, csrf_token,
                                  event_stream, html_response, language_of, set_cookie, source_of)
from streams.services.ledger_movements import record_movements
from streams.views import console_pages as pages

log = logging.getLogger("ers.console")
LOGIN_COOKIE = "ers_login"  # the login form's nonce, which its CSRF token is bound to
STATIC = Path(__file__).with_name("views") / "static"
OPEN_PATHS = ("/health", "/login", "/static/", "/favicon.ico", "/language/")
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
    topics: TopicNames | None = None  # the inventory and dead-letter topics (materials pages)
    roads: Path | None = None  # the road graph file (the 2-hour circle page)
    map_tiles: str | None = None  # the map's base-layer tile URL template; None: no base layer (offline)
    drills: "console_drills.DrillDesk | None" = None  # the drills page: scenarios, runs, the one started here

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
    app[ROADS] = RoadFileCache(console.roads)
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
    app.router.add_get("/language/{language}", _choose_language)
    console_stock.add_routes(app)
    console_map.add_routes(app)
    console_drills.add_routes(app)
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
    page = pages.login_page(language_of(request), console.keys.csrf_token("login|" + nonce), message)
    response = html_response(page, status)
    set_cookie(console, response, LOGIN_COOKIE, nonce, 3600)
    return response


async def _login(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    assert console.throttle is not None
    form = dict(await request.post())
    await check_csrf(console, request, form, "login|" + request.cookies.get(LOGIN_COOKIE, ""), "login")
    username, password = str(form.get("username", "")).strip().lower(), str(form.get("password", ""))
    now, source = console.now(), source_of(request)
    words = pages.words(language_of(request))
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
    set_cookie(console, response, SESSION_COOKIE, console.keys.session_token(user.username, now,
                                                                          user.password_changed_at), 12 * 3600)
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def _logout(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    form = dict(await request.post())
    await check_csrf(console, request, form, request.cookies.get(SESSION_COOKIE, ""), "logout")
    await asyncio.to_thread(audit, console.engine, console.now(), request["user"].username, "logout", "", "",
                            source_of(request))
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _rows(console: Console, language: str) -> list[dict]:
    board = console.view.board()
    history = console.timeline
    return pages.board_rows(console.plan, board.open.values(), console.name, console.roster.tz, language,
                            console.now(), history.last_page if history is not None else
                            (lambda _: None))


async def _board(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    language = language_of(request)
    return html_response(pages.board_page(_rows(console, language), language, user.display_name, user.role,
                                          csrf_token(console, request)))


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the board's rows whenever the read model changes (checked 4 times a second), and a
    comment every 15 s so proxies keep the connection."""
    console: Console = request.app["console"]
    language = language_of(request)

    async def look() -> dict[str, object]:
        return {"board": _rows(console, language)}

    return await event_stream(request, look)


DONE = ("ack", "resolve", "note", "confirm")  # what a redirect after an action may say it sent


async def _incident(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    language = language_of(request)
    state = find(console.view.states(), request.match_info["code"])
    if state is None:
        raise web.HTTPNotFound(text=f"no incident {request.match_info['code']}")
    dispatches = await asyncio.to_thread(_dispatches_for, console, str(state.incident_id))
    entries: list = []
    if console.timeline is not None:
        history = console.timeline.of(str(state.incident_id))
        levels = {level.value: policy.name for level, policy in console.plan.levels.items()}
        entries = timeline(history.events, history.messages, history.last_status, console.name, levels, language,
                           history.commands, dispatches, lambda i: pages.place_name(console.plan, i))
    done = request.query.get("done")
    if not message and done in DONE:
        w = pages.words(language)
        message = w["sent"].format(what=w[{"confirm": "confirm", "note": "add_note"}.get(done, done)])
    return html_response(pages.incident_page(console.plan, state, console.name, console.roster.tz, language,
                                             user.role, csrf_token(console, request), message, user.display_name,
                                             entries, dispatches), status)


def _dispatches_for(console: Console, incident_id: str) -> list[InventoryMovement]:
    """What the ledger holds as dispatched for the incident (a movement sent but refused is not there)."""
    return [m for m in InventoryStore(console.engine).movements(incident_id=incident_id) if m.kind == "dispatch"]


# form action -> (the permission it needs, the command's action); "confirm" is the materials proposal's dispatches
ACTIONS: dict[str, tuple[Action, str]] = {"ack": ("acknowledge", "ack"), "resolve": ("resolve", "resolve"),
                                          "note": ("note", "note"), "confirm": ("confirm_materials", "confirm")}


async def _act(request: web.Request) -> web.Response:
    """Acknowledge, resolve or add a note: the same command an SMS reply gives (a note: the same kind of command),
    from the account's roster person. Confirm the materials proposal: the dispatches `ers inventory confirm` writes."""
    console: Console = request.app["console"]
    user: User = request["user"]
    code, name = request.match_info["code"].upper(), request.match_info["action"]
    if name not in ACTIONS:
        raise web.HTTPNotFound(text=f"no action {name}")
    form = dict(await request.post())
    await check_csrf(console, request, form, request.cookies.get(SESSION_COOKIE, ""), f"incident.{name}")
    permission, action = ACTIONS[name]
    now, source = console.now(), source_of(request)
    words = pages.words(language_of(request))
    if not allowed(user.role, permission):
        await asyncio.to_thread(audit, console.engine, now, user.username, f"incident.{name}", code,
                                f"role {user.role}", source, "refused")
        raise web.HTTPForbidden(text=words["forbidden"])
    state = find(console.view.board().open.values(), code)
    if state is None:
        raise web.HTTPNotFound(text=f"no open incident {code}")
    note = str(form.get("note", "")).strip()[:500]
    actor = user.person_id or f"console:{user.username}"
    if name == "note" and not note:
        return await _incident(request, words["note_needed"], 400)
    if name == "confirm":
        refused = await _confirm_materials(console, state, actor, now)
        await asyncio.to_thread(audit, console.engine, now, user.username, "incident.confirm", code,
                                refused or (state.materials.line if state.materials else ""), source,
                                "refused" if refused else "ok")
        if refused:
            return await _incident(request, refused, 409)
        raise web.HTTPSeeOther(f"/incidents/{code}?done=confirm")
    # The form's own id: a double click, or a browser sending the form again, gives the same command (applied once).
    once = str(form.get("once", "")) or str(uuid.uuid4())
    command = Command(event_id=derive("command.console", user.username, state.incident_id, name, once),
                      action=action, incident_id=state.incident_id, incident_code=state.code,
                      source_id=state.source_id, actor=actor, channel="console", issued_at=now, note=note,
                      drill_id=state.drill_id)
    await asyncio.to_thread(send_event, console.bootstrap, console.commands_topic, command.key, encode(command))
    await asyncio.to_thread(audit, console.engine, now, user.username, f"incident.{name}", code, note, source)
    log.info("%s %s by %s from %s", name, code, user.username, source)
    raise web.HTTPSeeOther(f"/incidents/{code}?done={name}")


CONFIRM_WAIT_SECONDS = 15.0


async def _confirm_materials(console: Console, state: IncidentState, actor: str, now: dt.datetime) -> str | None:
    """Write the proposal's dispatches through the worker's ledger, as `ers inventory confirm` does (their ids derive
    from the incident: confirming twice writes them once). None when recorded, else why not."""
    if state.materials is None or not state.materials.allocations:
        return pages.words(console.language)["no_proposal"]
    if console.topics is None:
        return "the console was started without the inventory topics"
    movements = dispatch_movements(str(state.incident_id), state.materials, actor, now, state.drill_id)
    outcome = await asyncio.to_thread(record_movements, console.bootstrap, console.topics,
                                      InventoryStore(console.engine), movements, CONFIRM_WAIT_SECONDS)
    if outcome.refused:
        return "; ".join(sorted(set(outcome.refused.values())))
    if outcome.waiting:
        return f"{len(outcome.waiting)} of {len(movements)} dispatch(es) not recorded yet: is the worker running?"
    return None


async def _audit(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    if not allowed(user.role, "read_audit"):
        raise web.HTTPForbidden(text=pages.words(language_of(request))["forbidden"])
    entries = await asyncio.to_thread(read_audit, console.engine, 500)
    return html_response(pages.audit_page(entries, console.roster.tz, language_of(request), user.display_name,
                                          user.role, csrf_token(console, request)))


async def _choose_language(request: web.Request) -> web.Response:
    """Switch this browser's language (a cookie; no account change), then back to where it was."""
    console: Console = request.app["console"]
    language = request.match_info["language"]
    if language not in LANGUAGES:
        raise web.HTTPNotFound(text=f"no language {language} (expected one of {', '.join(LANGUAGES)})")
    back = request.query.get("next", "/")
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = "/"  # only a path of this console: never an open redirect
    response = web.HTTPSeeOther(back)
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                        secure=console.https, path="/")
    raise response
