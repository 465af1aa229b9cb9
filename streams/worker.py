"""Running the Faust worker in this process."""
from __future__ import annotations

import logging

import faust

from contingency import Plan
from contingency.roster import Roster
from handlers.database import migrate
from handlers.kafka_admin import ensure_topics
from handlers.phones import MaskPhonesFilter
from streams.app import create_app
from streams.config import Settings


class Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        # Every handler masks phone numbers, whichever library logs them.
        for handler in logger.handlers:
            if not any(isinstance(f, MaskPhonesFilter) for f in handler.filters):
                handler.addFilter(MaskPhonesFilter())


def run_worker(settings: Settings, plan: Plan, roster: Roster) -> None:
    """Blocks until the worker stops (Ctrl-C / SIGTERM); Faust's own signal handling stops it cleanly."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    ensure_topics(settings.bootstrap, settings.topics.specs())
    app = create_app(settings, plan, roster)
    worker = Worker(app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
