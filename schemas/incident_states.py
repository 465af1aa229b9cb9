"""The incident read model: each incident as it stands after the incident desk's latest change to it.

The desk publishes one IncidentState per change on a compacted topic keyed by incident id, so the topic keeps
every incident's latest state. Any worker, web process or command reads it; none needs the desk's own table.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from schemas.base import Contract, Event, Identifier, Timestamp
from schemas.incidents import MaterialsProposal, WarningLevel

Stage = Literal["suppressed", "paging", "acknowledged", "exhausted", "resolved"]
OPEN_STAGES: frozenset[str] = frozenset({"suppressed", "paging", "acknowledged", "exhausted"})


class IncidentFacts(Contract):
    """What SMS and consoles say about an incident: its code, level, place and what was measured."""

    incident_id: uuid.UUID
    code: str
    level: WarningLevel
    source_id: str
    place: str
    title: str = ""
    drill_id: str | None = None
    parameter_id: str = ""
    parameter: str = ""
    value: float | None = None
    unit: str = ""
    limit: str = ""
    observed_at: dt.datetime
    materials: str = ""  # the dispatch proposal's one line, once the incident has one


class IncidentState(Event):
    type: Literal["incident.state"] = "incident.state"
    incident_id: uuid.UUID
    code: str
    source_id: Identifier
    drill_id: Identifier | None = None
    kind: str = Field(description="rule family, e.g. threshold, station_silence")
    rule_id: Identifier
    level: WarningLevel
    stage: Stage = Field(description="suppressed (a station in maintenance), paging (the chain is calling), "
                                     "acknowledged, exhausted (the chain ended unacknowledged), resolved")
    firing: bool = Field(default=True, description="false once every rule is back within limits")
    facts: IncidentFacts
    opened_at: Timestamp
    changed_at: Timestamp = Field(description="when the desk made this change (its input's time)")
    cause: uuid.UUID | None = Field(default=None, description="event id of the input that made the change: a "
                                                             "detection, a command, a receipt, a clock tick")
    tier: int | None = Field(default=None, ge=1, description="the chain's tier calling now (1-based)")
    next_escalation_at: Timestamp | None = None
    stations: list[str] = Field(default_factory=list, description="the stations its evidence names (a silent or "
                                                                  "stuck one), else its source's")
    paged: list[str] = Field(default_factory=list, description="asked to acknowledge (person or drill phone ids)")
    notified: list[str] = Field(default_factory=list, description="told about it")
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    resolved_at: Timestamp | None = None
    materials: MaterialsProposal | None = None
    report_due_at: Timestamp | None = Field(default=None, description="when the initial report (初报) is due")
    report_to: list[str] = Field(default_factory=list, description="roles (bodies) it goes to")
    report_filed_at: Timestamp | None = None
    report_filed_by: str | None = None
    follow_ups: list[Timestamp] = Field(default_factory=list, description="when each follow-up report (续报) was "
                                                                            "filed")
    final_report_due_at: Timestamp | None = Field(default=None, description="when the final report (处理结果报告) "
                                                                           "is due, if the plan sets a deadline")
    final_report_filed_at: Timestamp | None = None
    final_report_filed_by: str | None = None
    reports_owed: bool = Field(default=False, description="a report it owes is not filed yet (after its resolution "
                                                          "too: the final report)")

    @property
    def key(self) -> str:
        return str(self.incident_id)

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES
