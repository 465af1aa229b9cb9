"""An incident's timeline (issue 16 item 3): its events and the messages about it, in order, with evidence and
limits, level changes, escalations, who acknowledged, reports filed, and each message's latest delivery state."""
from __future__ import annotations

import datetime as dt

from schemas.incidents import IncidentAcknowledged, IncidentEscalated, IncidentReportFiled, IncidentResolved
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
