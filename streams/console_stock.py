"""The console's materials pages (issue 16, item 5): GET /stock, POST /stock/movements, GET /coverage.

Stock is derived from the ledger by the same domain functions as `ers inventory stock` (contingency.ledger), and the
2-hour circle by the same use case as `ers inventory coverage` (streams.services.materials.coverage_on), recomputed
at every request from the stock then; only the road graph is read once. A movement is recorded the way
`ers inventory receive|dispatch|...` records it: sent to the worker's inventory topic, then waited for until the
worker has recorded it or refused it (a dead letter with the ledger's reason, which the page shows). Its event id
derives from the form's one-time id, so a form posted twice is one movement (the ledger is idempotent on ids).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import uuid
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from contingency.access import allowed
from contingency.ids import derive
from contingency.ledger import below_minimum, expiring, stock_lines
from contingency.materials import DEFAULT_WINDOW_MINUTES
from contingency.plan import Plan
from handlers.console_users import User, audit
from handlers.inventory_store import InventoryStore
from handlers.road_files import RoadFileError
from schemas.inventory import InventoryMovement
from streams.console_http import (ROADS, SESSION_COOKIE, check_csrf, csrf_token, html_response, language_of,
                                  source_of)
from streams.services.ledger_movements import record_movements
from streams.services.materials import coverage_on
from streams.views import console_pages
from streams.views import console_stock_pages as pages

if TYPE_CHECKING:
    from streams.console import Console

log = logging.getLogger("ers.console")
MOVEMENT_WAIT_SECONDS = 15.0  # as `ers inventory receive --wait`
RECENT_MOVEMENTS = 20
FORM_FIELDS = ("kind", "depot", "item", "quantity", "lot", "expires", "to_depot", "reason")


class MovementFormError(ValueError):
    pass


def add_routes(app: web.Application) -> None:
    app.router.add_get("/stock", _stock)
    app.router.add_post("/stock/movements", _record)
    app.router.add_get("/coverage", _coverage)


def today(console: "Console") -> dt.date:
    """The county's day (the roster's time zone): what expires and what counts as stock on it."""
    return console.now().astimezone(console.roster.tz).date()


def movement_from_form(plan: Plan, form: Mapping[str, object], actor: str, now: dt.datetime, event_id: uuid.UUID,
                       language: str) -> InventoryMovement:
    """The movement a form asks for, checked against the plan as `ers inventory` checks its arguments (the unit is
    the item's); MovementFormError with the reason for the page. What the stock allows is the ledger's to say."""
    w = pages.stock_words(language)

    def field(name: str) -> str:
        return str(form.get(name, "")).strip()

    kind, depot, item, to_depot = field("kind"), field("depot"), field("item"), field("to_depot") or None
    if kind not in pages.FORM_KINDS:
        raise MovementFormError(w["unknown_kind"].format(value=kind))
    for depot_id in filter(None, (depot, to_depot)):
        if depot_id not in plan.depots:
            raise MovementFormError(w["unknown_depot"].format(value=depot_id, known=", ".join(plan.depots)))
    if not depot:
        raise MovementFormError(w["unknown_depot"].format(value="''", known=", ".join(plan.depots)))
    if item not in plan.items:
        raise MovementFormError(w["unknown_item"].format(value=item or "''", known=", ".join(plan.items)))
    if kind == "transfer" and to_depot is None:
        raise MovementFormError(w["to_required"])
    if kind != "transfer" and to_depot is not None:
        raise MovementFormError(w["to_only_transfer"])
    try:
        quantity = float(field("quantity"))
    except ValueError:
        raise MovementFormError(w["bad_quantity"].format(value=field("quantity") or "''")) from None
    if not math.isfinite(quantity):
        raise MovementFormError(w["bad_quantity"].format(value=field("quantity")))
    if kind != "adjustment" and quantity <= 0:
        raise MovementFormError(w["not_positive"].format(kind=w[kind].split("(")[0]))
    if kind == "adjustment" and quantity == 0:
        raise MovementFormError(w["zero"])
    expires: dt.date | None = None
    if field("expires"):
        try:
            expires = dt.date.fromisoformat(field("expires"))
        except ValueError:
            raise MovementFormError(w["bad_date"].format(value=field("expires"))) from None
    try:
        return InventoryMovement(event_id=event_id, kind=kind, depot_id=depot, item_id=item, quantity=quantity,
                                 unit=plan.items[item].unit, lot_id=field("lot") or None, expires_on=expires,
                                 to_depot_id=to_depot, reason=field("reason")[:500], actor=actor, occurred_at=now)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                            if e["loc"] else e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise MovementFormError(w["invalid"].format(reason=reasons)) from exc


# --- handlers -------------------------------------------------------------------------------------------------

async def _stock(request: web.Request, error: str = "", values: Mapping[str, str] | None = None,
                 status: int = 200) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    day = today(console)
    store = InventoryStore(console.engine)

    def read():  # one thread hop for the three reads
        return store.stock(on=day), store.minimum_levels(), store.movements()

    stock, minimums, movements = await asyncio.to_thread(read)
    notice = ""
    wanted = request.query.get("movement", "")
    if wanted and not error:
        found = next((m for m in movements if str(m.event_id) == wanted), None)
        w = pages.stock_words(language_of(request))
        if found is not None:
            key = "already" if request.query.get("again") else "recorded"
            notice = w[key].format(what=pages.movement_text(console.plan, found, language_of(request)))
        else:
            notice = w["pending"].format(id=wanted[:36])
    html = pages.stock_page(
        console.plan, stock_lines(stock, minimums, day), expiring(stock, day, pages.EXPIRING_WITHIN_DAYS),
        below_minimum(stock, minimums), movements[-RECENT_MOVEMENTS:][::-1], day, console.roster.tz,
        language_of(request), user.display_name, user.role, csrf_token(console, request), notice, error, values)
    return html_response(html, status)


async def _record(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    form = dict(await request.post())
    kind = str(form.get("kind", ""))
    what = f"inventory.{kind if kind in pages.FORM_KINDS else 'movement'}"
    await check_csrf(console, request, form, request.cookies.get(SESSION_COOKIE, ""), what)
    now, source = console.now(), source_of(request)
    target = f"{str(form.get('depot', ''))[:128]}/{str(form.get('item', ''))[:128]}"

    def audited(detail: str, outcome: str = "ok") -> Awaitable[None]:
        return asyncio.to_thread(audit, console.engine, now, user.username, what, target, detail[:1000], source,
                                 outcome)

    if not allowed(user.role, "record_movement"):
        await audited(f"role {user.role}", "refused")
        raise web.HTTPForbidden(text=console_pages.words(language_of(request))["forbidden"])
    w = pages.stock_words(language_of(request))
    values = {name: str(form.get(name, ""))[:500] for name in FORM_FIELDS}
    # The form's own id: a double click, or the browser sending the form again, is the same movement.
    once = str(form.get("once", "")) or str(uuid.uuid4())
    event_id = derive("movement.console", user.username, once)
    try:
        movement = movement_from_form(console.plan, form, f"console:{user.username}", now, event_id,
                                      language_of(request))
    except MovementFormError as exc:
        await audited(str(exc), "refused")
        return await _stock(request, str(exc), values, 400)
    text = pages.movement_text(console.plan, movement, language_of(request))
    store = InventoryStore(console.engine)
    held = await asyncio.to_thread(store.movements, movement.depot_id, movement.item_id)
    if any(m.event_id == movement.event_id for m in held):
        await audited(f"{text} ({event_id}): already recorded, not sent again")
        raise web.HTTPSeeOther(f"/stock?movement={event_id}&again=1")
    if console.topics is None:
        await audited("no inventory topic configured", "refused")
        return await _stock(request, w["no_topics"], values, 503)
    outcome = await asyncio.to_thread(record_movements, console.bootstrap, console.topics, store, [movement],
                                      MOVEMENT_WAIT_SECONDS)
    if str(event_id) in outcome.refused:
        reason = outcome.refused[str(event_id)]
        await audited(f"{text} ({event_id}): {reason}", "refused")
        log.info("%s by %s refused by the ledger: %s", what, user.username, reason)
        return await _stock(request, w["refused"].format(reason=reason), values, 409)
    waiting = str(event_id) in outcome.waiting
    await audited(f"{text} ({event_id})" + (": sent, not yet recorded" if waiting else ""))
    log.info("%s %s by %s from %s: %s", what, event_id, user.username, source, "sent" if waiting else "recorded")
    raise web.HTTPSeeOther(f"/stock?movement={event_id}")


async def _coverage(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    user: User = request["user"]
    day = today(console)
    report, error = None, ""
    try:
        graph = await asyncio.to_thread(request.app[ROADS].graph)
    except RoadFileError as exc:
        error = pages.stock_words(language_of(request))["no_roads"].format(reason=str(exc))
    else:
        report = await asyncio.to_thread(coverage_on, console.plan, graph, InventoryStore(console.engine), day,
                                         DEFAULT_WINDOW_MINUTES)
    page = pages.coverage_page(console.plan, report, day, language_of(request), user.display_name, user.role,
                               csrf_token(console, request), error)
    return html_response(page, 503 if error else 200)
