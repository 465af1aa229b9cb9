"""The Faust application factory: settings + plan in, a wired app out."""
from __future__ import annotations

import faust

from contingency import Plan
from streams.agents.incidents import register_incident_agent
from streams.agents.rules import register_rules_agent
from streams.channels import Channels
from streams.config import Settings
from streams.topics import Topics


def topics_for(settings: Settings) -> Topics:
    return Topics(prefix=settings.topic_prefix, partitions=settings.partitions)


def create_app(settings: Settings, plan: Plan) -> faust.App:
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
        # A reading should become an incident in seconds: commit (and flush outputs) often.
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # A killed worker's partitions move on after this long without heartbeats (Faust's default is 60 s,
        # too long for an alerting system restarted by its supervisor).
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    ch = Channels.declare(app, topics_for(settings))
    register_rules_agent(app, ch, plan, tick_seconds=settings.tick_seconds)
    register_incident_agent(app, ch, plan)
    return app
