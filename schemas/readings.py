"""Station readings: what monitoring stations (or an HJ 212 gateway) send."""
from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from schemas.base import Contract, Event, Identifier, Number, Timestamp


class QualityFlag(StrEnum):
    """Data flags of HJ 212-2017: only N (normal) measurements are judged against rules."""

    NORMAL = "N"
    STOPPED = "F"
    MAINTENANCE = "M"
    MANUAL = "S"
    FAULT = "D"
    CALIBRATION = "C"
    OVER_RANGE = "T"
    COMMS_FAULT = "B"


class Measurement(Contract):
    parameter: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    value: Number
    unit: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    flag: QualityFlag = QualityFlag.NORMAL

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


class StationReport(Event):
    """One station's measurements at one time. Kafka key: station_id."""

    type: Literal["station_report"] = "station_report"
    station_id: Identifier
    observed_at: Timestamp
    measurements: list[Measurement] = Field(min_length=1)
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return self.station_id
