"""An incident's timeline (issue 16 item 3): what happened to it, in order, from its events and the messages about
it — detections with their evidence and limits, level changes, folded downstream detections, pages with their
delivery state, the replies and console commands people sent, escalations, acknowledgements, notes, reports filed,
the materials proposal and the dispatches confirmed from it, the resolution. Pure: the caller gathers the events,
messages, commands and movements (handlers/incident_timeline.py) and passes names and the time zone."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from schemas.commands import Command
from schemas.incidents import (Evidence, IncidentAcknowledged, IncidentEscalated, IncidentNoted, IncidentOpened,
                               IncidentReportFiled, IncidentResolved, IncidentUpdated)
from schemas.inventory import InventoryMovement
from schemas.notifications import DeliveryStatus, Notification

from contingency.incidents import IncidentEvent

_WORDS = {
    "zh-CN": {"opened": "开始预警", "raised": "升级为", "updated": "更新", "clear": "监测值回落, 待解除",
              "escalated": "升级呼叫第{tier}级", "acked": "{who}确认", "resolved": "{who}解除", "sms": "短信",
              "voice": "电话", "to": "发给", "initial": "初报", "follow_up": "续报", "final": "处理结果报告",
              "filed": "{who}登记{what}报送", "materials": "物资调度建议", "noted": "{who}备注",
              "command": "{who}经{channel}: {what}", "dispatched": "{who}确认调拨", "channels": {
                  "sms": "短信回复", "voice": "电话按键", "console": "值守台", "cli": "命令行", "drill": "演练"},
              "actions": {"ack": "确认", "resolve": "解除", "escalate": "升级", "report": "报送", "note": "备注"},
              "status": {
                  "queued": "排队", "sending": "发送中", "sent": "已发出", "delivered": "已送达", "undelivered": "未送达",
                  "failed": "失败", "received": "已收到", "deferred": "等待服务商", "superseded": "已作废"}},
    "en": {"opened": "opened", "raised": "raised to", "updated": "updated", "clear": "back within limits, awaiting "
           "resolution", "escalated": "escalated to tier {tier}", "acked": "acknowledged by {who}",
           "resolved": "resolved by {who}", "sms": "SMS", "voice": "call", "to": "to", "initial": "initial report",
           "follow_up": "follow-up report", "final": "final report", "filed": "{who} filed the {what}",
           "materials": "materials proposal", "noted": "note by {who}", "command": "{who} by {channel}: {what}",
           "dispatched": "dispatch confirmed by {who}", "channels": {"sms": "SMS reply", "voice": "call key",
                                                                    "console": "console", "cli": "command line",
                                                                    "drill": "drill"},
           "actions": {"ack": "acknowledge", "resolve": "resolve", "escalate": "escalate", "report": "report filed",
                       "note": "note"}, "status": {}},
}


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    kind: str          # opened, updated, escalated, acknowledged, resolved, report, note, page, command,
    #                    materials, dispatched
    text: str
    level: str | None = None
    detail: str = ""   # evidence, a message's body, a delivery state


def timeline(events: Iterable[IncidentEvent], messages: Iterable[Notification],
             last_status: Mapping[str, DeliveryStatus], name: Callable[[str], str], levels: Mapping[str, str],
             language: str = "zh-CN", commands: Iterable[Command] = (),
             dispatches: Iterable[InventoryMovement] = (), places: Callable[[str], str] = str) -> list[Entry]:
    """Entries in time order (a command before what it caused, events before messages made at the same moment).
    `last_status`: each notification's latest delivery receipt by notification id; `levels`: level -> the plan's
    name of it (蓝色预警); `commands`: what people sent about it (SMS replies, console actions); `dispatches`: the
    ledger's movements made for it; `places`: a depot or item id -> the plan's name."""
    w = _WORDS["en" if language == "en" else "zh-CN"]
    entries: list[tuple[dt.datetime, int, Entry]] = []
    for command in commands:
        what = w["actions"].get(command.action, command.action)
        entries.append((command.issued_at, -1, Entry(command.issued_at, "command", w["command"].format(
            who=name(command.actor), channel=w["channels"].get(command.channel, command.channel), what=what),
            detail=command.note if command.action != "note" else "")))
    for movement in dispatches:
        entries.append((movement.occurred_at, 0, Entry(
            movement.occurred_at, "dispatched", w["dispatched"].format(who=name(movement.actor)),
            detail=f"{places(movement.item_id)} {movement.quantity:g} {movement.unit} ← {places(movement.depot_id)}")))
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
    if isinstance(event, IncidentNoted):
        return Entry(event.occurred_at, "note", w["noted"].format(who=name(event.actor)), detail=event.note)
    if isinstance(event, IncidentReportFiled):
        what = w[event.report] + (f" #{event.sequence}" if event.report == "follow_up" else "")
        return Entry(event.occurred_at, "report", w["filed"].format(who=name(event.actor), what=what))
    return None


def _evidence(evidence: list[Evidence]) -> str:
    return "; ".join(f"{e.parameter_name or e.parameter} {e.value:g} {e.unit} ({e.limit}) @{e.station_id}"
                     for e in evidence)
