"""Emergency-material ledger movements. Kafka key: depot id."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from schemas.base import Event, Identifier, Number, Timestamp

MovementKind = Literal["receipt", "dispatch", "consumption", "return", "transfer", "expiry_write_off", "adjustment"]


class InventoryMovement(Event):
    type: Literal["inventory_movement"] = "inventory_movement"
    kind: MovementKind
    depot_id: Identifier
    item_id: Identifier
    quantity: Number = Field(description="positive, except adjustments which may be negative")
    unit: str = Field(min_length=1, max_length=16)
    lot_id: Identifier | None = None
    expires_on: dt.date | None = None
    to_depot_id: Identifier | None = None
    reason: str = Field(default="", max_length=500)
    actor: str = Field(default="", max_length=200)
    incident_id: str | None = None
    occurred_at: Timestamp
    drill_id: Identifier | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "InventoryMovement":
        if self.kind != "adjustment" and self.quantity <= 0:
            raise ValueError(f"quantity of a {self.kind} must be positive")
        if self.kind == "adjustment" and not self.reason:
            raise ValueError("an adjustment needs a reason")
        if (self.kind == "transfer") != (self.to_depot_id is not None):
            raise ValueError("to_depot_id is required for a transfer and only for a transfer")
        return self

    @property
    def key(self) -> str:
        return self.depot_id
