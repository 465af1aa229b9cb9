"""`ers inventory ...`: ledger movements (sent as events, recorded by the worker), stock, ledger, coverage."""
from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from schemas.topics import DLQ, INCIDENT_STATES, INVENTORY
from streams.cli_support import UserError, console, load_plan_or_fail
from streams.config import Settings

MOVEMENTS = {
    "receive": ("receipt", "stock arriving at a depot"),
    "dispatch": ("dispatch", "stock leaving a depot for an incident or a task"),
    "adjust": ("adjustment", "a stock-take correction (negative allowed; --reason required)"),
    "transfer": ("transfer", "stock moving from one depot to another (--to)"),
}


def add_inventory_commands(sub: argparse._SubParsersAction) -> None:
    inventory = sub.add_parser("inventory", help="emergency materials: ledger movements, stock, 2-hour coverage")
    actions = inventory.add_subparsers(title="inventory commands", metavar="ACTION", required=True)
    for name, (kind, help_text) in MOVEMENTS.items():
        command = actions.add_parser(name, help=help_text)
        command.add_argument("--depot", required=True, help="depot id from the plan")
        command.add_argument("--item", required=True, help="item id from the plan")
        command.add_argument("--quantity", required=True, type=_quantity, help="in the item's unit")
        command.add_argument("--unit", default=None, help="the item's unit (checked; default: the item's unit)")
        command.add_argument("--lot", default=None, help="lot id (default: a new lot / earliest expiring first)")
        command.add_argument("--expires", default=None, type=_date, help="expiry date of a received lot, YYYY-MM-DD")
        command.add_argument("--reason", default="", help="why (required for adjust)")
        command.add_argument("--actor", default="cli", help="who records it")
        command.add_argument("--incident", default=None, help="incident id the movement serves")
        if kind == "transfer":
            command.add_argument("--to", required=True, dest="to_depot", help="receiving depot id")
        command.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the worker to record it")
        command.set_defaults(handler=cmd_movement, kind=kind)

    confirm = actions.add_parser("confirm", help="confirm an incident's materials proposal: writes its dispatches")
    confirm.add_argument("code", help="the incident's code (e.g. K7Q) or id")
    confirm.add_argument("--actor", default="cli", help="who confirms")
    confirm.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the worker to record them")
    confirm.set_defaults(handler=cmd_confirm)

    stock = actions.add_parser("stock", help="stock per depot and item, derived from the ledger")
    stock.add_argument("--on", type=_date, default=None, help="as of this date (default today)")
    stock.add_argument("--json", action="store_true")
    stock.set_defaults(handler=cmd_stock)

    ledger = actions.add_parser("ledger", help="the movements, in the order they were accepted")
    ledger.add_argument("--depot", default=None)
    ledger.add_argument("--item", default=None)
    ledger.set_defaults(handler=cmd_ledger)

    cover = actions.add_parser("coverage", help="what reaches every risk source within the window (2-hour circle)")
    cover.add_argument("--minutes", type=_positive, default=120.0,
                       help="window for requirements that do not state their own (default 120)")
    cover.add_argument("--json", action="store_true", help="print the report as JSON")
    cover.add_argument("--png", type=Path, default=None, help="also draw a map of sources, depots and reach")
    cover.set_defaults(handler=cmd_coverage)


def _quantity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _quantity(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of minutes, got {text!r}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _store(settings: Settings):  # -> handlers.inventory_store.InventoryStore
    from handlers.database import DatabaseNotReady, open_migrated
    from handlers.inventory_store import InventoryStore

    try:
        return InventoryStore(open_migrated(settings.database_url))
    except DatabaseNotReady as exc:
        raise UserError(str(exc)) from exc


def _check_names(plan, depot: str, item: str, unit: str | None, to_depot: str | None) -> str:
    for depot_id in filter(None, (depot, to_depot)):
        if depot_id not in plan.depots:
            raise UserError(f"unknown depot {depot_id!r}; the plan's depots: {', '.join(plan.depots)}", exit_code=2)
    if item not in plan.items:
        raise UserError(f"unknown item {item!r}; the plan's items: {', '.join(plan.items)}", exit_code=2)
    expected = plan.items[item].unit
    if unit is not None and unit != expected:
        raise UserError(f"unit {unit!r} is not the unit of {item} ({plan.items[item].name}): expected {expected!r}",
                        exit_code=2)
    return expected


def cmd_movement(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from schemas import InventoryMovement
    from streams.services.ledger_movements import record_movements

    plan = load_plan_or_fail(settings.plan)
    unit = _check_names(plan, args.depot, args.item, args.unit, getattr(args, "to_depot", None))
    try:
        movement = InventoryMovement(
            kind=args.kind, depot_id=args.depot, item_id=args.item, quantity=args.quantity, unit=unit,
            lot_id=args.lot, expires_on=args.expires, to_depot_id=getattr(args, "to_depot", None),
            reason=args.reason, actor=args.actor, incident_id=args.incident,
            occurred_at=dt.datetime.now(dt.timezone.utc))
    except ValidationError as exc:
        raise UserError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()), exit_code=2) from exc
    outcome = record_movements(settings.client_bootstrap, settings.topics, _store(settings), [movement], args.wait)
    event_id = str(movement.event_id)
    if event_id in outcome.refused:
        raise UserError(f"the ledger refused movement {event_id}: {outcome.refused[event_id]}")
    if outcome.recorded:
        console.print(f"recorded {args.kind} {movement.quantity:g} {unit} {args.item} at {args.depot} ({event_id})")
        return 0
    raise UserError(f"sent movement {event_id}, but it was not recorded within {args.wait:g} s: is the worker running "
                    f"(`ers up`)? It will be recorded when the worker reads {settings.topics.of(INVENTORY)}.", 3)


def cmd_confirm(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.incident_states import find
    from contingency.materials import dispatch_movements
    from handlers.incident_states import read_incident_states
    from streams.services.ledger_movements import record_movements

    names = settings.topics
    incident = find(read_incident_states(settings.client_bootstrap, names.of(INCIDENT_STATES)), args.code)
    if incident is None:
        raise UserError(f"no incident with code or id {args.code!r} on {names.of(INCIDENT_STATES)}")
    if incident.materials is None:
        raise UserError(f"incident {incident.code} has no materials proposal (the plan proposes from level "
                        f"{load_plan_or_fail(settings.plan).propose_materials_from.value})")
    proposal = incident.materials
    movements = dispatch_movements(str(incident.incident_id), proposal, args.actor, dt.datetime.now(dt.timezone.utc),
                                   incident.drill_id)
    if not movements:
        raise UserError(f"the proposal for {incident.code} allocates nothing ({proposal.line})")
    outcome = record_movements(settings.client_bootstrap, names, _store(settings), movements, args.wait)
    if outcome.refused:
        reasons = "; ".join(sorted(set(outcome.refused.values())))
        raise UserError(f"the ledger refused {len(outcome.refused)} of {len(movements)} dispatch(es) for "
                        f"{incident.code}: {reasons}")
    if outcome.waiting:
        raise UserError(f"sent {len(movements)} dispatch(es) for {incident.code}; not all recorded within "
                        f"{args.wait:g} s (see `ers inventory ledger` and {names.of(DLQ)})", 3)
    console.print(f"confirmed {incident.code}: {len(movements)} dispatch(es) recorded — {proposal.line}")
    return 0


def cmd_stock(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.ledger import stock_lines

    plan = load_plan_or_fail(settings.plan)
    store = _store(settings)
    on = args.on or dt.date.today()
    lines = stock_lines(store.stock(on=on), store.minimum_levels(), on)
    if args.json:
        rows = [{"depot": line.depot, "item": line.item, "unit": _unit(plan, line.item), "on_hand": line.on_hand,
                 "minimum": line.minimum, "available": line.available, "expired": line.expired,
                 "next_expiry": line.next_expiry.isoformat() if line.next_expiry else None} for line in lines]
        print(json.dumps({"on": on.isoformat(), "stock": rows}, ensure_ascii=False, indent=2))
        return 0
    table = Table(title=f"库存 stock on {on.isoformat()}")
    for column in ("depot", "item", "on hand", "expired", "minimum", "available", "next expiry"):
        table.add_column(column, justify="right" if column in ("on hand", "expired", "minimum", "available") else "left")
    for line in lines:
        table.add_row(_name(plan.depots, line.depot), _name(plan.items, line.item),
                      f"{line.on_hand:g} {_unit(plan, line.item)}", f"{line.expired:g}", f"{line.minimum:g}",
                      f"{line.available:g}", line.next_expiry.isoformat() if line.next_expiry else "")
    Console().print(table)
    return 0


def _unit(plan, item: str) -> str:
    return plan.items[item].unit if item in plan.items else ""


def cmd_ledger(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    table = Table(title="台账 ledger (append-only)")
    for column in ("occurred", "kind", "depot", "item", "quantity", "lot", "to", "reason", "actor", "event id"):
        table.add_column(column)
    for m in store.movements(depot_id=args.depot, item_id=args.item):
        table.add_row(m.occurred_at.isoformat(timespec="minutes"), m.kind, m.depot_id, m.item_id,
                      f"{m.quantity:g} {m.unit}", m.lot_id or "", m.to_depot_id or "", m.reason, m.actor,
                      str(m.event_id))
    Console().print(table)
    return 0


def cmd_coverage(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.road_files import RoadFileError, load_road_file
    from streams.services.materials import coverage_on

    plan = load_plan_or_fail(settings.plan)
    try:
        graph = load_road_file(settings.roads)
    except RoadFileError as exc:
        raise UserError(str(exc), exit_code=2) from exc
    report = coverage_on(plan, graph, _store(settings), dt.date.today(), args.minutes)
    if args.png is not None:
        from streams.views.coverage_map import draw_coverage_map

        draw_coverage_map(plan, graph, report, args.png)
    if args.json:
        print(report.to_json())
    else:
        _print_coverage(plan, report)
        if args.png is not None:
            console.print(f"map written to {args.png}")
    return 0 if report.covered else 1


def _print_coverage(plan, report) -> None:
    table = Table(title="2小时应急圈 coverage: what arrives at each risk source in time")
    for column in ("source", "item", "required", "in window", "shortfall", "earliest", "depots (arrival)"):
        table.add_column(column, justify="right" if column in ("required", "in window", "shortfall") else "left")
    for e in report.items:
        depots = ", ".join(f"{_name(plan.depots, c.depot_id)} {c.quantity:g} ({c.arrival_minutes:.0f}′)"
                           for c in e.contributions)
        shortfall = f"[red]{e.shortfall:g}[/]" if e.shortfall > 0 else "0"
        earliest = "" if e.earliest_arrival_minutes is None else f"{e.earliest_arrival_minutes:.0f} min"
        table.add_row(_name(plan.sources, e.source_id), _name(plan.items, e.item_id), f"{e.required:g} {e.unit}",
                      f"{e.in_window:g}", shortfall, earliest, depots)
    Console().print(table)
    missing = report.shortfalls()
    if missing:
        console.print(f"[red]NOT COVERED[/]: {len(missing)} of {len(report.items)} source/item requirements fall "
                      "short within their window")
    else:
        console.print(f"[green]COVERED[/]: all {len(report.items)} source/item requirements reachable in time")


def _name(collection, key: str) -> str:
    return collection[key].name if key in collection else key
