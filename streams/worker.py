"""Running the Faust worker in this process."""
from __future__ import annotations

import gc
import logging

import faust

from contingency import CompiledPlan
from contingency.plan import Plan, calling_tiers
from contingency.problems import PlanError
from contingency.roster import Roster, for_live_drills, for_sms
from contingency.sms_templates import TemplateSet, load_templates
from handlers.database import migrate
from handlers.incident_states import IncidentStateView
from handlers.kafka_admin import ensure_topic_configs, ensure_topics
from handlers.phones import MaskPhonesFilter
from schemas.topics import INCIDENT_STATES
from streams.agents.common import CHANGELOG_CONFIG
from streams.app import create_app
from streams.bootstrap import bootstrap
from streams.config import ConfigError, Settings


log = logging.getLogger("ers.worker")


class Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        # Every handler masks phone numbers, whichever library logs them.
        for handler in logger.handlers:
            if not any(isinstance(f, MaskPhonesFilter) for f in handler.filters):
                handler.addFilter(MaskPhonesFilter())


READ_MODEL_LOAD_SECONDS = 30.0


def sms_templates(settings: Settings, roster: Roster, plan: Plan | None = None) -> TemplateSet | None:
    """The registered templates, when anyone is reached through Aliyun; the worker does not start with a template
    file that would fail (ConfigError names the file, the template and the problem)."""
    people = list(roster.people.values()) + list(roster.drill_phones.values())
    if settings.sms_provider != "aliyun" and not any(p.sms_provider == "aliyun" for p in people):
        return None
    try:
        templates = load_templates(settings.templates_path)
    except PlanError as exc:
        raise ConfigError(f"SMS templates ({settings.templates_path}) cannot be used:\n{exc}") from exc
    calling = calling_tiers(plan) if plan is not None else []
    if calling and templates.voice is None:
        raise ConfigError(f"SMS templates ({settings.templates_path}) cannot be used: the plan's tiers "
                          f"{', '.join(calling)} say call (叫应), and the file has no voice: section (the number "
                          f"calls come from, and the registered call templates)")
    return templates


# Python's cyclic collector walks every tracked object in a full collection, and by default collects its youngest
# generation every 700 allocations. A worker holds the compiled plan (hundreds of thousands of objects for a province)
# and each station's recent readings, while a reading allocates a few hundred short-lived objects: most of a
# catch-up's time went to the collector (bench/catch_up.py, 4,000 stations: 3,334 readings/s; the plan frozen out of
# the collector: 4,126; and collected less often: 5,182). Reference cycles are rare in ERS's data, so collecting them
# later costs little memory.
GC_THRESHOLDS = (50_000, 20, 1000)


def settle_garbage_collector() -> None:
    """What is loaded by now (plan, roster, the app) lives as long as the worker: out of the collector's sight."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_worker(settings: Settings, plan: CompiledPlan, roster: Roster) -> None:
    """Blocks until the worker stops (Ctrl-C / SIGTERM); Faust's own signal handling stops it cleanly."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings.bootstrap, settings.topics.specs())
    # The incident read model is read in a thread of its own while the rest starts (a restart is timed).
    states = IncidentStateView(settings.bootstrap, settings.topics.of(INCIDENT_STATES)).start()
    try:
        migrate(settings.database_url)
        if settings.drill_live_roster:
            roster = for_live_drills(roster)
        roster = for_sms(roster, settings.sms_provider, sms_templates(settings, roster, plan))
        deps = bootstrap(settings, plan, roster, states)
        app = create_app(settings, plan, roster, deps)
        ensure_topic_configs(settings.bootstrap, [t.changelog_topic.get_topic_name() for t in app.tables.values()],
                             CHANGELOG_CONFIG)
    except BaseException:
        states.stop()
        raise
    if not deps.incident_states.wait_loaded(READ_MODEL_LOAD_SECONDS):
        log.warning("incident read model not read to its end within %g s: replies are answered from what it holds "
                    "until it is", READ_MODEL_LOAD_SECONDS)
    # Logging is ours (streams/logs.py): Faust would replace the handlers with its own. Its terminal spinner,
    # which it drops only while setting logging up, would then write control codes instead of "Ready".
    worker = Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False)
    worker.spinner = None
    settle_garbage_collector()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        deps.incident_states.stop()
