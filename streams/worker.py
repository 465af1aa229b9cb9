"""Running the Faust worker in this process."""
from __future__ import annotations

import faust

from contingency import Plan
from contingency.roster import Roster
from handlers.database import migrate
from handlers.kafka_admin import ensure_topics
from streams.app import create_app, topics_for
from streams.config import Settings


def run_worker(settings: Settings, plan: Plan, roster: Roster) -> None:
    """Blocks until the worker stops (Ctrl-C / SIGTERM); Faust's own signal handling stops it cleanly."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    ensure_topics(settings.bootstrap, topics_for(settings).specs())
    app = create_app(settings, plan, roster)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
