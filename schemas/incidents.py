"""Incident lifecycle events on the incidents topic. Kafka key: risk-source id."""
from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal, Union

from pydantic import Field, TypeAdapter

from schemas.base import Contract, Event, Identifier, Timestamp


class WarningLevel(StrEnum):
    """Early-warning colours of the national plan, lowest to highest."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {WarningLevel.BLUE: 1, WarningLevel.YELLOW: 2, WarningLevel.ORANGE: 3, WarningLevel.RED: 4}


class _IncidentEvent(Event):
    incident_id: uuid.UUID
    source_id: Identifier
    occurred_at: Timestamp
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return self.source_id


class Evidence(Contract):
    """What made a rule fire: one measurement against its limit."""

    station_id: Identifier
    parameter: str = Field(description="parameter id as the plan names it, e.g. ammonia_nitrogen")
    parameter_name: str = Field(default="", description="display name from the plan, e.g. 氨氮")
    value: float
    unit: str
    limit: str = Field(description="the limit as the plan states it, e.g. '<= 1.0 (GB 3838-2002 III)'")
    observed_at: Timestamp


class MaterialsAllocation(Contract):
    item_id: Identifier
    depot_id: Identifier
    quantity: float = Field(gt=0)
    unit: str
    arrival_minutes: float = Field(ge=0, description="mobilisation plus travel to the source")
    in_window: bool = Field(description="arrives within the plan's window (the 2-hour circle)")


class MaterialsProposal(Contract):
    """Which depots send how much of each required item, earliest arrival first."""

    line: str = Field(description="one line for the alert SMS, e.g. 物资: 活性炭2t 伊尔施库 35分钟")
    allocations: list[MaterialsAllocation] = Field(default_factory=list)
    missing: dict[str, float] = Field(default_factory=dict, description="item -> quantity no depot can supply")
    last_arrival_minutes: float | None = None


class IncidentOpened(_IncidentEvent):
    type: Literal["incident.opened"] = "incident.opened"
    code: Annotated[str, Field(min_length=2, max_length=8)]
    kind: str = Field(description="rule family, e.g. threshold, station_silence")
    rule_id: Identifier
    level: WarningLevel
    title: str
    evidence: list[Evidence] = Field(default_factory=list)
    caused_by: uuid.UUID | None = Field(default=None, description="event id of the report that opened it")
    materials: MaterialsProposal | None = Field(default=None, description="dispatch proposal, from the plan's level")


class IncidentUpdated(_IncidentEvent):
    type: Literal["incident.updated"] = "incident.updated"
    rule_id: Identifier
    level: WarningLevel
    previous_level: WarningLevel
    reason: str
    all_clear: bool = Field(default=False, description="every rule of the incident is back within limits; the "
                                                       "incident stays open until someone resolves it")
    evidence: list[Evidence] = Field(default_factory=list)
    caused_by: uuid.UUID | None = None
    materials: MaterialsProposal | None = Field(default=None, description="set when the level reaches the plan's "
                                                                         "proposal level")


class IncidentAcknowledged(_IncidentEvent):
    type: Literal["incident.acknowledged"] = "incident.acknowledged"
    actor: str
    command_id: uuid.UUID | None = None


class IncidentEscalated(_IncidentEvent):
    type: Literal["incident.escalated"] = "incident.escalated"
    tier: int = Field(ge=1)
    reason: str


class IncidentResolved(_IncidentEvent):
    type: Literal["incident.resolved"] = "incident.resolved"
    actor: str
    reason: str = ""
    command_id: uuid.UUID | None = None


ReportKind = Literal["initial", "follow_up", "final"]  # 初报, 续报, 处理结果报告 (信息报告办法 第十二条)


class IncidentReportFiled(_IncidentEvent):
    """A report an incident owed was filed with the bodies the plan names (突发环境事件信息报告办法), recorded by the
    person who filed it: the initial report ("5 CODE"), a follow-up ("6 CODE"), the final report ("7 CODE")."""

    type: Literal["incident.report_filed"] = "incident.report_filed"
    actor: str
    report: ReportKind = "initial"
    sequence: int = Field(default=1, ge=1, description="which follow-up (1 for the others)")
    due_at: Timestamp | None = Field(default=None, description="its deadline; none for a follow-up, nor for a final "
                                                               "report when the plan sets none")
    command_id: uuid.UUID | None = None

    @property
    def on_time(self) -> bool:
        return self.due_at is None or self.occurred_at <= self.due_at


class IncidentNoted(_IncidentEvent):
    """A note a person added to an incident's record from the console (备注): what they saw, did or were told. It
    changes no state; it is in the incident's history for the report and the review."""

    type: Literal["incident.noted"] = "incident.noted"
    actor: str
    note: str = Field(min_length=1, max_length=500)
    command_id: uuid.UUID | None = None


IncidentEvent = Annotated[
    Union[IncidentOpened, IncidentUpdated, IncidentAcknowledged, IncidentEscalated, IncidentResolved,
          IncidentReportFiled, IncidentNoted],
    Field(discriminator="type"),
]
incident_event_adapter: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)
