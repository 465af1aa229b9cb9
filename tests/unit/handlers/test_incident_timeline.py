"""The console's timeline view (handlers/incident_timeline.py) holds a bounded number of incidents, and drops a
message's delivery receipts together with its incident. Fed records directly: no broker needed for what it keeps."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contingency"))
import handlers.incident_timeline as timeline_view  # noqa: E402
from handlers.incident_timeline import IncidentHistory, IncidentTimelineView  # noqa: E402
from schemas.commands import Command  # noqa: E402
from schemas.notifications import DeliveryStatus, Notification  # noqa: E402
from test_paging import T0, minutes, opened, uid  # noqa: E402

TOPICS = ("incidents", "notifications", "delivery", "commands")


def record(topic: str, event) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, value=event.model_dump_json().encode())


def message(n: int, incident_id) -> Notification:
    return Notification(event_id=uid("n", n), notification_id=uid("n", n), person_id="qian_xiaomei",
                        to="+8613800000001", body=f"蓝色预警 {n}", incident_ids=[incident_id], created_at=T0)


def receipt(n: int, status: str, minute: int) -> DeliveryStatus:
    return DeliveryStatus(event_id=uid("s", n * 100 + minute), notification_id=uid("n", n), status=status,
                          at=T0 + minutes(minute))


def test_an_incident_dropped_for_room_takes_its_messages_and_receipts_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline_view, "MAX_INCIDENTS", 2)
    view = IncidentTimelineView("127.0.0.1:1", *TOPICS)  # never started: nothing connects
    incidents = [opened(n, source=f"source_{n}") for n in range(3)]
    view._take_all([record("incidents", incidents[0]), record("notifications", message(0, incidents[0].incident_id)),
                    record("delivery", receipt(0, "delivered", 1))])
    history = view.of(str(incidents[0].incident_id))
    assert len(history.events) == 1 and len(history.messages) == 1
    assert history.last_status[str(uid("n", 0))].status == "delivered"

    view._take_all([record("incidents", incidents[1]), record("incidents", incidents[2])])
    assert view.of(str(incidents[0].incident_id)) == IncidentHistory([], [], {}, [])
    assert str(uid("n", 0)) not in view._status, "the receipt went with its incident"


def test_the_latest_receipt_wins_whatever_order_they_are_read_in() -> None:
    view = IncidentTimelineView("127.0.0.1:1", *TOPICS)
    first = opened()
    view._take_all([record("delivery", receipt(1, "delivered", 3)), record("incidents", first),
                    record("notifications", message(1, first.incident_id)), record("delivery", receipt(1, "sent", 2))])
    history = view.of(str(first.incident_id))
    assert history.last_status[str(uid("n", 1))].status == "delivered"
    assert history.last_page is not None and history.last_page[1].status == "delivered"
    assert view.last_page(str(first.incident_id)) == history.last_page, "the board's look, without the history"
    assert view.last_page(str(uid("nobody"))) is None


def test_a_reply_read_before_its_incident_is_kept_and_shown_with_it() -> None:
    view = IncidentTimelineView("127.0.0.1:1", *TOPICS)
    first = opened()
    reply = Command(event_id=uid("c"), action="ack", incident_id=first.incident_id, incident_code=first.code,
                    source_id=first.source_id, actor="qian_xiaomei", channel="sms", issued_at=T0 + minutes(2))
    view._take_all([record("commands", reply), record("incidents", first)])
    assert [c.event_id for c in view.of(str(first.incident_id)).commands] == [reply.event_id]


def test_receipts_of_messages_never_seen_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline_view, "MAX_RECEIPTS", 3)
    view = IncidentTimelineView("127.0.0.1:1", *TOPICS)
    view._take_all([record("delivery", receipt(n, "sent", 1)) for n in range(10)])
    assert list(view._status) == [str(uid("n", n)) for n in (7, 8, 9)]
