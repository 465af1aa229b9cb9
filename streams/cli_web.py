"""`ers web`: serve the duty-room console (streams/console.py) until Ctrl-C."""
from __future__ import annotations

import argparse
import asyncio
import logging

from streams.cli_support import UserError, console, load_plan_or_fail, load_roster_or_fail
from streams.config import Settings

log = logging.getLogger("ers.console")


def add_web_commands(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", help="serve the duty-room console (live board, incidents) on ERS_CONSOLE_PORT")
    web.set_defaults(handler=cmd_web)


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web as aiohttp_web

    from handlers.console_sessions import SessionKeys
    from handlers.database import make_engine, migrate
    from handlers.incident_states import IncidentStateView
    from handlers.incident_timeline import IncidentTimelineView
    from schemas.topics import COMMANDS, DELIVERY, INCIDENT_STATES, INCIDENTS, NOTIFICATIONS
    from streams.console import Console, build_app

    plan = load_plan_or_fail(settings.plan)
    roster = load_roster_or_fail(settings.roster, plan)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    view = IncidentStateView(settings.client_bootstrap, settings.topics.of(INCIDENT_STATES)).start()
    history = IncidentTimelineView(settings.client_bootstrap, settings.topics.of(INCIDENTS),
                                   settings.topics.of(NOTIFICATIONS), settings.topics.of(DELIVERY),
                                   settings.topics.of(COMMANDS)).start()
    keys = SessionKeys(settings.console_secret)
    if keys.ephemeral:
        log.warning("ERS_CONSOLE_SECRET is not set: sessions are signed with a key of this process only (they end "
                    "when it stops, and other `ers web` processes do not accept them)")
    app = build_app(Console(plan, roster, engine, view, settings.client_bootstrap, settings.topics.of(COMMANDS),
                            keys, settings.language, settings.console_https, timeline=history,
                            topics=settings.topics, roads=settings.roads,
                            map_tiles=settings.console_map_tiles))
    from streams.console_drills import DrillDesk

    app["console"].drills = DrillDesk.of(settings)  # `ers drill run` in a child process, same settings

    async def serve() -> None:
        runner = aiohttp_web.AppRunner(app, access_log=None)
        await runner.setup()
        site = aiohttp_web.TCPSite(runner, settings.console_host, settings.console_port)
        try:
            await site.start()
        except OSError as exc:
            raise UserError(f"cannot listen on {settings.console_host}:{settings.console_port}: {exc.strerror} "
                            "(ERS_CONSOLE_PORT chooses another port)") from exc
        port = runner.addresses[0][1]
        host = "127.0.0.1" if settings.console_host in ("0.0.0.0", "") else settings.console_host
        console.print(f"console at http://{host}:{port}/ (accounts: `ers users add`). Ctrl-C stops.")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    finally:
        view.stop()
        history.stop()
        engine.dispose()
    return 0
