"""An incident's timeline (issue 16 item 3): what happened to it, in order, from its events and the messages about
it — detections with their evidence and limits, level changes, folded downstream detections, pages with their
delivery state, escalations, acknowledgements, reports filed, the materials proposal, the resolution. Pure: the
caller gathers the events and messages (handlers/incident_timeline.py) and passes names and the time zone."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from schemas.incidents import (Evidence, IncidentAcknowledged, IncidentEscalated, IncidentOpened,
                               IncidentReportFiled, IncidentResolved, IncidentUpdated)
from schemas.notifications import DeliveryStatus, Notification

from contingency.incidents import IncidentEvent

_WORDS = {
    "zh-CN": {"opened": "开始预警", "raised": "升级为", "updated": "更新", "clear": "监测值回落, 待解除",
              "escalated": "升级呼叫第{tier}级", "acked": "{who}确认", "resolved": "{who}解除", "sms": "短信",
              "voice": "电话", "to": "发给", "initial": "初报", "follow_up": "续报", "final": "处理结果报告",
              "filed": "{who}登记{what}报送", "materials": "物资调度建议", "status": {
                  "queued": "排队", "sending": "发送中", "sent": "已发出", "delivered": "已送达", "undelivered": "未送达",
                  "failed": "失败", "received": "已收到", "deferred": "等待服务商", "superseded": "已作废"}},
    "en": {"opened": "opened", "raised": "raised to", "updated": "updated", "clear": "back within limits, awaiting "
           "resolution", "escalated": "escalated to tier {tier}", "acked": "acknowledged by {who}",
           "resolved": "resolved by {who}", "sms": "SMS", "voice": "call", "to": "to", "initial": "initial report",
           "follow_up": "follow-up report", "final": "final report", "filed": "{who} filed the {what}",
           "materials": "materials proposal", "status": {}},
}


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    kind: str          # opened, updated, escalated, acknowledged, resolved, report, page, materials
    text: str
    level: str | None = None
    detail: str = ""   # evidence, a message's body, a delivery state


def timeline(events: Iterable[IncidentEvent], messages: Iterable[Notification],
             last_status: Mapping[str, DeliveryStatus], name: Callable[[str], str], levels: Mapping[str, str],
             language: str = "zh-CN") -> list[Entry]:
    """Entries in time order (events before messages made at the same moment). `last_status`: each notification's
    latest delivery receipt by notification id; `levels`: level -> the plan's name of it (蓝色预警)."""
    w = _WORDS["en" if language == "en" else "zh-CN"]
    entries: list[tuple[dt.datetime, int, Entry]] = []
    for event in events:
        entry = _of_event(event, w, name, levels)
        if entry is not None:
            entries.append((entry.at, 0, entry))
        materials = getattr(event, "materials", None)
        if materials is not None:
            entries.append((event.occurred_at, 0, Entry(event.occurred_at, "materials", w["materials"],
                                                        detail=materials.line)))
    for message in messages:
        status = last_status.get(str(message.notification_id))
        state = w["status"].get(status.status, status.status) if status is not None else ""  # type: ignore[union-attr]
        channel = w["voice"] if message.channel == "voice" else w["sms"]
        entries.append((message.created_at, 1, Entry(message.created_at, "page", f"{channel} {w['to']} "
                                                     f"{name(message.person_id)}", detail=message.body
                                                     + (f" [{state}]" if state else ""))))
    return [entry for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1]))]


def _of_event(event: IncidentEvent, w: Mapping, name: Callable[[str], str], levels: Mapping[str, str]
              ) -> Entry | None:
    if isinstance(event, IncidentOpened):
        return Entry(event.occurred_at, "opened", f"{w['opened']}: {event.title}", event.level.value,
                     _evidence(event.evidence))
    if isinstance(event, IncidentUpdated):
        if event.all_clear:
            return Entry(event.occurred_at, "updated", w["clear"], event.level.value, event.reason)
        raised = event.level.rank > event.previous_level.rank
        text = f"{w['raised']}{levels.get(event.level.value, event.level.value)}" if raised else w["updated"]
        return Entry(event.occurred_at, "updated", text, event.level.value,
                     "; ".join(filter(None, [event.reason, _evidence(event.evidence)])))
    if isinstance(event, IncidentEscalated):
        return Entry(event.occurred_at, "escalated", w["escalated"].format(tier=event.tier), detail=event.reason)
    if isinstance(event, IncidentAcknowledged):
        return Entry(event.occurred_at, "acknowledged", w["acked"].format(who=name(event.actor)))
    if isinstance(event, IncidentResolved):
        return Entry(event.occurred_at, "resolved", w["resolved"].format(who=name(event.actor)), detail=event.reason)
    if isinstance(event, IncidentReportFiled):
        what = w[event.report] + (f" #{event.sequence}" if event.report == "follow_up" else "")
        return Entry(event.occurred_at, "report", w["filed"].format(who=name(event.actor), what=what))
    return None


def _evidence(evidence: list[Evidence]) -> str:
    return "; ".join(f"{e.parameter_name or e.parameter} {e.value:g} {e.unit} ({e.limit}) @{e.station_id}"
                     for e in evidence)
