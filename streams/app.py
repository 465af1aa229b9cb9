"""The Faust application: settings, plan, roster and the adapters (streams.bootstrap) in, a wired app out.

Registration only: no file, database or network is touched here."""
from __future__ import annotations

from collections.abc import Mapping

import faust

from contingency import CompiledPlan
from contingency.roster import Roster
from contingency.plausibility import time_bounds
from handlers.database import ping
from streams.agents.clock import register_clock
from streams.agents.dispatch import register_dispatcher
from streams.agents.incidents import register_incident_agent
from streams.agents.inventory import register_inventory_agent
from streams.agents.reports import register_reports_agent
from streams.agents.rules import register_rules_agent
from streams.bootstrap import Dependencies
from streams.channels import Channels, fetch_bytes
from streams.config import Settings
from streams.health import register_health
from streams.services.materials import materials_enricher
from streams.web import register_webhooks


# A full queue costs memory (~1 KB an event) only while a backlog is worked through; smaller queues cost speed:
# an empty agent took 15,000 records/s with 16,384, 19,000 with 32,768, 27,000 with 65,536 (bench/faust_flow.py).
STREAM_BUFFER = 65_536  # events an agent's queue holds (its partitions pause at 80 %)
FETCH_RECORDS = 10_000  # records one fetch hands over at most: fits between the pause and a full queue
PRODUCER_BATCH = 256 * 1024  # bytes of one partition's record batch, at most


def producer_batch_bytes(record_limits: Mapping[str, int]) -> int:
    """The producer's record batch: aiokafka's sender has one request in flight to a broker, carrying one batch a
    partition, so batches of 16 KB (Faust's default) capped a worker writing station states at a few MB/s of
    changelog. A batch must stay within what every topic accepts (max.message.bytes; changelogs have the
    broker's default, 1 MB)."""
    return min([PRODUCER_BATCH, *record_limits.values()])


def create_app(settings: Settings, plan: CompiledPlan, roster: Roster, deps: Dependencies) -> faust.App:
    clock = deps.clock
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind="127.0.0.1",
        producer_acks=-1,
        # A reading should become an incident in seconds: commit (and flush outputs) often. A drill runner
        # learns that the pipeline is quiet from committed offsets, so on a virtual clock commit at once.
        broker_commit_interval=1.0 if clock.mode == "wall" else 0.02,
        consumer_auto_offset_reset="earliest",
        # A killed worker's partitions move on after this long without heartbeats (Faust's default is 60 s,
        # too long for an alerting system restarted by its supervisor).
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        # ...and with a static membership a restarted worker does not wait even that: its id replaces the dead
        # member's at once (bench/restart_resume.py).
        consumer_group_instance_id=settings.group_instance_id,
        consumer_max_fetch_size=fetch_bytes(deps.record_limits, settings.topics),
        # Faust pauses an agent's partitions when its queue is 80 % full and resumes them at 40 %; a fetch hands
        # over everything prefetched (thousands of records a partition), and what overflows a full queue is
        # delivered a task per record. Queues of 4,096 (the default) cycled every few thousand readings and capped
        # a busy worker at ~6,000 readings/s; these let a fetch always fit above the pause (bench/faust_flow.py).
        stream_buffer_maxsize=STREAM_BUFFER,
        broker_max_poll_records=FETCH_RECORDS,
        producer_max_batch_size=producer_batch_bytes(deps.record_limits),
    )
    ch = Channels.declare(app, settings.topics, deps.record_limits)
    bounds = time_bounds(plan, settings.future_margin_minutes)
    register_rules_agent(app, ch, plan, clock, bounds)
    register_reports_agent(app, ch, plan, clock, bounds)
    register_incident_agent(app, ch, plan, roster, clock, materials_enricher(plan, deps.roads, deps.ledger), bounds)
    register_dispatcher(app, ch, deps)
    register_inventory_agent(app, ch, plan, roster, deps.ledger, clock, bounds)
    register_webhooks(app, ch, plan, roster, deps, settings.language)
    if clock.mode == "wall":  # on a virtual clock, the drill runner sends the ticks
        register_clock(app, ch, plan, settings.tick_seconds)
    register_health(app, ch, deps.bootstrap_servers, settings.app_id, lambda: ping(deps.ledger.engine))
    return app
