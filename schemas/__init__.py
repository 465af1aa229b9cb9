"""Event contracts: the only shapes that cross a Kafka topic.

Every event carries `type`, `schema_version`, a UUID `event_id` and timezone-aware times.
"""
from schemas.base import Event, EventDecodeError, decode, encode
from schemas.commands import Command
from schemas.dead_letter import DeadLetter
from schemas.detections import Detection
from schemas.incidents import (
    Evidence,
    IncidentAcknowledged,
    IncidentEscalated,
    IncidentEvent,
    IncidentOpened,
    IncidentNoted,
    IncidentReportFiled,
    IncidentResolved,
    IncidentUpdated,
    MaterialsAllocation,
    MaterialsProposal,
    WarningLevel,
    incident_event_adapter,
)
from schemas.inventory import InventoryMovement
from schemas.notifications import DeliveryStatus, Notification
from schemas.readings import Measurement, QualityFlag, StationReport
from schemas.reports import GeoPoint, IncidentReport
from schemas.stations import StationExchange, StationPacket
from schemas.ticks import ClockTick, StationTick

__all__ = [
    "ClockTick",
    "Command",
    "DeadLetter",
    "DeliveryStatus",
    "Detection",
    "Evidence",
    "Event",
    "EventDecodeError",
    "GeoPoint",
    "IncidentAcknowledged",
    "IncidentEscalated",
    "IncidentEvent",
    "IncidentOpened",
    "IncidentReport",
    "IncidentNoted",
    "IncidentReportFiled",
    "IncidentResolved",
    "IncidentUpdated",
    "InventoryMovement",
    "MaterialsAllocation",
    "MaterialsProposal",
    "Measurement",
    "Notification",
    "QualityFlag",
    "StationExchange",
    "StationPacket",
    "StationReport",
    "StationTick",
    "WarningLevel",
    "decode",
    "incident_event_adapter",
    "encode",
]
