"""streams.batches takes events from a stream's queue itself: what Faust's stream iterator did to each must still
happen (these tests break if Faust renames what `_Intake` relies on)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust.events import Event
from faust.types.tuples import ConsumerMessage

from streams.batches import _Intake

TOPIC = "ers.readings"


def stream(generation: int = 3, flowing: bool = True) -> SimpleNamespace:
    seen: list[tuple[str, int]] = []
    app = SimpleNamespace(flow_control=SimpleNamespace(is_active=lambda: flowing),
                          consumer_generation_id=generation,
                          topics=SimpleNamespace(_acking_topics={TOPIC}),
                          consumer=SimpleNamespace(_unacked_messages=set()))
    return SimpleNamespace(app=app, seen=seen,
                           _on_message_in=lambda tp, offset, message: seen.append(("message in", offset)),
                           _on_stream_event_in=lambda tp, offset, s, event: seen.append(("event in", offset)))


def event(offset: int, generation: int = 3) -> Event:
    message = ConsumerMessage(TOPIC, 0, offset, 0.0, 0, None, b"station", b"{}", None, generation_id=generation)
    return Event(SimpleNamespace(), b"station", b"{}", None, message)


def test_an_event_of_the_current_assignment_is_tracked_unacked_and_reported_to_the_sensors() -> None:
    s = stream()
    e = event(7)
    assert _Intake(s).admit(e) is True
    assert e.message.tracked and e.message in s.app.consumer._unacked_messages  # what holds the commit back
    assert s.seen == [("message in", 7), ("event in", 7)]  # the health check counts events by the sensors


def test_an_event_of_a_previous_assignment_or_taken_while_the_flow_stops_is_skipped_untracked() -> None:
    for s, e in ((stream(generation=4), event(7, generation=3)), (stream(flowing=False), event(8))):
        assert _Intake(s).admit(e) is False
        assert not e.message.tracked and not s.app.consumer._unacked_messages and not s.seen


def test_only_events_are_taken() -> None:
    with pytest.raises(TypeError, match="reads topics only"):
        _Intake(stream()).admit({"not": "an event"})
