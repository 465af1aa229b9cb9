"""Building every adapter the worker needs from the settings, once: the one place that opens the database, reads
the road file, talks to the SMS provider and the broker. `create_app` then only registers agents and routes."""
from __future__ import annotations

from dataclasses import dataclass

from contingency import CompiledPlan
from contingency.roads import RoadGraph
from contingency.roster import Roster, person_by_phone
from handlers.database import make_engine
from handlers.incident_states import IncidentStateView
from handlers.inventory_store import InventoryStore
from handlers.road_files import RoadFileError, load_road_file
from handlers.sms_gateway import TwilioSms
from handlers.sms_router import SmsRouter
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import STATUS_PATH, WebhookGuard
from schemas.topics import INCIDENT_STATES
from streams import faust_fixes
from streams.clocks import AgentClock, clock_for
from streams.config import ConfigError, Settings
from streams.services.sms_delivery import SmsGateway



@dataclass(frozen=True)
class Dependencies:
    clock: AgentClock
    outbox: SmsOutbox
    sms: SmsGateway
    status_callback_url: str   # where the SMS provider reports delivery
    guard: WebhookGuard
    ledger: InventoryStore
    roads: RoadGraph
    incident_states: IncidentStateView
    bootstrap_servers: str


def bootstrap(settings: Settings, plan: CompiledPlan, roster: Roster) -> Dependencies:
    if not settings.sms_configured:
        raise ConfigError("SMS is not configured: set ERS_TWILIO_ACCOUNT_SID, ERS_TWILIO_AUTH_TOKEN and "
                          "ERS_TWILIO_FROM (and ERS_TWILIO_API_BASE for a local sandbox), or use `ers up`, "
                          "which starts a local Twilio sandbox when none is configured")
    try:
        roads = load_road_file(settings.roads)
    except RoadFileError as exc:
        raise ConfigError(str(exc)) from exc
    faust_fixes.install()
    engine = make_engine(settings.database_url)
    outbox, ledger = SmsOutbox(engine), InventoryStore(engine)
    ledger.sync_catalogue(plan)
    status_url = settings.webhook_base + STATUS_PATH
    sms = SmsRouter(twilio=TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from,
                                     api_base=settings.twilio_api_base, status_callback_url=status_url))
    guard = WebhookGuard(settings.twilio_auth_token, settings.webhook_base, outbox,
                         known_phone=lambda phone: person_by_phone(roster, phone) is not None)
    states = IncidentStateView(settings.bootstrap, settings.topics.of(INCIDENT_STATES))
    return Dependencies(clock_for(settings.clock), outbox, sms, status_url, guard, ledger, roads, states,
                        settings.bootstrap)
