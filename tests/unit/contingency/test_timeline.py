"""An incident's timeline (issue 16 item 3): its events and the messages about it, in order, with evidence and
limits, level changes, escalations, who acknowledged, reports filed, and each message's latest delivery state."""
from __future__ import annotations

import datetime as dt

from schemas.commands import Command
from schemas.incidents import (IncidentAcknowledged, IncidentEscalated, IncidentNoted, IncidentReportFiled,
                               IncidentResolved)
from schemas.inventory import InventoryMovement
from schemas.notifications import DeliveryStatus, Notification

from contingency.timeline import timeline
from contingency_helpers import T0, minutes
from test_paging import opened, raised, uid

NAMES = {"qian_xiaomei": "钱晓梅", "zhou_min": "周敏"}
LEVELS = {"blue": "蓝色预警", "yellow": "黄色预警"}


def message(n: int, at: dt.datetime, incident_id) -> Notification:
    return Notification(event_id=uid("n", n), notification_id=uid("n", n), person_id="qian_xiaomei",
                        to="+8613800000001", body=f"蓝色预警 K7Q ... {n}", incident_ids=[incident_id], created_at=at)


def test_the_timeline_tells_the_incident_in_order_with_evidence_and_delivery() -> None:
    first = opened()
    events = [
        first,
        raised(first, "yellow", "blue", T0 + minutes(10), reason="level raised by section_nh3_over_iii"),
        IncidentEscalated(event_id=uid("e"), incident_id=first.incident_id, source_id=first.source_id,
                          occurred_at=T0 + minutes(15), tier=2, reason="no acknowledgement within 5 min: tier 2"),
        IncidentAcknowledged(event_id=uid("a"), incident_id=first.incident_id, source_id=first.source_id,
                             occurred_at=T0 + minutes(16), actor="qian_xiaomei"),
        IncidentReportFiled(event_id=uid("r"), incident_id=first.incident_id, source_id=first.source_id,
                            occurred_at=T0 + minutes(40), actor="zhou_min", due_at=T0 + minutes(120)),
        IncidentResolved(event_id=uid("x"), incident_id=first.incident_id, source_id=first.source_id,
                         occurred_at=T0 + minutes(90), actor="qian_xiaomei", reason="回落"),
    ]
    messages = [message(1, T0, first.incident_id), message(2, T0 + minutes(15), first.incident_id)]
    status = {str(uid("n", 1)): DeliveryStatus(event_id=uid("s"), notification_id=uid("n", 1), status="delivered",
                                               at=T0 + minutes(1))}
    entries = timeline(reversed(events), messages, status, lambda p: NAMES.get(p, p), LEVELS)
    assert [e.kind for e in entries] == ["opened", "page", "updated", "escalated", "page", "acknowledged", "report",
                                         "resolved"], "in time order; at one moment the event before its message"
    assert entries[0].text == "开始预警: 氨氮超标" and "氨氮 1.6 mg/L (<= 1 mg/L (GB 3838-2002 III)) @hlh_dsk_auto" in \
        entries[0].detail
    assert entries[1].text == "短信 发给 钱晓梅" and entries[1].detail.endswith("[已送达]")
    assert entries[2].text == "升级为黄色预警" and entries[2].level == "yellow"
    assert entries[3].text == "升级呼叫第2级" and "tier 2" in entries[3].detail
    assert not entries[4].detail.endswith("]"), "no receipt yet: no state shown"
    assert (entries[5].text, entries[6].text, entries[7].text) == ("钱晓梅确认", "周敏登记初报报送", "钱晓梅解除")


def test_an_all_clear_and_english() -> None:
    first = opened()
    clear = raised(first, "blue", "blue", T0 + minutes(30), reason="all rules back within limits", all_clear=True)
    entries = timeline([first, clear], [], {}, str, LEVELS, language="en")
    assert [e.text for e in entries] == ["opened: 氨氮超标", "back within limits, awaiting resolution"]


def test_replies_notes_and_confirmed_dispatches_each_in_their_place() -> None:
    first = opened()
    reply = Command(event_id=uid("c", 1), action="ack", incident_id=first.incident_id, incident_code=first.code,
                    source_id=first.source_id, actor="qian_xiaomei", channel="sms", issued_at=T0 + minutes(3))
    note_command = Command(event_id=uid("c", 2), action="note", incident_id=first.incident_id,
                           source_id=first.source_id, actor="zhou_min", channel="console",
                           issued_at=T0 + minutes(20), note="已通知下游水厂")
    ack = IncidentAcknowledged(event_id=uid("a"), incident_id=first.incident_id, source_id=first.source_id,
                               occurred_at=T0 + minutes(3), actor="qian_xiaomei", command_id=reply.event_id)
    noted = IncidentNoted(event_id=uid("nt"), incident_id=first.incident_id, source_id=first.source_id,
                          occurred_at=T0 + minutes(20), actor="zhou_min", note="已通知下游水厂")
    dispatch = InventoryMovement(event_id=uid("d"), kind="dispatch", depot_id="depot_city", item_id="activated_carbon",
                                 quantity=2, unit="t", actor="zhou_min", incident_id=str(first.incident_id),
                                 occurred_at=T0 + minutes(25))
    names = {"depot_city": "市物资库", "activated_carbon": "活性炭"}
    entries = timeline([first, noted, ack], [], {}, lambda p: NAMES.get(p, p), LEVELS, commands=[note_command, reply],
                       dispatches=[dispatch], places=lambda i: names.get(i, i))
    assert [e.kind for e in entries] == ["opened", "command", "acknowledged", "command", "note", "dispatched"], \
        "a command before what it caused"
    assert entries[1].text == "钱晓梅经短信回复: 确认"
    assert entries[3].text == "周敏经值守台: 备注" and entries[3].detail == "", "the note's text is shown once"
    assert (entries[4].text, entries[4].detail) == ("周敏备注", "已通知下游水厂")
    assert (entries[5].text, entries[5].detail) == ("周敏确认调拨", "活性炭 2 t ← 市物资库")
    english = timeline([], [], {}, str, LEVELS, "en", commands=[reply])
    assert english[0].text == "qian_xiaomei by SMS reply: acknowledge"
