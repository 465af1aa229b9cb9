"""Field and public incident reports (hotline, patrol, a phone call)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.base import Contract, Event, Identifier, Number, Timestamp


class GeoPoint(Contract):
    lat: Number = Field(ge=-90, le=90)
    lon: Number = Field(ge=-180, le=180)


class IncidentReport(Event):
    """A report of something seen. Kafka key: source_id when the reporter could name one, else "unassigned"."""

    type: Literal["incident_report"] = "incident_report"
    reported_at: Timestamp
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    location: GeoPoint
    place_name: Annotated[str, StringConstraints(max_length=200)] = ""
    source_id: Identifier | None = None
    reporter: Annotated[str, StringConstraints(max_length=200)] = ""
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return self.source_id or "unassigned"
