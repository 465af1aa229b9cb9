"""What the HJ 212 gateway records besides readings: every accepted packet, and its exchanges with stations."""
from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import StringConstraints

from schemas.base import Event, Identifier, Timestamp


class StationPacket(Event):
    """One accepted HJ 212 packet as it came off the wire (the raw archive). Kafka key: mn."""

    type: Literal["station_packet"] = "station_packet"
    mn: Annotated[str, StringConstraints(min_length=1, max_length=24)]
    station_id: Identifier
    cn: Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
    version: Literal["2017", "2005"]
    packet: Annotated[str, StringConstraints(min_length=1, max_length=2048)]  # the whole frame, ## to CRC
    peer: str
    received_at: Timestamp
    drill_id: Identifier | None = None

    @property
    def key(self) -> str:
        return self.mn


class StationExchange(Event):
    """A command ERS sent a station because of an incident, or the station's answer to it; the incident's
    timeline shows them. Kafka key: source_id."""

    type: Literal["station_exchange"] = "station_exchange"
    incident_id: uuid.UUID | None
    source_id: Identifier
    station_id: Identifier
    mn: Annotated[str, StringConstraints(min_length=1, max_length=24)]
    qn: Annotated[str, StringConstraints(pattern=r"^\d{17}$")]
    cn: Annotated[str, StringConstraints(pattern=r"^\d{4}$")]          # the command: 1062, 3012
    step: Literal["sent", "request_answer", "execution_answer", "not_connected", "no_answer"]
    detail: str = ""         # e.g. RtdInterval=60, or the answer's meaning (准备执行请求, 执行成功)
    result: str | None = None  # QnRtn / ExeRtn as the station sent it
    at: Timestamp

    @property
    def key(self) -> str:
        return self.source_id
