"""What the rule engine concludes from readings: a rule firing (or clearing) at a source.

Detections flow from the per-station rules agent to the incident agent, which turns them into
incident lifecycle events (open, raise level, fold downstream). Kafka key: risk-source id.
"""
from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from schemas.base import Event, Identifier, Timestamp
from schemas.incidents import Evidence, WarningLevel


class Detection(Event):
    type: Literal["detection"] = "detection"
    status: Literal["firing", "cleared"] = "firing"
    source_id: Identifier
    station_id: Identifier
    rule_id: Identifier
    family: str = Field(description="rule family used for deduplication: threshold, sustained, rate_of_change, "
                                    "station_silence, flatline, report")
    level: WarningLevel
    title: str
    evidence: list[Evidence] = Field(default_factory=list)
    observed_at: Timestamp
    caused_by: uuid.UUID | None = Field(default=None, description="event id of the report behind it")
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return self.source_id
