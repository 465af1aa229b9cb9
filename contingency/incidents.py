"""The incident book: detections from every station, in order, become incident lifecycle events.

- one open incident per (drill, risk source, rule family); a repeat updates it, a higher rule raises its level;
- a downstream pollution detection within the expected travel time of an open upstream incident is folded into
  that incident (and raises it by `correlation.raise_by`) instead of opening a second one;
- incident ids, codes and event ids are derived from the detection ids, so a replay gives identical events and a
  redelivered detection gives none.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.detections import Detection
from schemas.incidents import (IncidentAcknowledged, IncidentEscalated, IncidentNoted, IncidentOpened,
                               IncidentReportFiled, IncidentResolved, IncidentUpdated, MaterialsProposal, WarningLevel)

from contingency.compiled import CompiledPlan, require_compiled
from contingency.ids import code_candidates, derive
from contingency.plan import Plan
from contingency.recent import RecentIds

IncidentEvent = (IncidentOpened | IncidentUpdated | IncidentAcknowledged | IncidentEscalated | IncidentResolved
                 | IncidentReportFiled | IncidentNoted)
RECENT_DETECTIONS = 4096
_LEVELS = sorted(WarningLevel, key=lambda level: level.rank)


class _BookModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenIncident(_BookModel):
    incident_id: uuid.UUID
    code: str
    source_id: str
    family: str
    drill_id: str | None = None
    level: WarningLevel
    rule_id: str
    opened_at: dt.datetime
    first_observed_at: dt.datetime
    last_observed_at: dt.datetime
    active: tuple[str, ...] = ()   # "station/rule" pairs firing now
    members: tuple[str, ...] = ()  # "source/family" pairs folded in from downstream
    all_clear: bool = False
    acknowledged: bool = False
    materials: MaterialsProposal | None = None  # the latest dispatch proposal (events carry it, see desk.handle)

    def covers(self, drill_id: str | None, source_id: str, family: str) -> bool:
        if drill_id != self.drill_id:
            return False
        return (source_id == self.source_id and family == self.family) or f"{source_id}/{family}" in self.members


class IncidentBook(_BookModel):
    open: dict[str, OpenIncident] = {}
    applied: RecentIds = RecentIds()

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IncidentBook":
        return cls.model_validate(data)

    def find(self, drill_id: str | None, source_id: str, family: str) -> OpenIncident | None:
        for incident in self.open.values():
            if incident.covers(drill_id, source_id, family):
                return incident
        return None

    def by_code(self, code: str) -> OpenIncident | None:
        for incident in self.open.values():
            if incident.code == code.upper():
                return incident
        return None


def on_detection(plan: CompiledPlan, book: IncidentBook, detection: Detection,
                 now: dt.datetime) -> tuple[IncidentBook, list[IncidentEvent]]:
    plan = require_compiled(plan)
    detection_key = str(detection.event_id)
    if detection_key in book.applied:
        return book, []
    incident = book.find(detection.drill_id, detection.source_id, detection.family)
    if detection.status == "cleared":
        updated, events = (incident, []) if incident is None else _clear(incident, detection)
    elif incident is not None:
        updated, events = _repeat(plan, incident, detection)
    else:
        upstream = _upstream_incident(plan, book, detection)
        if upstream is not None:
            updated, events = _fold(plan, upstream, detection)
        else:
            updated, events = _open(plan, book, detection, now)
    open_incidents = dict(book.open)
    if updated is not None:
        open_incidents[str(updated.incident_id)] = updated
    # Built from a valid book and valid incidents: validating thousands of remembered ids again for every
    # detection was a fifth of the desk's time.
    return IncidentBook.model_construct(open=open_incidents,
                                        applied=book.applied.adding(detection_key, RECENT_DETECTIONS)), events


def apply_event(book: IncidentBook, event: IncidentEvent) -> IncidentBook:
    """The book after an incident event decided before: what people did (acknowledge, resolve: a resolved incident
    leaves the book, so the next detection at its source opens a new one), or, replayed from the incidents topic,
    an incident opened or updated. An event the book already reflects changes nothing."""
    key = str(event.incident_id)
    incident = book.open.get(key)
    if isinstance(event, IncidentOpened) and incident is None:
        return book.model_copy(update={"open": {**book.open, key: _replayed(event)}})
    if incident is None:
        return book
    open_incidents = dict(book.open)
    if isinstance(event, IncidentOpened):
        if event.materials is None or event.materials == incident.materials:
            return book
        open_incidents[key] = incident.model_copy(update={"materials": event.materials})
    elif isinstance(event, IncidentUpdated):
        changed = {"level": _max(incident.level, event.level), "all_clear": event.all_clear,
                   "last_observed_at": max(incident.last_observed_at, event.occurred_at)}
        if event.materials is not None:
            changed["materials"] = event.materials
        updated = incident.model_copy(update=changed)
        if updated == incident:
            return book
        open_incidents[key] = updated
    elif isinstance(event, IncidentResolved):
        del open_incidents[key]
    elif isinstance(event, IncidentAcknowledged):
        open_incidents[key] = incident.model_copy(update={"acknowledged": True})
    else:
        return book
    return book.model_copy(update={"open": open_incidents})


def _replayed(event: IncidentOpened) -> OpenIncident:
    active = tuple(dict.fromkeys(f"{e.station_id}/{event.rule_id}" for e in event.evidence))
    return OpenIncident(incident_id=event.incident_id, code=event.code, source_id=event.source_id, family=event.kind,
                        drill_id=event.drill_id, level=event.level, rule_id=event.rule_id, opened_at=event.occurred_at,
                        first_observed_at=event.occurred_at, last_observed_at=event.occurred_at, active=active,
                        materials=event.materials)


def _open(plan: Plan, book: IncidentBook, detection: Detection,
          now: dt.datetime) -> tuple[OpenIncident, list[IncidentEvent]]:
    incident_id = derive("incident", detection.event_id)
    codes_in_use = {incident.code for incident in book.open.values()}
    code = next(candidate for candidate in code_candidates(incident_id) if candidate not in codes_in_use)
    incident = OpenIncident(
        incident_id=incident_id, code=code, source_id=detection.source_id, family=detection.family,
        drill_id=detection.drill_id, level=detection.level, rule_id=detection.rule_id, opened_at=now,
        first_observed_at=detection.observed_at, last_observed_at=detection.observed_at,
        active=(_member(detection),))
    event = IncidentOpened(
        event_id=derive("incident.opened", incident_id), incident_id=incident_id, source_id=detection.source_id,
        occurred_at=detection.observed_at, drill_id=detection.drill_id, code=code, kind=detection.family,
        rule_id=detection.rule_id, level=detection.level, title=detection.title, evidence=detection.evidence,
        caused_by=detection.caused_by)
    return incident, [event]


def _repeat(plan: Plan, incident: OpenIncident, detection: Detection) -> tuple[OpenIncident, list[IncidentEvent]]:
    member = _member(detection)
    level = _max(incident.level, detection.level)
    raised = level.rank > incident.level.rank
    new_rule = member not in incident.active and detection.level.rank >= incident.level.rank
    updated = _touch(incident, detection, level, active=_add(incident.active, member))
    if raised:
        reason = f"level raised by {detection.rule_id}: {detection.title}"
    elif incident.all_clear:
        reason = f"firing again: {detection.title}"
    elif new_rule:
        reason = f"also firing: {detection.title}"
    else:
        return updated, []  # a lower rule joining in, already covered by the incident's level
    return updated, [_update_event(incident, updated, detection, reason)]


def _clear(incident: OpenIncident, detection: Detection) -> tuple[OpenIncident, list[IncidentEvent]]:
    active = tuple(member for member in incident.active if member != _member(detection))
    updated = incident.model_copy(update={"active": active})
    if active or incident.all_clear:
        return updated, []
    updated = updated.model_copy(update={"all_clear": True})
    reason = f"all rules back within limits (last: {detection.rule_id}); awaiting resolution"
    return updated, [_update_event(incident, updated, detection, reason, all_clear=True)]


def _upstream_incident(plan: CompiledPlan, book: IncidentBook, detection: Detection) -> OpenIncident | None:
    policy = plan.correlation
    if detection.family not in policy.families:
        return None
    upstream = plan.index.upstream.get(detection.source_id, {})
    candidates = []
    for incident in book.open.values():
        travel = upstream.get(incident.source_id)
        if travel is None or incident.drill_id != detection.drill_id or incident.family not in policy.families:
            continue
        latest_arrival = incident.last_observed_at + dt.timedelta(minutes=travel * policy.window_factor)
        if incident.first_observed_at <= detection.observed_at <= latest_arrival:
            candidates.append((travel, incident.first_observed_at, str(incident.incident_id), incident))
    return min(candidates, key=lambda c: c[:3])[3] if candidates else None


def _fold(plan: CompiledPlan, incident: OpenIncident, detection: Detection) -> tuple[OpenIncident, list[IncidentEvent]]:
    raised = _LEVELS[min(len(_LEVELS) - 1, incident.level.rank - 1 + plan.correlation.raise_by)]
    level = _max(_max(incident.level, detection.level), raised)
    updated = _touch(incident, detection, level, active=_add(incident.active, _member(detection)),
                     members=_add(incident.members, f"{detection.source_id}/{detection.family}"))
    downstream = plan.sources[detection.source_id].name if detection.source_id in plan.sources else detection.source_id
    travel = plan.index.upstream[detection.source_id][incident.source_id]
    reason = (f"downstream {downstream} within the expected travel time (~{travel:g} min) of this incident: "
              f"{detection.title}")
    return updated, [_update_event(incident, updated, detection, reason)]


def _touch(incident: OpenIncident, detection: Detection, level: WarningLevel, **changes: Any) -> OpenIncident:
    return incident.model_copy(update={
        "level": level, "all_clear": False,
        "last_observed_at": max(incident.last_observed_at, detection.observed_at), **changes})


def _update_event(before: OpenIncident, after: OpenIncident, detection: Detection, reason: str,
                  all_clear: bool = False) -> IncidentUpdated:
    return IncidentUpdated(
        event_id=derive("incident.updated", before.incident_id, detection.event_id),
        incident_id=before.incident_id, source_id=before.source_id, occurred_at=detection.observed_at,
        drill_id=before.drill_id, rule_id=detection.rule_id, level=after.level, previous_level=before.level,
        reason=reason[:500], all_clear=all_clear, evidence=detection.evidence, caused_by=detection.caused_by)


def _member(detection: Detection) -> str:
    return f"{detection.station_id}/{detection.rule_id}"


def _add(members: tuple[str, ...], member: str) -> tuple[str, ...]:
    return members if member in members else members + (member,)


def _max(a: WarningLevel, b: WarningLevel) -> WarningLevel:
    return a if a.rank >= b.rank else b
