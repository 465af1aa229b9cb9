"""The common envelope of every event, and strict JSON encoding/decoding."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Timestamp = AwareDatetime
# A number as JSON writes one: "1.5" (a string) is refused, not read as 1.5 (what a sender means by it is unknown).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Contract(BaseModel):
    """Base of every shape that crosses a topic. Unknown fields are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


SCHEMA_VERSION = 1  # the newest contract version this code reads


class Event(Contract):
    """A contract that is a message of its own, with a version and a unique id."""

    schema_version: int = Field(1, ge=1, le=SCHEMA_VERSION,
                                description="the contract's version; a newer one than this code reads is refused")
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)


E = TypeVar("E", bound=BaseModel)


class EventDecodeError(ValueError):
    """Raised when bytes on a topic are not a valid event; `reason` is meant for a dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode("utf-8")


def decode(model: type[E] | TypeAdapter[Any], raw: bytes | str | None) -> E:
    """Decode one message value; any failure becomes an EventDecodeError with a readable reason."""
    if raw is None:
        raise EventDecodeError("empty message (no value)")
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(raw)
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise EventDecodeError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        problems.append(f"{where}: {error_message(err)}")
    return "; ".join(problems)


def error_message(err: Any) -> str:
    """Pydantic's message for one error, saying so when a number came as a string (refused on purpose)."""
    if err.get("type") == "float_type" and isinstance(err.get("input"), str):
        return f"{err['msg']}, not a string ({str(err['input'])[:20]!r}: numbers are written without quotes)"
    return err["msg"]
