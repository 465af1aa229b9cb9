"""Commands from people: acknowledge, resolve or escalate an incident, record one of its reports as filed, or add
a note to it.
Kafka key: source id."""
from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, model_validator

from schemas.base import Event, Identifier, Timestamp
from schemas.incidents import ReportKind


class Command(Event):
    type: Literal["command"] = "command"
    action: Literal["ack", "resolve", "escalate", "report", "note"]
    incident_id: uuid.UUID | None = None
    incident_code: str | None = Field(default=None, min_length=2, max_length=8)
    source_id: Identifier | None = None
    actor: str = Field(min_length=1, max_length=200, description="person id, or the masked phone number")
    channel: Literal["sms", "voice", "console", "cli", "drill"]
    issued_at: Timestamp
    note: str = Field(default="", max_length=500)
    drill_id: Identifier | None = None
    report: ReportKind = Field(default="initial", description="for action report: which report was filed")

    @model_validator(mode="after")
    def _names_an_incident(self) -> "Command":
        if self.incident_id is None and self.incident_code is None:
            raise ValueError("a command names incident_id or incident_code")
        if self.action == "note" and not self.note.strip():
            raise ValueError("a note command needs the note's text")
        return self

    @property
    def key(self) -> str:
        return self.source_id or "unassigned"
