"""The agents, the dispatcher and the webhooks in process, with fake topics and tables: milliseconds each.

The same handler functions run inside the worker (streams.app registers them with Faust); here they get a fake
event and topics that record what is sent."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from contingency import StationState, load_plan, load_roster
from contingency.incident_states import Board
from handlers.database import make_engine, migrate
from handlers.sms_errors import PermanentSmsError, SentMessage
from handlers.sms_outbox import SmsOutbox
from handlers.twilio_webhook import WebhookGuard
from schemas import Command, DeliveryStatus, Detection, Notification, StationReport, encode
from schemas.incident_states import IncidentState
from schemas.notifications import REASON_CHARS
from schemas.topics import BY_SUFFIX, TopicNames
from streams.agents.dispatch import dispatch_handler
from handlers.desk_table import DeskTable
from streams.agents.incidents import desk_handler
from streams.agents.rules import pack, rules_handler, unpack
from streams.channels import Channels
from streams.web import inbound_sms, status_callback
from tests.unit.test_twilio_webhook import MemoryLedger

REPO = Path(__file__).resolve().parents[2]
PLAN = load_plan(REPO / "plans" / "arxan.yaml")
ROSTER = load_roster(REPO / "plans" / "arxan-roster.yaml", PLAN)
NOW = dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.timezone.utc)   # 09:00 in Arxan, a Wednesday
NAMES = TopicNames("t.", 4)
TOKEN = "in-process-test-token"
BASE = "http://127.0.0.1:6066"


class FakeTopic:
    max_bytes = 1_000_000  # as the dead-letter topic (streams.channels.DeadLetterTopic)

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[tuple[bytes, bytes]] = []

    @property
    def topic(self) -> "FakeTopic":  # as a dead-letter sink, it is its own topic
        return self

    async def send(self, key: bytes | None = None, value: bytes | None = None, timestamp: float | None = None) -> Any:
        self.sent.append((key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def values(self) -> list[dict]:
        return [json.loads(value) for _, value in self.sent]


def fake_channels() -> Channels:
    return Channels(names=NAMES, **{f.name: FakeTopic(f.name) for f in dataclasses.fields(Channels)
                                    if f.name != "names"})


_OFFSETS = itertools.count()  # as a log gives them: each message after the one before


@dataclasses.dataclass
class Message:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int = 0
    offset: int = dataclasses.field(default_factory=lambda: next(_OFFSETS))
    timestamp: float = NOW.timestamp()


@dataclasses.dataclass
class Event:
    message: Message


class FixedClock:
    mode = "wall"

    def now(self, event: object = None) -> dt.datetime:
        return NOW

    def stamp(self, event: object = None) -> float | None:
        return None


def event(suffix: str, value: bytes, key: str | None) -> Event:
    return Event(Message(NAMES.of(BY_SUFFIX[suffix]), key.encode() if key else None, value))


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def reading(value: float, station: str = "yirshi_wwtp_online") -> StationReport:
    return StationReport(event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"agents:{station}:{value}"), station_id=station,
                         observed_at=NOW, measurements=[{"parameter": "cod", "value": value, "unit": "mg/L"}])


# --- the rules stage ------------------------------------------------------------------------------------------

def test_rules_turn_an_exceedance_into_a_detection_and_keep_the_station_state() -> None:
    ch, table = fake_channels(), {}
    handle = rules_handler(ch, PLAN, FixedClock(), table)
    run(handle(event("readings", encode(reading(80.0)), "yirshi_wwtp_online")))
    [(key, value)] = ch.detections.sent
    detection = Detection.model_validate_json(value)
    assert key == b"yirshi_wwtp_outfall" and detection.status == "firing" and detection.level == "blue"
    assert table["yirshi_wwtp_online"] is not None
    run(handle(event("readings", encode(reading(80.0)), "yirshi_wwtp_online")))
    assert len(ch.detections.sent) == 1, "a redelivered reading fires nothing more"


def test_rules_dead_letter_garbage_and_unknown_stations_and_rekey_a_wrong_key() -> None:
    ch, table = fake_channels(), {}
    handle = rules_handler(ch, PLAN, FixedClock(), table)
    run(handle(event("readings", b"not json", "x")))
    run(handle(event("readings", encode(reading(80.0, station="atlantis_station")), "atlantis_station")))
    run(handle(event("readings", encode(reading(80.0)), "wrong-key")))
    letters = ch.dlq.values()
    assert [letter["payload"] for letter in letters][0] == "not json"
    assert "unknown station 'atlantis_station'" in letters[1]["error"]
    assert [key for key, _ in ch.readings.sent] == [b"yirshi_wwtp_online"] and not ch.detections.sent


def test_rules_dead_letter_a_value_outside_its_physical_range_and_judge_nothing_of_it() -> None:
    ch, table = fake_channels(), {}
    handle = rules_handler(ch, PLAN, FixedClock(), table)
    run(handle(event("readings", encode(reading(-80.0)), "yirshi_wwtp_online")))
    [letter] = ch.dlq.values()
    assert letter["error"].startswith("measurements[0].value: -80 mg/L for cod is outside its physical range 0..3e+06")
    assert not ch.detections.sent and table.get("yirshi_wwtp_online") is None


# --- the incident desk ----------------------------------------------------------------------------------------

def opened_by_desk() -> tuple[Channels, dict, Detection]:
    ch, table = fake_channels(), {}
    rules = rules_handler(ch, PLAN, FixedClock(), {})
    run(rules(event("readings", encode(reading(80.0)), "yirshi_wwtp_online")))
    [(key, value)] = ch.detections.sent
    desk = desk_handler(ch, PLAN, ROSTER, FixedClock(), lambda e: e, table)
    run(desk(event("detections", value, key.decode())))
    return ch, table, Detection.model_validate_json(value)


def test_the_desk_opens_pages_and_publishes_the_incident_state() -> None:
    ch, table, _ = opened_by_desk()
    [opened] = ch.incidents.values()
    assert opened["type"] == "incident.opened" and opened["source_id"] == "yirshi_wwtp_outfall"
    assert [n["person_id"] for n in ch.notifications.values()], "the duty officer is paged"
    [(key, value)] = ch.incident_states.sent
    state = IncidentState.model_validate_json(value)
    assert key == opened["incident_id"].encode() and state.code == opened["code"] and state.stage == "paging"
    told = [n["person_id"] for n in ch.notifications.values()]
    assert state.paged and set(state.paged) < set(told) and sorted(state.notified) == sorted(told), \
        "the duty officer is asked to acknowledge; the city government (blue's notify role) is told"
    assert DeskTable(table).load()[0].incidents.by_code(state.code) is not None


def test_the_desk_applies_a_detection_once() -> None:
    ch, table, detection = opened_by_desk()
    desk = desk_handler(ch, PLAN, ROSTER, FixedClock(), lambda e: e, table)
    before = (len(ch.incidents.sent), len(ch.notifications.sent), len(ch.incident_states.sent))
    run(desk(event("detections", encode(detection), detection.source_id)))
    assert (len(ch.incidents.sent), len(ch.notifications.sent), len(ch.incident_states.sent)) == before


def test_an_acknowledgement_changes_the_state_everyone_reads() -> None:
    ch, table, _ = opened_by_desk()
    state = IncidentState.model_validate_json(ch.incident_states.sent[-1][1])
    desk = desk_handler(ch, PLAN, ROSTER, FixedClock(), lambda e: e, table)
    command = Command(action="ack", incident_code=state.code, actor=state.paged[0], channel="sms", issued_at=NOW,
                      source_id=state.source_id)
    run(desk(event("commands", encode(command), command.key)))
    assert ch.incidents.values()[-1]["type"] == "incident.acknowledged"
    acknowledged = IncidentState.model_validate_json(ch.incident_states.sent[-1][1])
    assert acknowledged.stage == "acknowledged" and acknowledged.acknowledged_by == state.paged[0]
    assert acknowledged.next_escalation_at is None


def test_a_command_or_receipt_dated_far_from_the_clock_is_a_dead_letter_and_changes_nothing() -> None:
    ch, table, _ = opened_by_desk()
    state = IncidentState.model_validate_json(ch.incident_states.sent[-1][1])
    desk = desk_handler(ch, PLAN, ROSTER, FixedClock(), lambda e: e, table)
    before = (len(ch.incidents.sent), dict(table))
    future = Command(action="ack", incident_code=state.code, actor=state.paged[0], channel="sms",
                     issued_at=dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc), source_id=state.source_id)
    run(desk(event("commands", encode(future), future.key)))
    receipt = DeliveryStatus(notification_id=uuid.uuid4(), status="failed", at=dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc))
    run(desk(event("delivery", encode(receipt), "delivery")))
    errors = [letter["error"] for letter in ch.dlq.values()]
    assert errors[0].startswith("issued_at: 9999-12-31") and "ahead of the worker's clock" in errors[0]
    assert errors[1].startswith("at: 0001-01-01") and "effective date" in errors[1]
    assert (len(ch.incidents.sent), dict(table)) == before, "neither acknowledged nor changed anything"


def test_the_desk_reads_its_books_again_when_the_table_changed_under_it_and_a_batch_equals_its_inputs_one_by_one(
        ) -> None:
    from streams.agents.incidents import desk_batch_handler

    ch = fake_channels()
    rules = rules_handler(ch, PLAN, FixedClock(), {})
    for value, station, parameter, unit, late in ((80.0, "yirshi_wwtp_online", "cod", "mg/L", 0),
                                                  (1500.0, "city_air_auto", "no2", "ug/m3", 0),
                                                  (10.0, "yirshi_wwtp_online", "cod", "mg/L", 1)):
        run(rules(event("readings", encode(StationReport(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"batch:{station}:{value}"), station_id=station,
            observed_at=NOW + dt.timedelta(minutes=late),
            measurements=[{"parameter": parameter, "value": value, "unit": unit}])), station)))
    detections = [event("detections", value, key.decode()) for key, value in ch.detections.sent]
    assert len(detections) == 3

    one_by_one, table = fake_channels(), {}
    desk = desk_handler(one_by_one, PLAN, ROSTER, FixedClock(), lambda e: e, table)
    run(desk(detections[0]))
    # a recovery: the same entries, read back from the changelog as new objects
    recovered = json.loads(json.dumps(table))
    table.clear()
    table.update(recovered)
    for d in detections[1:]:
        run(desk(d))
    batched, batch_table = fake_channels(), {}
    run(desk_batch_handler(batched, PLAN, ROSTER, FixedClock(), lambda e: e, batch_table)(detections))
    for name in ("incidents", "notifications", "incident_states"):
        assert getattr(batched, name).sent == getattr(one_by_one, name).sent, name
    def parts(t: dict) -> dict:
        return json.loads(json.dumps({k: v for k, v in t.items() if not k.startswith("journal")}))

    assert parts(batch_table) == parts(table), "the same books in the table (the journals differ: 1 save, not 3)"


# --- the dispatcher -------------------------------------------------------------------------------------------

class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, notification: Notification, status_callback_url: str | None = None) -> SentMessage:
        self.sent.append((notification.to, notification.body))
        return SentMessage(sid=f"SM{len(self.sent):032d}", status="queued", num_segments=1)

    def find_sent(self, notification: Notification, since: dt.datetime, taken=lambda sid: False) -> SentMessage | None:
        return None


@pytest.fixture
def outbox(tmp_path: Path) -> SmsOutbox:
    url = f"sqlite:///{tmp_path / 'ers.db'}"
    migrate(url)
    return SmsOutbox(make_engine(url))


def test_the_dispatcher_sends_once_and_reports_it(outbox: SmsOutbox) -> None:
    ch, sms = fake_channels(), FakeSms()
    note = Notification(notification_id=uuid.uuid4(), person_id="duty", to="+8613800000001", body="蓝色预警 ABC",
                        created_at=NOW)
    handle = dispatch_handler(ch, outbox, sms, BASE + "/twilio/status", FixedClock())
    run(handle(event("notifications", encode(note), note.person_id)))
    run(handle(event("notifications", encode(note), note.person_id)))
    assert sms.sent == [("+8613800000001", "蓝色预警 ABC")]
    [receipt] = ch.delivery.values()
    assert receipt["status"] == "sent" and receipt["notification_id"] == str(note.notification_id)
    assert outbox.get(str(note.notification_id)).state == "sent"


class RefusingSms(FakeSms):
    """A provider whose refusals say a great deal (some error pages do)."""

    def send(self, notification: Notification, status_callback_url: str | None = None) -> SentMessage:
        raise PermanentSmsError(400, "refused: " + "x" * 2000)


def test_a_long_provider_error_is_clipped_into_the_receipt_not_lost(outbox: SmsOutbox) -> None:
    ch = fake_channels()
    note = Notification(notification_id=uuid.uuid4(), person_id="duty", to="+8613800000001", body="蓝色预警 ABC",
                        created_at=NOW)
    run(dispatch_handler(ch, outbox, RefusingSms(), BASE + "/twilio/status", FixedClock())(
        event("notifications", encode(note), note.person_id)))
    [receipt] = ch.delivery.values()
    assert receipt["status"] == "failed" and receipt["reason"].startswith("400: refused: xxx")
    assert len(receipt["reason"]) == REASON_CHARS


# --- the webhooks ---------------------------------------------------------------------------------------------

def inbound(text: str, sender: str) -> tuple[dict[str, str], str]:
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "To": "+15005550006",
              "Body": text, "NumMedia": "0"}
    return params, RequestValidator(TOKEN).compute_signature(BASE + "/twilio/sms", params)


def answer(text: str, sender: str, board: Board, commands: FakeTopic, signed: bool = True) -> Any:
    guard = WebhookGuard(TOKEN, BASE, MemoryLedger(), known_phone=lambda phone: phone == sender)
    params, signature = inbound(text, sender)
    return run(inbound_sms("/twilio/sms", params, signature if signed else None, guard=guard, plan=PLAN,
                           roster=ROSTER, board=lambda: board, commands=commands, clock=FixedClock(),
                           language="zh-CN"))


def paged_board() -> tuple[Board, IncidentState, str]:
    ch, _, _ = opened_by_desk()
    state = IncidentState.model_validate_json(ch.incident_states.sent[-1][1])
    phone = next(p.phone for p in ROSTER.people.values() if p.id == state.paged[0])
    return Board.of_states([state]), state, phone


def test_a_reply_is_answered_from_the_read_model_and_becomes_a_command() -> None:
    board, state, phone = paged_board()
    commands = FakeTopic("commands")
    reply = answer("1", phone, board, commands)
    assert reply.status == 200 and "<Message>" not in reply.body, "the desk confirms, once it has applied it"
    [command] = [Command.model_validate(v) for v in commands.values()]
    assert (command.action, command.incident_id, command.actor) == ("ack", state.incident_id, state.paged[0])
    status = answer("状态", phone, board, FakeTopic("commands"))
    assert status.status == 200 and state.code in status.body and "<Message>" in status.body


def test_an_unsigned_reply_is_refused_and_publishes_nothing() -> None:
    board, _, phone = paged_board()
    commands = FakeTopic("commands")
    reply = answer("1", phone, board, commands, signed=False)
    assert reply.status == 403 and commands.sent == []


def test_a_final_delivery_status_becomes_a_receipt() -> None:
    class Outbox:
        def record_status(self, sid: str, status: str, error: object, now: dt.datetime) -> str:
            return "6f1d3c1e-0000-4000-8000-000000000001"

    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003",
              "AccountSid": "AC" + "0" * 32}
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/twilio/status", params)
    guard = WebhookGuard(TOKEN, BASE, MemoryLedger(), known_phone=lambda phone: False)
    delivery = FakeTopic("delivery")
    reply = run(status_callback("/twilio/status", params, signature, guard=guard, outbox=Outbox(),
                                delivery=delivery, clock=FixedClock()))
    [receipt] = delivery.values()
    assert reply.status == 200 and (receipt["status"], receipt["error_code"]) == ("undelivered", 30003)


def dated(value: float, at: dt.datetime, station: str = "yirshi_wwtp_online") -> StationReport:
    return StationReport(event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"agents:{station}:{value}:{at}"), station_id=station,
                         observed_at=at, measurements=[{"parameter": "cod", "value": value, "unit": "mg/L"}])


def test_readings_from_the_far_future_or_before_the_plan_are_dead_letters_with_the_reason() -> None:
    ch, table = fake_channels(), {}
    handle = rules_handler(ch, PLAN, FixedClock(), table)
    far = dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)
    run(handle(event("readings", encode(dated(80.0, far)), "yirshi_wwtp_online")))
    run(handle(event("readings", encode(dated(80.0, dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc))),
                     "yirshi_wwtp_online")))
    run(handle(event("readings", encode(dated(80.0, NOW + dt.timedelta(minutes=9))), "yirshi_wwtp_online")))
    errors = [letter["error"] for letter in ch.dlq.values()]
    assert len(errors) == 2 and "observed_at: 9999-12-31T00:00:00+00:00 is" in errors[0]
    assert "ahead of the worker's clock" in errors[0] and "more than 10 min ahead is refused" in errors[0]
    assert "before 2025-01-01 (the plan's effective date less a year)" in errors[1]
    assert len(ch.detections.sent) == 1, "a station clock 9 minutes fast is within the margin"


def test_a_state_poisoned_by_a_future_reading_recovers_and_a_normal_reading_clears() -> None:
    ch, table = fake_channels(), {}
    handle = rules_handler(ch, PLAN, FixedClock(), table)
    run(handle(event("readings", encode(dated(80.0, NOW)), "yirshi_wwtp_online")))
    # as an older ERS would have stored it (plain JSON): an exceedance dated in the far future is the newest reading
    poisoned = StationState.from_bytes(unpack(table["yirshi_wwtp_online"])[1])
    future = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)
    table["yirshi_wwtp_online"] = json.dumps(dataclasses.replace(
        poisoned, latest_observed_at=future, recent_observed=poisoned.recent_observed + (future,)).to_json()).encode()
    run(handle(event("readings", encode(dated(10.0, NOW + dt.timedelta(minutes=1))), "yirshi_wwtp_online")))
    statuses = [Detection.model_validate_json(value).status for _, value in ch.detections.sent]
    assert statuses == ["firing", "cleared"], statuses
    assert StationState.from_bytes(unpack(table["yirshi_wwtp_online"])[1]).latest_observed_at == NOW + dt.timedelta(
        minutes=1)


def test_inputs_the_stored_state_already_reflects_are_skipped_after_a_restart() -> None:
    """A restarted worker reads again from its committed offsets, which may trail the table by thousands of readings
    of one station: more than its state remembers ids of. The entry's offsets tell those readings from late ones."""
    ch, table = fake_channels(), {}
    handle = rules_handler(ch, PLAN, FixedClock(), table)
    topic = NAMES.of(BY_SUFFIX["readings"])
    spike, normal = reading(80.0), reading(10.0)
    later = normal.model_copy(update={"event_id": uuid.uuid4(), "observed_at": NOW + dt.timedelta(minutes=1)})
    sent = [Event(Message(topic, b"yirshi_wwtp_online", encode(r), offset=100 + n))
            for n, r in enumerate((spike, normal, later))]
    for e in sent:
        run(handle(e))
    assert [Detection.model_validate_json(v).status for _, v in ch.detections.sent] == ["firing", "cleared"]
    positions, _ = unpack(table["yirshi_wwtp_online"])
    assert positions == {f"{topic}:0": 102}
    # A state that has forgotten the ids of these readings (as after thousands more): the offsets still tell.
    state = StationState.from_bytes(unpack(table["yirshi_wwtp_online"])[1])
    table["yirshi_wwtp_online"] = pack(positions, dataclasses.replace(
        state, recent_event_ids=(), recent_observed=()).to_bytes())
    ch.detections.sent.clear()
    run(handle(Event(Message(topic, b"yirshi_wwtp_online", encode(spike), offset=100))))  # the spike, read again
    assert ch.detections.sent == [], "an input at or before the stored offset is in the state already"
    run(handle(Event(Message(topic, b"yirshi_wwtp_online", encode(spike.model_copy(update={
        "event_id": uuid.uuid4(), "observed_at": NOW + dt.timedelta(minutes=2)})), offset=103))))
    assert [Detection.model_validate_json(v).status for _, v in ch.detections.sent] == ["firing"]


def test_a_table_entry_written_before_positions_is_read_as_a_state_alone() -> None:
    state = StationState.initial("yirshi_wwtp_online", NOW)
    assert unpack(state.to_bytes()) == ({}, state.to_bytes())
    assert unpack(pack({"t.readings:3": 7}, state.to_bytes())) == ({"t.readings:3": 7}, state.to_bytes())


def test_a_report_dated_in_the_future_is_a_dead_letter() -> None:
    from schemas import IncidentReport
    from streams.agents.reports import reports_handler

    ch = fake_channels()
    handle = reports_handler(ch, PLAN, FixedClock())
    report = IncidentReport(event_id=uuid.uuid4(), reported_at=dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc),
                            category="oil_spill", location={"lat": 47.18, "lon": 119.94})
    run(handle(event("reports", encode(report), "unassigned")))
    assert not ch.detections.sent and "reported_at: 9999-01-01" in ch.dlq.values()[0]["error"]
