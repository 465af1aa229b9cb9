"""Building every adapter the worker needs from the settings, once: the one place that opens the database, reads
the road file, talks to the SMS provider and the broker. `create_app` then only registers agents and routes."""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from contingency import CompiledPlan
from contingency.roads import RoadGraph
from contingency.roster import Roster, person_by_phone
from handlers.database import make_engine
from handlers.incident_states import IncidentStateView
from handlers.kafka_admin import record_limits
from handlers.inventory_store import InventoryStore
from handlers.road_files import RoadFileError, load_road_file
from handlers.aliyun_push import AliyunPushGuard
from handlers.sms_gateway import TwilioSms
from handlers.sms_router import SmsRouter
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import STATUS_PATH, WebhookGuard
from schemas.topics import INCIDENT_STATES
from streams import faust_eager, faust_fixes
from streams.clocks import AgentClock, clock_for
from streams.config import ConfigError, Settings
from streams.services.sms_delivery import SmsGateway



NOT_CONFIGURED = {
    "twilio": "SMS is not configured: set ERS_TWILIO_ACCOUNT_SID, ERS_TWILIO_AUTH_TOKEN and ERS_TWILIO_FROM (and "
              "ERS_TWILIO_API_BASE for a local sandbox), or use `ers up`, which starts a local Twilio sandbox when "
              "none is configured",
    "aliyun": "SMS is not configured for ERS_SMS_PROVIDER=aliyun: set ERS_ALIYUN_ACCESS_KEY_ID, "
              "ERS_ALIYUN_ACCESS_KEY_SECRET and ERS_ALIYUN_PUSH_TOKEN (and ERS_ALIYUN_ENDPOINT for a local sandbox), "
              "or use `ers up`, which starts a local Aliyun sandbox when no key is set",
}


@dataclass(frozen=True)
class Dependencies:
    clock: AgentClock
    outbox: SmsOutbox
    sms: SmsGateway
    status_callback_url: str   # where the SMS provider reports delivery
    guard: WebhookGuard | None            # Twilio's signed webhooks, when a Twilio account is configured
    ledger: InventoryStore
    roads: RoadGraph
    incident_states: IncidentStateView
    bootstrap_servers: str
    record_limits: Mapping[str, int]  # each topic's max.message.bytes, read from the broker
    aliyun_guard: AliyunPushGuard | None = None  # Aliyun's pushes, when an Aliyun account is configured
    sender: str | None = None  # who claims SMS in the outbox: "<worker slot>#<this process>"


def bootstrap(settings: Settings, plan: CompiledPlan, roster: Roster,
              states: IncidentStateView | None = None) -> Dependencies:
    """`states`: the incident read model, when the caller started reading it already."""
    if not settings.sms_configured:
        raise ConfigError(NOT_CONFIGURED[settings.sms_provider])
    try:
        roads = load_road_file(settings.roads)
    except RoadFileError as exc:
        raise ConfigError(str(exc)) from exc
    faust_fixes.install()
    faust_eager.install()
    engine = make_engine(settings.database_url)
    outbox, ledger = SmsOutbox(engine), InventoryStore(engine)
    ledger.sync_catalogue(plan)
    status_url = settings.webhook_base + STATUS_PATH
    known = lambda phone: person_by_phone(roster, phone) is not None  # noqa: E731
    twilio = guard = aliyun = aliyun_guard = voice = None
    if settings.twilio_configured:
        twilio = TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from,
                           api_base=settings.twilio_api_base, status_callback_url=status_url,
                           webhook_base=settings.webhook_base, voice_from=settings.twilio_voice_from)
        guard = WebhookGuard(settings.twilio_auth_token, settings.webhook_base, outbox, known_phone=known)
    if settings.aliyun_configured and roster.templates is not None:
        from handlers.aliyun_sms import AliyunSms  # the SDKs take a fifth of a second to import: only when used
        from handlers.aliyun_voice import AliyunVoice

        aliyun = AliyunSms(settings.aliyun_access_key_id or "", settings.aliyun_access_key_secret or "",
                           roster.templates.sign_name, endpoint=settings.aliyun_endpoint)
        if roster.templates.voice is not None:
            voice = AliyunVoice(settings.aliyun_access_key_id or "", settings.aliyun_access_key_secret or "",
                                roster.templates.voice.show_number, endpoint=settings.aliyun_endpoint)
        allow = (settings.aliyun_push_allow or "").split(",")
        try:
            aliyun_guard = AliyunPushGuard(settings.aliyun_push_token or "", outbox, known, allow)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    sms = SmsRouter(twilio=twilio, aliyun=aliyun, templates=roster.templates if aliyun else None, voice=voice)
    states = states or IncidentStateView(settings.bootstrap, settings.topics.of(INCIDENT_STATES))
    limits = record_limits(settings.bootstrap, [spec.name for spec in settings.topics.specs()])
    return Dependencies(clock_for(settings.clock), outbox, sms, status_url, guard, ledger, roads, states,
                        settings.bootstrap, limits, aliyun_guard, f"{settings.worker_slot}#{uuid.uuid4().hex[:12]}")
