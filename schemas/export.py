"""JSON Schema per event and an AsyncAPI document of the topics: the published contracts."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from schemas.commands import Command
from schemas.dead_letter import DeadLetter
from schemas.detections import Detection
from schemas.incidents import (
    IncidentAcknowledged,
    IncidentEscalated,
    IncidentOpened,
    IncidentResolved,
    IncidentUpdated,
)
from schemas.inventory import InventoryMovement
from schemas.notifications import DeliveryStatus, Notification
from schemas.readings import StationReport
from schemas.reports import IncidentReport
from schemas.ticks import ClockTick, StationTick

INCIDENT_EVENTS: list[type[BaseModel]] = [
    IncidentOpened, IncidentUpdated, IncidentAcknowledged, IncidentEscalated, IncidentResolved,
]

# topic suffix -> (events on it, key, description)
CHANNELS: dict[str, tuple[list[type[BaseModel]], str, str]] = {
    "readings": ([StationReport], "station_id", "Measurements from monitoring stations"),
    "ticks": ([StationTick], "station_id", "Clock ticks for time-driven rules (internal)"),
    "clock": ([ClockTick], "'clock'", "County-wide clock ticks for escalation timers (internal)"),
    "reports": ([IncidentReport], "source_id or 'unassigned'", "Field and public incident reports"),
    "detections": ([Detection], "source_id", "Rule firings, from the rules agent to the incident agent"),
    "incidents": (INCIDENT_EVENTS, "source_id", "Incident lifecycle events"),
    "commands": ([Command], "source_id", "Acknowledge / resolve / escalate commands from people"),
    "notifications": ([Notification], "person_id", "Outbox of SMS to send"),
    "delivery": ([DeliveryStatus], "notification_id", "Delivery receipts (sent/failed by the dispatcher, delivered/undelivered from Twilio)"),
    "inventory": ([InventoryMovement], "depot_id", "Emergency-material ledger movements"),
    "dlq": ([DeadLetter], "original key", "Messages an agent could not process, with the reason"),
}


def all_events() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for events, _, _ in CHANNELS.values():
        for model in events:
            seen[model.__name__] = model
    return list(seen.values())


def export(directory: Path, prefix: str = "ers.") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in all_events():
        path = directory / f"{model.__name__}.schema.json"
        schema = TypeAdapter(model).json_schema(mode="serialization")
        schema["$id"] = path.name
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    path = directory / "asyncapi.json"
    path.write_text(json.dumps(asyncapi(prefix), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written


def asyncapi(prefix: str) -> dict:
    channels = {}
    for suffix, (events, key, description) in CHANNELS.items():
        messages = [{"name": m.__name__, "payload": {"$ref": f"{m.__name__}.schema.json"}} for m in events]
        channels[prefix + suffix] = {
            "description": f"{description}. Kafka key: {key}.",
            "subscribe": {"message": messages[0] if len(messages) == 1 else {"oneOf": messages}},
        }
    return {
        "asyncapi": "2.6.0",
        "info": {"title": "ERS events", "version": "1"},
        "defaultContentType": "application/json",
        "channels": channels,
    }
