"""The Faust application factory: settings, plan and roster in, a wired app out."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import faust

from contingency import Plan
from contingency.ledger import available
from contingency.materials import needs_proposal, with_proposal
from contingency.roads import RoadGraph
from contingency.roster import Roster, for_live_drills, person_by_phone
from handlers.database import make_engine
from handlers.inventory_store import InventoryStore
from handlers.road_files import RoadFileError, load_road_file
from handlers.sms_gateway import TwilioSms
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import WebhookGuard
from schemas.incidents import IncidentEvent
from streams.agents.clock import register_clock
from streams.agents.dispatch import register_dispatcher
from streams.agents.incidents import register_incident_agent
from streams.agents.inventory import register_inventory_agent
from streams.agents.reports import register_reports_agent
from streams.agents.rules import register_rules_agent
from streams import faust_fixes
from streams.channels import Channels
from streams.clocks import clock_for
from streams.config import ConfigError, Settings
from streams.health import register_health
from streams.web import STATUS_PATH, register_webhooks


@dataclass(frozen=True)
class Sms:
    outbox: SmsOutbox
    gateway: TwilioSms
    guard: WebhookGuard
    status_callback_url: str


def sms_for(settings: Settings, roster: Roster) -> Sms:
    if not settings.sms_configured:
        raise ConfigError("SMS is not configured: set ERS_TWILIO_ACCOUNT_SID, ERS_TWILIO_AUTH_TOKEN and "
                          "ERS_TWILIO_FROM (and ERS_TWILIO_API_BASE for a local sandbox), or use `ers up`, "
                          "which starts a local Twilio sandbox when none is configured")
    outbox = SmsOutbox(make_engine(settings.database_url))
    status_url = settings.webhook_base + STATUS_PATH
    gateway = TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from,
                        api_base=settings.twilio_api_base, status_callback_url=status_url)
    guard = WebhookGuard(settings.twilio_auth_token, settings.webhook_base, outbox,
                         known_phone=lambda phone: person_by_phone(roster, phone) is not None)
    return Sms(outbox, gateway, guard, status_url)


def materials_enricher(plan: Plan, graph: RoadGraph, store: InventoryStore) -> Callable[[IncidentEvent], IncidentEvent]:
    """Attach a dispatch proposal to incidents that reach the plan's proposal level, from the stock recorded so far
    (lots expired on the incident's day excluded).

    Reads the ledger synchronously: it happens a few times a day, when an incident reaches that level."""
    def enrich(event: IncidentEvent) -> IncidentEvent:
        if not needs_proposal(plan, event):
            return event
        day = event.occurred_at.date()
        stock, minimums = store.stock(), store.minimum_levels()
        return with_proposal(plan, graph, lambda depot, item: available(stock, depot, item, day, minimums), event)

    return enrich


def create_app(settings: Settings, plan: Plan, roster: Roster) -> faust.App:
    faust_fixes.install()
    if settings.drill_live_roster:
        roster = for_live_drills(roster)
    sms = sms_for(settings, roster)
    clock = clock_for(settings.clock)
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
    )
    ch = Channels.declare(app, settings.topics)
    register_rules_agent(app, ch, plan, clock)
    register_reports_agent(app, ch, plan, clock)
    store = InventoryStore(make_engine(settings.database_url))
    store.sync_catalogue(plan)
    try:
        graph = load_road_file(settings.roads)
    except RoadFileError as exc:
        raise ConfigError(str(exc)) from exc
    enrich = materials_enricher(plan, graph, store)
    desk = register_incident_agent(app, ch, plan, roster, clock, enrich)
    register_dispatcher(app, ch, sms.outbox, sms.gateway, sms.status_callback_url, clock, settings.bootstrap)
    register_inventory_agent(app, ch, plan, roster, store, clock)
    register_webhooks(app, ch, plan, roster, desk, sms.guard, sms.outbox, settings.language, clock)
    if clock.mode == "wall":  # on a virtual clock, the drill runner sends the ticks
        register_clock(app, ch, plan, settings.tick_seconds)
    register_health(app, ch, settings.bootstrap, settings.app_id)
    return app
