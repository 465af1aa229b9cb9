"""The drill report: a pure function from a drill's events to a JSON-able report (issue 6).

`build_report(...)` takes the plan, the log's time axis (`log_start`, optionally the first anomaly per source), the
incident events, notifications and delivery statuses the drill produced, and returns a `DrillReport`. Nothing is
read from a clock, a broker or a file; the same inputs in any order give the same report. `comparable(report)`
drops generated ids, wall-clock fields and the run's own settings, so two runs of one log compare with `==`.

Times on the log's time axis are given twice: `*_at` as an ISO 8601 string in `log_start`'s time zone, and
`*_minute` as minutes since `log_start` (float, rounded to 0.001). Phone numbers are masked here, in the domain
(`contingency.phones.mask`: `+86138****0001`), so the report never holds a full number.

The JSON fields are a contract, documented in README.md ("Drill report"); a test checks that every field is
there. `report_version` changes when a field changes meaning or goes away.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.incidents import (IncidentAcknowledged, IncidentEscalated, IncidentNoted, IncidentOpened,
                               IncidentReportFiled, IncidentResolved, IncidentUpdated, MaterialsProposal, WarningLevel)
from schemas.notifications import DeliveryStatus, Notification

from contingency.obligations import start_clock, tightened
from contingency.phones import mask
from contingency.plan import Plan

REPORT_VERSION = 1
DEFAULT_WINDOW_MINUTES = 120.0
# generated ids, wall-clock fields, and the run's own settings (its id, its speed): not results of the log
DROPPED_BY_COMPARABLE = frozenset({"incident_id", "notification_id", "started_wall", "finished_wall",
                                   "wall_seconds", "status_at", "drill_id", "speed"})

_EVENT_ORDER = {"incident.opened": 0, "incident.updated": 1, "incident.escalated": 2,
                "incident.acknowledged": 3, "incident.report_filed": 4, "incident.noted": 4,
                "incident.resolved": 5}
_STATUS_ORDER = {"queued": 0, "deferred": 1, "sending": 1, "sent": 2, "received": 3, "undelivered": 4, "failed": 5,
                 "superseded": 5, "delivered": 6}
_FAILED = ("failed", "undelivered")

AnyIncidentEvent = (IncidentOpened | IncidentUpdated | IncidentAcknowledged | IncidentEscalated | IncidentResolved
                    | IncidentReportFiled | IncidentNoted)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelStep(_Model):
    at: str
    minute: float
    level: str
    rule_id: str
    reason: str = ""


class EscalationStep(_Model):
    tier: int
    at: str
    minute: float
    level: str
    roles: list[str]
    reason: str


class NotificationRow(_Model):
    notification_id: str
    person_id: str
    to: str
    body: str
    created_at: str
    created_minute: float
    status: str | None = None
    error_code: int | None = None
    status_at: str | None = None


class AllocationRow(_Model):
    item_id: str
    item_name: str
    depot_id: str
    depot_name: str
    quantity: float
    unit: str
    arrival_minutes: float
    in_window: bool


class MaterialsRow(_Model):
    line: str
    window_minutes: float
    last_arrival_minutes: float | None
    all_in_window: bool
    missing: dict[str, float]
    allocations: list[AllocationRow]


class IncidentReport(_Model):
    incident_id: str
    code: str
    source_id: str
    source_name: str
    rule_id: str
    kind: str
    title: str
    level: str
    level_name: str
    levels: list[LevelStep]
    first_anomaly_at: str | None
    first_anomaly_minute: float | None
    opened_at: str
    opened_minute: float
    acknowledged_at: str | None
    acknowledged_minute: float | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_minute: float | None
    resolved_by: str | None
    escalations: list[EscalationStep]
    notifications: list[NotificationRow]
    materials: MaterialsRow | None
    time_to_detect_minutes: float | None
    time_to_first_sms_minutes: float | None
    time_to_acknowledge_minutes: float | None
    # the initial report it owed (突发环境事件信息报告办法): the procedure, the deadline and when it was filed
    report_procedure: str | None = None
    report_due_at: str | None = None
    report_due_minute: float | None = None
    report_filed_at: str | None = None
    report_filed_by: str | None = None
    report_on_time: bool | None = None
    follow_up_minutes: list[float] = []          # when each follow-up report (续报) was recorded
    final_report_filed_at: str | None = None     # the final report (处理结果报告)
    final_report_filed_by: str | None = None


class Summary(_Model):
    incidents: int
    by_level: dict[str, int]
    time_to_detect_minutes: float | None
    time_to_first_sms_minutes: float | None
    time_to_acknowledge_minutes: float | None
    unacknowledged: int
    escalations: int
    notifications_sent: int
    notifications_delivered: int
    notifications_failed: int
    notifications_pending: int
    reports_on_time: int = 0
    reports_late: int = 0
    reports_not_filed: int = 0
    follow_up_reports: int = 0
    final_reports_filed: int = 0


class SkippedLine(_Model):
    line: int
    reason: str


class DrillReport(_Model):
    report_version: int = REPORT_VERSION
    drill_id: str
    plan_id: str
    plan_version: str
    speed: str
    partial: bool
    log_start: str
    window_minutes: float
    started_wall: str
    finished_wall: str
    wall_seconds: float
    summary: Summary
    incidents: list[IncidentReport]
    unlinked_notifications: list[NotificationRow]
    skipped_lines: list[SkippedLine] = []

    def to_json(self, indent: int | None = 2) -> str:
        """UTF-8 JSON text (Chinese kept as is)."""
        return self.model_dump_json(indent=indent)


def comparable(report: DrillReport) -> dict[str, Any]:
    """The report as a dict without generated ids and wall-clock fields: equal for two runs of one log."""
    return _drop(report.model_dump(mode="json"))


def _drop(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop(v) for k, v in value.items() if k not in DROPPED_BY_COMPARABLE}
    if isinstance(value, list):
        return [_drop(v) for v in value]
    return value


def build_report(plan: Plan, drill_id: str, log_start: dt.datetime,
                 first_anomaly_at: Mapping[str, dt.datetime] | None,
                 incident_events: Iterable[AnyIncidentEvent], notifications: Iterable[Notification],
                 statuses: Iterable[DeliveryStatus], *, speed: str, started_wall: dt.datetime,
                 finished_wall: dt.datetime, partial: bool = False,
                 opened_at: Mapping[uuid.UUID, dt.datetime] | None = None,
                 skipped: Iterable[tuple[int, str]] = ()) -> DrillReport:
    """Pure: the report of one drill run. Input order does not matter; duplicates (same event id) count once.

    `log_start`, `first_anomaly_at` and every incident event's `occurred_at` and notification's `created_at`
    must be on the log's (virtual) time axis; `started_wall`/`finished_wall` and receipts' `at` are wall clock.
    Incident events without an `incident.opened` (e.g. the run began mid-incident) are ignored.
    `opened_at`: per incident id, when ERS opened it (the incident.opened record's time on the log's axis); where
    missing, the time of the data that opened it (`occurred_at`), which makes time to detect 0 for the first one.
    """
    if log_start.tzinfo is None:
        raise ValueError("log_start must be time-zone aware")
    axis = _Axis(log_start)
    anomalies = dict(first_anomaly_at or {})
    window = _window(plan)

    events = sorted({e.event_id: e for e in incident_events}.values(),
                    key=lambda e: (e.occurred_at, _EVENT_ORDER[e.type], str(e.event_id)))
    by_incident: dict[uuid.UUID, list[AnyIncidentEvent]] = {}
    for event in events:
        by_incident.setdefault(event.incident_id, []).append(event)

    unique_notes = sorted({n.notification_id: n for n in notifications}.values(),
                          key=lambda n: (n.created_at, n.person_id, n.body, str(n.notification_id)))
    last_status = _last_statuses(statuses)
    rows = {n.notification_id: _note_row(n, last_status.get(n.notification_id), axis) for n in unique_notes}

    opened = dict(opened_at or {})
    incidents = [_incident(plan, evs, unique_notes, rows, anomalies, axis, opened.get(evs[0].incident_id))
                 for evs in by_incident.values() if isinstance(evs[0], IncidentOpened)]
    incidents.sort(key=lambda i: (i.opened_minute, i.source_id, i.rule_id, i.code, i.incident_id))
    linked = {str(i) for i in by_incident}
    unlinked = [rows[n.notification_id] for n in unique_notes
                if not any(str(i) in linked for i in n.incident_ids)]

    statuses_final = [r.status for r in rows.values()]
    summary = Summary(
        incidents=len(incidents),
        by_level={level.value: sum(1 for i in incidents if i.level == level.value) for level in WarningLevel},
        time_to_detect_minutes=_worst(i.time_to_detect_minutes for i in incidents),
        time_to_first_sms_minutes=_worst(i.time_to_first_sms_minutes for i in incidents),
        time_to_acknowledge_minutes=_worst(i.time_to_acknowledge_minutes for i in incidents),
        unacknowledged=sum(1 for i in incidents if i.acknowledged_at is None),
        escalations=sum(len(i.escalations) for i in incidents),
        notifications_sent=len(rows),
        notifications_delivered=sum(1 for s in statuses_final if s == "delivered"),
        notifications_failed=sum(1 for s in statuses_final if s in _FAILED),
        notifications_pending=sum(1 for s in statuses_final if s not in _FAILED and s != "delivered"),
        reports_on_time=sum(1 for i in incidents if i.report_on_time is True),
        reports_late=sum(1 for i in incidents if i.report_on_time is False),
        reports_not_filed=sum(1 for i in incidents if i.report_due_at is not None and i.report_filed_at is None),
        follow_up_reports=sum(len(i.follow_up_minutes) for i in incidents),
        final_reports_filed=sum(1 for i in incidents if i.final_report_filed_at is not None),
    )
    return DrillReport(
        drill_id=drill_id, plan_id=plan.id, plan_version=plan.version, speed=speed, partial=partial,
        log_start=log_start.isoformat(), window_minutes=window, started_wall=started_wall.isoformat(),
        finished_wall=finished_wall.isoformat(),
        wall_seconds=round((finished_wall - started_wall).total_seconds(), 3),
        summary=summary, incidents=incidents, unlinked_notifications=unlinked,
        skipped_lines=[SkippedLine(line=line, reason=reason) for line, reason in sorted(skipped)])


class _Axis:
    def __init__(self, start: dt.datetime) -> None:
        self.start = start

    def iso(self, at: dt.datetime) -> str:
        return at.astimezone(self.start.tzinfo).isoformat()

    def minute(self, at: dt.datetime) -> float:
        return round((at - self.start).total_seconds() / 60, 3)


def _window(plan: Plan, source_id: str | None = None) -> float:
    """The emergency circle: the smallest `within_minutes` of the material requirements (of the source, when
    given and it has any), else 120."""
    requirements = plan.materials
    if source_id is not None and source_id in plan.sources:
        requirements = plan.materials_for(source_id) or plan.materials
    windows = [m.within_minutes for m in requirements if m.within_minutes is not None]
    return float(min(windows)) if windows else DEFAULT_WINDOW_MINUTES


def _last_statuses(statuses: Iterable[DeliveryStatus]) -> dict[uuid.UUID, DeliveryStatus]:
    last: dict[uuid.UUID, DeliveryStatus] = {}
    for status in sorted({s.event_id: s for s in statuses}.values(),
                         key=lambda s: (s.at, _STATUS_ORDER[s.status], str(s.event_id))):
        last[status.notification_id] = status
    return last


def _note_row(note: Notification, status: DeliveryStatus | None, axis: _Axis) -> NotificationRow:
    return NotificationRow(
        notification_id=str(note.notification_id), person_id=note.person_id, to=mask(note.to), body=note.body,
        created_at=axis.iso(note.created_at), created_minute=axis.minute(note.created_at),
        status=status.status if status else None, error_code=status.error_code if status else None,
        status_at=status.at.isoformat() if status else None)


def _roles(plan: Plan, level: WarningLevel, tier: int) -> list[str]:
    chain = plan.escalation.get(level)
    if chain is None or not 1 <= tier <= len(chain.tiers):
        return []
    return list(chain.tiers[tier - 1].roles)


def _materials(plan: Plan, proposal: MaterialsProposal, window: float) -> MaterialsRow:
    allocations = [AllocationRow(
        item_id=a.item_id, item_name=plan.items[a.item_id].name if a.item_id in plan.items else a.item_id,
        depot_id=a.depot_id, depot_name=plan.depots[a.depot_id].name if a.depot_id in plan.depots else a.depot_id,
        quantity=a.quantity, unit=a.unit, arrival_minutes=a.arrival_minutes,
        in_window=a.arrival_minutes <= window) for a in proposal.allocations]
    return MaterialsRow(line=proposal.line, window_minutes=window, last_arrival_minutes=proposal.last_arrival_minutes,
                        all_in_window=all(a.in_window for a in allocations) and not proposal.missing,
                        missing=dict(sorted(proposal.missing.items())), allocations=allocations)


def _incident(plan: Plan, events: list[AnyIncidentEvent], notes: list[Notification],
              rows: dict[uuid.UUID, NotificationRow], anomalies: Mapping[str, dt.datetime],
              axis: _Axis, opened_at: dt.datetime | None) -> IncidentReport:
    opened = events[0]
    assert isinstance(opened, IncidentOpened)
    opened_at = opened_at or opened.occurred_at
    window = _window(plan, opened.source_id)
    level = opened.level
    levels = [LevelStep(at=axis.iso(opened_at), minute=axis.minute(opened_at), level=level.value,
                        rule_id=opened.rule_id, reason=opened.title)]
    proposal = opened.materials
    escalations: list[EscalationStep] = []
    acknowledged: IncidentAcknowledged | None = None
    resolved: IncidentResolved | None = None
    filed: IncidentReportFiled | None = None
    final: IncidentReportFiled | None = None
    follow_ups: list[float] = []
    parameters = {e.parameter for e in opened.evidence}
    clock = start_clock(plan, opened.source_id, level, parameters, opened_at,  # type: ignore[arg-type]
                        opened.rule_id)
    for event in events[1:]:
        if isinstance(event, IncidentUpdated):
            if event.level.rank > level.rank:
                clock = tightened(clock, plan, opened.source_id, event.level,  # type: ignore[arg-type]
                                  parameters | {e.parameter for e in event.evidence}, event.occurred_at,
                                  event.rule_id)
            level = event.level
            levels.append(LevelStep(at=axis.iso(event.occurred_at), minute=axis.minute(event.occurred_at),
                                    level=level.value, rule_id=event.rule_id, reason=event.reason))
            proposal = event.materials or proposal
        elif isinstance(event, IncidentEscalated):
            escalations.append(EscalationStep(tier=event.tier, at=axis.iso(event.occurred_at),
                                              minute=axis.minute(event.occurred_at), level=level.value,
                                              roles=_roles(plan, level, event.tier), reason=event.reason))
        elif isinstance(event, IncidentAcknowledged) and acknowledged is None:
            acknowledged = event
        elif isinstance(event, IncidentResolved) and resolved is None:
            resolved = event
        elif isinstance(event, IncidentReportFiled) and event.report == "initial" and filed is None:
            filed = event
        elif isinstance(event, IncidentReportFiled) and event.report == "follow_up":
            follow_ups.append(axis.minute(event.occurred_at))
        elif isinstance(event, IncidentReportFiled) and event.report == "final" and final is None:
            final = event
    due = filed.due_at if filed is not None else clock.due_at if clock is not None else None

    mine = [rows[n.notification_id] for n in notes if opened.incident_id in n.incident_ids]
    opened_minute = axis.minute(opened_at)
    anomaly = anomalies.get(opened.source_id) or opened.occurred_at
    source = plan.sources.get(opened.source_id)
    policy = plan.levels.get(level)
    return IncidentReport(
        incident_id=str(opened.incident_id), code=opened.code, source_id=opened.source_id,
        source_name=source.name if source else "", rule_id=opened.rule_id, kind=opened.kind, title=opened.title,
        level=level.value, level_name=policy.name if policy else level.value, levels=levels,
        first_anomaly_at=axis.iso(anomaly) if anomaly else None,
        first_anomaly_minute=axis.minute(anomaly) if anomaly else None,
        opened_at=axis.iso(opened_at), opened_minute=opened_minute,
        acknowledged_at=axis.iso(acknowledged.occurred_at) if acknowledged else None,
        acknowledged_minute=axis.minute(acknowledged.occurred_at) if acknowledged else None,
        acknowledged_by=acknowledged.actor if acknowledged else None,
        resolved_at=axis.iso(resolved.occurred_at) if resolved else None,
        resolved_minute=axis.minute(resolved.occurred_at) if resolved else None,
        resolved_by=resolved.actor if resolved else None,
        escalations=escalations, notifications=mine,
        materials=_materials(plan, proposal, window) if proposal else None,
        time_to_detect_minutes=_diff(opened_minute, axis.minute(anomaly) if anomaly else None),
        time_to_first_sms_minutes=_diff(mine[0].created_minute, opened_minute) if mine else None,
        time_to_acknowledge_minutes=_diff(axis.minute(acknowledged.occurred_at), opened_minute)
        if acknowledged else None,
        report_procedure=clock.procedure if clock is not None else None,
        report_due_at=axis.iso(due) if due is not None else None,
        report_due_minute=axis.minute(due) if due is not None else None,
        report_filed_at=axis.iso(filed.occurred_at) if filed is not None else None,
        report_filed_by=filed.actor if filed is not None else None,
        report_on_time=filed.on_time if filed is not None else None,
        follow_up_minutes=follow_ups,
        final_report_filed_at=axis.iso(final.occurred_at) if final is not None else None,
        final_report_filed_by=final.actor if final is not None else None)


def _diff(later: float, earlier: float | None) -> float | None:
    return None if earlier is None else round(later - earlier, 3)


def _worst(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
