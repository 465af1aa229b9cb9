"""Paging: tier walk, acknowledgement, resolution, failed deliveries, drills, bundling, caps, maintenance,
level raises, and determinism (same inputs -> same outputs, also across a JSON round trip of the state)."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contingency import (PagingBook, desk, evaluate, load_plan, on_clock, on_incident_event, pending_for, plan_from_text,
                         roster_from_text)
from contingency.desk import Books
from contingency.sms_text import DRILL_PREFIX, segments
from contingency_helpers import ARXAN, T0, minutes, report
from schemas import (ClockTick, Command, DeliveryStatus, Evidence, IncidentAcknowledged, IncidentEscalated,
                     IncidentNoted, IncidentOpened, IncidentResolved, IncidentUpdated, Notification)

TEST_ROSTER = """
id: test-roster
plan: arxan
paging: {bundle_seconds: 120, cap_per_hour: 10}
people:
  duty_a:   {name: 值班甲, roles: [duty_officer], phone: "+8613800000101"}
  duty_b:   {name: 值班乙, roles: [duty_officer], phone: "+8613800000102"}
  chief:    {name: Chief Li, roles: [section_chief], phone: "+8613800000103", language: en}
  deputy:   {name: 副局长, roles: [deputy_director], phone: "+8613800000104"}
  director: {name: 局长, roles: [director], phone: "+8613800000105"}
  monitor:  {name: 监测站, roles: [monitoring_station], phone: "+8613800000106"}
  city:     {name: 市政府, roles: [city_government], phone: "+8613800000107"}
  league_b: {name: 盟局, roles: [league_bureau], phone: "+8613800000108"}
  league_o: {name: 盟办, roles: [league_office], phone: "+8613800000109"}
  region:   {name: 自治区厅, roles: [region_department], phone: "+8613800000110"}
rotations:
  duty_officer: {people: [duty_a, duty_b], start: 2026-04-27, handover: "08:30"}
drill_phones:
  drill_a: {name: 演练A, phone: "+8613800009901"}
  drill_b: {name: 演练B, phone: "+8613800009902"}
maintenance:
  - {station: city_source_auto, from: "2026-05-01 07:00", until: "2026-05-01 09:00", reason: 校准}
"""
CODES = ["K7Q", "Q3M", "AC4", "HH7", "MN9", "PT3", "RX7", "WY4", "DE9", "FJ3", "KM4", "NP7", "TU3", "VX9"]
SECOND = dt.timedelta(seconds=1)


def chain_only(plan):
    """The plan without report reminders (tested in test_report_clock.py): these tests follow the chains."""
    return plan.model_copy(update={"reporting": plan.reporting.model_copy(update={"responsible": None})})


@pytest.fixture(scope="module")
def arxan():
    return chain_only(load_plan(ARXAN))


@pytest.fixture(scope="module")
def roster(arxan):
    return roster_from_text(TEST_ROSTER, arxan)


@pytest.fixture(scope="module")
def one_person_blue():
    """The Arxan plan with blue telling nobody at once (it tells the city government): bundling to one person."""
    text = ARXAN.read_text(encoding="utf-8")
    assert "    repeat: 1\n    notify: [city_government]\n" in text
    plan = plan_from_text(text.replace("    repeat: 1\n    notify: [city_government]\n", "    repeat: 1\n"))
    return plan, roster_from_text(TEST_ROSTER, plan)


def uid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, "test:" + ":".join(str(p) for p in parts))


def opened(n: int = 0, level: str = "blue", *, drill_id: str | None = None, at: dt.datetime = T0,
           source: str = "halaha_dashankuang", station: str = "hlh_dsk_auto", value: float = 1.6) -> IncidentOpened:
    incident_id = uid("incident", n, drill_id)
    evidence = Evidence(station_id=station, parameter="ammonia_nitrogen", parameter_name="氨氮", value=value,
                        unit="mg/L", limit="<= 1 mg/L (GB 3838-2002 III)", observed_at=at)
    return IncidentOpened(event_id=uid("opened", incident_id), incident_id=incident_id, source_id=source,
                          occurred_at=at, drill_id=drill_id, code=CODES[n], kind="threshold",
                          rule_id="section_nh3_over_iii", level=level, title="氨氮超标", evidence=[evidence])


def raised(event: IncidentOpened, level: str, previous: str, at: dt.datetime,
           reason: str = "level raised by test", all_clear: bool = False) -> IncidentUpdated:
    return IncidentUpdated(event_id=uid("updated", event.incident_id, level, at), incident_id=event.incident_id,
                           source_id=event.source_id, occurred_at=at, drill_id=event.drill_id,
                           rule_id=event.rule_id, level=level, previous_level=previous, reason=reason,
                           all_clear=all_clear, evidence=event.evidence)


class Agent:
    """The incident desk (contingency.desk) fed one input at a time, keeping its books and everything it sent.
    Incident events go in as decided before (a replay of the incidents topic), so tests choose codes and levels."""

    def __init__(self, plan, roster, roundtrip: bool = False) -> None:
        self.plan, self.roster, self.roundtrip = plan, roster, roundtrip
        self.books = Books()
        self.log: list[object] = []
        self.states: list[object] = []  # what the desk published for the read model, in order

    @property
    def incidents(self):
        return self.books.incidents

    @property
    def book(self) -> PagingBook:
        return self.books.paging

    def _handle(self, item, now: dt.datetime):
        decision = desk.handle(self.plan, self.roster, self.books, item, now)
        books = decision.books
        self.books = Books.from_json(json.loads(json.dumps(books.to_json()))) if self.roundtrip else books
        self.log += decision.events + decision.notifications
        self.states += decision.states
        return decision

    def event(self, event, now: dt.datetime) -> list[Notification]:
        return self._handle(event, now).notifications

    def command(self, action: str, actor: str, code: str | None, now: dt.datetime, *, incident_id=None,
                n: int = 0, channel: str = "sms", report: str = "initial"):
        command = Command(event_id=uid("command", action, actor, code, now, n, *([report] if report != "initial" else [])),
                          action=action,
                          incident_code=code, incident_id=incident_id, actor=actor, channel=channel, issued_at=now,
                          report=report)
        return self.send(command, now)

    def send(self, command: Command, now: dt.datetime):
        decision = self._handle(command, now)
        for event in decision.events:  # replaying what the desk decided changes nothing more
            assert desk.handle(self.plan, self.roster, self.books, event, now).notifications == []
        return decision.events, decision.notifications

    def clock(self, now: dt.datetime):
        decision = self._handle(ClockTick(at=now), now)
        return decision.events, decision.notifications

    def delivery(self, notification: Notification, status: str, now: dt.datetime, n: int = 0):
        receipt = DeliveryStatus(event_id=uid("status", notification.notification_id, status, n),
                                 notification_id=notification.notification_id, status=status, at=now,
                                 error_code=30003 if status != "delivered" else None)
        decision = self._handle(receipt, now)
        return decision.events, decision.notifications


def to(notifications: list[Notification]) -> list[str]:
    return [n.person_id for n in notifications]


def body_for(notifications: list[Notification], person: str) -> str:
    return next(n.body for n in notifications if n.person_id == person)


# --- opening and the tier walk ----------------------------------------------------------------------------------

def test_opened_pages_tier_one_at_once(arxan, roster):
    agent = Agent(arxan, roster)
    out = agent.event(opened(), T0)
    assert to(out) == ["duty_a", "city"]  # blue: the city government is told at once
    sms = out[0]
    assert sms.to == "+8613800000101" and sms.created_at == T0 and sms.incident_ids == [opened().incident_id]
    assert sms.body.startswith("蓝色预警 K7Q 哈拉哈河大山矿断面 氨氮1.6mg/L")
    assert sms.body.endswith('"9 K7Q"解除')
    assert sms.event_id == sms.notification_id and sms.drill_id is None


def test_opened_yellow_pages_both_roles_and_tells_the_notify_role(arxan, roster):
    out = Agent(arxan, roster).event(opened(level="yellow"), T0)
    assert sorted(to(out)) == sorted(["duty_a", "chief", "monitor", "city", "league_b", "league_o"])
    assert body_for(out, "chief").startswith("YELLOW alert K7Q")  # chief reads English
    assert body_for(out, "monitor").endswith("(通报)")


def test_tier_walk_waits_exactly_to_the_boundary_and_repeats(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    assert agent.clock(T0 + minutes(15) - SECOND) == ([], [])
    escalated, out = agent.clock(T0 + minutes(15))
    assert [(e.tier, e.reason) for e in escalated] == [(2, "no acknowledgement within 15 min: tier 2")]
    assert to(out) == ["chief"] and "no ack for 15 min" in out[0].body
    assert agent.clock(T0 + minutes(45) - SECOND) == ([], [])
    escalated, out = agent.clock(T0 + minutes(45))  # blue repeats once: tier 1 again after tier 2's 30 min
    assert [(e.tier, e.reason) for e in escalated] == [(1, "no acknowledgement: chain repeated (1/1)")]
    assert to(out) == ["duty_a"] and out[0].body.startswith("【第2轮】蓝色预警 K7Q")
    escalated, out = agent.clock(T0 + minutes(60))
    assert [e.tier for e in escalated] == [2] and to(out) == ["chief"]
    assert agent.clock(T0 + minutes(90)) == ([], [])  # chain exhausted: no more calls
    assert agent.clock(T0 + minutes(600)) == ([], [])
    assert agent.book.incidents[str(opened().incident_id)].stage == "exhausted"
    assert pending_for(agent.book, "duty_a")[0].code == "K7Q"  # still waiting for someone to acknowledge


def test_a_quiet_tick_returns_the_same_book(arxan, roster):
    first = on_incident_event(arxan, roster, PagingBook(), opened(), T0)[0]
    assert on_clock(arxan, roster, first, T0 + minutes(1))[0] is first
    assert on_clock(arxan, roster, first, T0 + minutes(15))[0] is not first


def test_late_clock_catches_up_each_step_once(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(level="yellow"), T0)
    escalated, out = agent.clock(T0 + minutes(61))  # 10 + 20 + 30 min passed while the worker was down
    assert [e.tier for e in escalated] == [2, 3, 1]
    assert len({e.event_id for e in escalated}) == 3
    assert {"deputy", "director", "duty_a", "chief"} <= set(to(out))


def test_escalation_event_ids_are_stable(arxan, roster):
    first, second = Agent(arxan, roster), Agent(arxan, roster)
    for agent in (first, second):
        agent.event(opened(), T0)
    assert first.clock(T0 + minutes(15)) == second.clock(T0 + minutes(15))


def test_pending_for(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    assert [f.code for f in pending_for(agent.book, "duty_a")] == ["K7Q"]
    assert pending_for(agent.book, "chief") == []
    agent.clock(T0 + minutes(15))
    assert [f.code for f in pending_for(agent.book, "chief")] == ["K7Q"]
    agent.command("ack", "chief", "K7Q", T0 + minutes(16))
    assert pending_for(agent.book, "duty_a") == pending_for(agent.book, "chief") == []


# --- acknowledgement ------------------------------------------------------------------------------------------

def test_ack_stops_escalation_and_confirms(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    events, out = agent.command("ack", "duty_a", "k7q", T0 + minutes(5))
    assert len(events) == 1 and isinstance(events[0], IncidentAcknowledged)
    ack = events[0]
    assert ack.actor == "duty_a" and ack.incident_id == opened().incident_id and ack.command_id is not None
    assert to(out) == ["duty_a", "city"] and out[0].body.startswith("已确认K7Q,停止升级")
    assert agent.clock(T0 + minutes(200)) == ([], [])
    assert agent.incidents.open[str(ack.incident_id)].acknowledged


def test_ack_by_incident_id(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    events, _ = agent.command("ack", "duty_a", None, T0 + minutes(1), incident_id=opened().incident_id)
    assert [type(e) for e in events] == [IncidentAcknowledged]


def test_second_acker_hears_who_was_first_and_others_are_told(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(level="yellow"), T0)  # duty_a, chief paged; monitor told
    events, out = agent.command("ack", "duty_a", "K7Q", T0 + minutes(3))
    assert len(events) == 1
    assert sorted(to(out)) == sorted(["duty_a", "chief", "monitor", "city", "league_b", "league_o"])
    assert body_for(out, "chief").startswith("K7Q acknowledged by 值班甲")
    assert body_for(out, "monitor").startswith("K7Q已由值班甲确认")
    events, out = agent.command("ack", "chief", "K7Q", T0 + minutes(4))
    assert events == [] and to(out) == ["chief"] and out[0].body == "K7Q was already acknowledged by 值班甲."
    assert agent.command("ack", "duty_a", "K7Q", T0 + minutes(5)) == ([], [])  # the same person again: nothing


def test_same_command_twice_gives_nothing(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    command = Command(event_id=uid("c"), action="ack", incident_code="K7Q", actor="duty_a", channel="sms",
                      issued_at=T0 + minutes(1))
    first = agent.send(command, T0 + minutes(1))
    assert first[0] and agent.send(command, T0 + minutes(2)) == ([], [])


def test_ack_event_from_elsewhere_stops_escalation_quietly(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    ack = IncidentAcknowledged(event_id=uid("ack"), incident_id=opened().incident_id, source_id="halaha_dashankuang",
                               occurred_at=T0, actor="console")
    assert agent.event(ack, T0 + minutes(1)) == []
    assert agent.clock(T0 + minutes(100)) == ([], [])


def test_escalated_events_fed_back_change_nothing(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    escalated, _ = agent.clock(T0 + minutes(15))
    before = agent.book
    assert agent.event(escalated[0], T0 + minutes(15)) == []
    assert agent.book.incidents == before.incidents


def test_redelivered_incident_event_gives_nothing(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    assert agent.event(opened(), T0 + SECOND) == []


# --- resolution -----------------------------------------------------------------------------------------------

def test_resolve_tells_everyone_notified(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(level="yellow"), T0)
    agent.clock(T0 + minutes(10))  # deputy paged
    events, out = agent.command("resolve", "deputy", "K7Q", T0 + minutes(12))
    assert [type(e) for e in events] == [IncidentResolved] and events[0].actor == "deputy"
    assert body_for(out, "deputy") == "已解除K7Q,已告知相关人员"
    assert sorted(to(out)) == sorted(["chief", "deputy", "duty_a", "monitor", "city", "league_b", "league_o"])
    assert body_for(out, "duty_a").startswith("K7Q已解除(副局长)")
    assert agent.clock(T0 + minutes(300)) == ([], [])
    assert agent.incidents.open == {} and agent.book.incidents == {}


def test_the_read_model_names_the_stations_of_the_evidence(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(station="hlh_dsk_auto"), T0)
    assert agent.states[-1].stations == ["hlh_dsk_auto"], "the map marks that station, not its neighbours"


def test_a_note_from_the_console_is_an_event_of_the_incident_and_pages_nobody(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    note = Command(event_id=uid("note"), action="note", incident_code="K7Q", actor="duty_a", channel="console",
                   issued_at=T0 + minutes(4), note="已电话通知下游水厂关闭取水口")
    events, out = agent.send(note, T0 + minutes(4))
    assert [type(e) for e in events] == [IncidentNoted] and out == []
    assert (events[0].actor, events[0].note, events[0].command_id) == ("duty_a", note.note, note.event_id)
    assert events[0].incident_id == opened().incident_id
    assert agent.send(note, T0 + minutes(5)) == ([], []), "the same command twice: one note"
    assert agent.book.incidents[str(opened().incident_id)].stage == "paging", "a note acknowledges nothing"


def test_resolve_event_from_elsewhere_tells_everyone(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    resolved = IncidentResolved(event_id=uid("res"), incident_id=opened().incident_id,
                                source_id="halaha_dashankuang", occurred_at=T0, actor="console")
    out = agent.event(resolved, T0 + minutes(5))
    assert to(out) == ["duty_a", "city"] and out[0].body.startswith("K7Q已解除(console)")


def test_resolve_unknown_or_closed_incident_is_answered(arxan, roster):
    agent = Agent(arxan, roster)
    events, out = agent.command("resolve", "duty_a", "ZZZ", T0)
    assert events == [] and out[0].body == '未找到未解除的预警ZZZ。回复"状态"查看'
    agent.event(opened(), T0)
    agent.command("resolve", "duty_a", "K7Q", T0 + minutes(1))
    events, out = agent.command("resolve", "duty_b", "K7Q", T0 + minutes(2))
    assert events == [] and to(out) == ["duty_b"] and out[0].body == "K7Q已于05-01 08:01由值班甲解除"
    events, out = agent.command("ack", "chief", "K7Q", T0 + minutes(2))
    assert events == [] and out[0].body.startswith("K7Q was resolved by 值班甲 at 05-01 08:01")


def test_console_actor_not_on_the_roster_gets_no_sms(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    events, out = agent.command("resolve", "operator@console", "K7Q", T0 + minutes(5), channel="console")
    assert [type(e) for e in events] == [IncidentResolved] and to(out) == ["duty_a", "city"]


# --- escalate command, failed deliveries ----------------------------------------------------------------------

def test_escalate_command_moves_to_the_next_tier_now(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    events, out = agent.command("escalate", "duty_a", "K7Q", T0 + minutes(2))
    assert [(type(e), e.tier, e.reason) for e in events] == [(IncidentEscalated, 2, "escalated by duty_a")]
    assert sorted(to(out)) == ["chief", "duty_a"]
    assert body_for(out, "duty_a") == "已将K7Q转报第2级:Chief Li"
    _, out = agent.command("escalate", "duty_a", "K7Q", T0 + minutes(3))
    assert out[0].body == "K7Q已是最后一级,无法再转报"
    # the timer now runs from the manual escalation: tier 2 waits 30 min, then the chain repeats
    assert agent.clock(T0 + minutes(32) - SECOND) == ([], [])
    assert [e.tier for e in agent.clock(T0 + minutes(32))[0]] == [1]


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_failed_page_escalates_at_once(arxan, roster, status):
    agent = Agent(arxan, roster)
    page = agent.event(opened(), T0)[0]
    escalated, out = agent.delivery(page, status, T0 + minutes(1))
    assert [e.tier for e in escalated] == [2] and "SMS to 值班甲 " + status in escalated[0].reason
    assert to(out) == ["chief"]
    assert agent.delivery(page, status, T0 + minutes(2), n=1) == ([], [])  # that step is past already
    # the next wait counts from the failure: tier 2 waits 30 min
    assert agent.clock(T0 + minutes(31) - SECOND) == ([], [])
    assert [e.tier for e in agent.clock(T0 + minutes(31))[0]] == [1]


def test_delivered_page_or_failed_after_ack_does_nothing(arxan, roster):
    agent = Agent(arxan, roster)
    page = agent.event(opened(), T0)[0]
    assert agent.delivery(page, "delivered", T0 + minutes(1)) == ([], [])
    agent.command("ack", "duty_a", "K7Q", T0 + minutes(2))
    assert agent.delivery(page, "failed", T0 + minutes(3)) == ([], [])


def test_failed_page_at_the_last_tier_waits_for_the_clock(arxan, roster):
    agent = Agent(arxan, roster)
    page = agent.event(opened(0, "red"), T0)  # red has one tier: nobody above to call
    assert agent.delivery(page[0], "failed", T0 + minutes(1)) == ([], [])


def test_failed_info_sms_does_nothing(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(level="yellow"), T0)
    _, out = agent.command("ack", "duty_a", "K7Q", T0 + minutes(5))
    info = next(n for n in out if n.person_id == "monitor")
    assert agent.delivery(info, "failed", T0 + minutes(6)) == ([], [])


# --- drills ---------------------------------------------------------------------------------------------------

def test_drill_never_pages_a_roster_number(arxan, roster):
    agent = Agent(arxan, roster)
    real_phones = {p.phone for p in roster.people.values()}
    drill = opened(level="orange", drill_id="drill-2026-05")
    out = agent.event(drill, T0)
    assert set(to(out)) == {"drill_a", "drill_b"}
    agent.event(raised(drill, "red", "orange", T0 + minutes(1)), T0 + minutes(1))
    for m in range(0, 120, 3):
        agent.clock(T0 + minutes(m))
    agent.command("resolve", "drill_b", drill.code, T0 + minutes(121))
    agent.clock(T0 + minutes(130))
    sms = [n for n in agent.log if isinstance(n, Notification)]
    assert len(sms) > 10
    for n in sms:
        assert n.to not in real_phones and n.person_id in roster.drill_phones
        assert n.body.startswith(DRILL_PREFIX) and n.drill_id == "drill-2026-05"


def test_drill_phone_cannot_touch_a_real_incident(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    events, out = agent.command("ack", "drill_a", "K7Q", T0 + minutes(1))
    assert events == [] and out[0].body == "【演练】演练号码只能处置演练预警"


def test_real_person_acting_on_a_drill_gets_no_sms_about_it(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(drill_id="d1"), T0)
    events, out = agent.command("ack", "duty_a", "K7Q", T0 + minutes(1), channel="console")
    assert [type(e) for e in events] == [IncidentAcknowledged] and to(out) == []


def test_drill_pending_is_per_drill_phone(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(drill_id="d1"), T0)
    paged = agent.log[0].person_id
    assert [f.code for f in pending_for(agent.book, paged)] == ["K7Q"] and pending_for(agent.book, "duty_a") == []


# --- bundling and the hourly cap ------------------------------------------------------------------------------

def test_bundling_window(one_person_blue):
    agent = Agent(*one_person_blue)
    assert to(agent.event(opened(0), T0)) == ["duty_a"]
    assert agent.event(opened(1), T0 + minutes(0.5)) == []
    assert agent.event(opened(2), T0 + minutes(1)) == []
    assert agent.clock(T0 + minutes(2) - SECOND) == ([], [])
    _, out = agent.clock(T0 + minutes(2))
    assert to(out) == ["duty_a"] and out[0].incident_ids == [opened(1).incident_id, opened(2).incident_id]
    assert out[0].body.startswith("2条预警消息:蓝Q3M")
    assert out[0].body.endswith('回复"1 代码"确认,"9 代码"解除')
    # a new window opened with the bundle: another incident within it waits for its end
    assert agent.event(opened(3), T0 + minutes(3)) == []
    _, out = agent.clock(T0 + minutes(4))
    assert to(out) == ["duty_a"] and out[0].body.startswith("蓝色预警 HH7")  # one message: sent as itself
    assert to(agent.event(opened(4), T0 + minutes(7))) == ["duty_a"]       # window over: at once


def test_bundle_shows_the_latest_about_each_incident(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(0, "yellow"), T0)              # monitor told at once
    agent.event(opened(1, "yellow"), T0 + minutes(1))  # held for monitor
    agent.command("resolve", "chief", "Q3M", T0 + minutes(1.5))  # held for monitor too, about the same incident
    _, out = agent.clock(T0 + minutes(2))
    monitor = [n for n in out if n.person_id == "monitor"]
    assert len(monitor) == 1
    assert monitor[0].body.startswith("Q3M已解除(Chief Li)。黄色预警 哈拉哈河大山矿断面")


def test_event_after_the_window_sends_held_ones_with_it(one_person_blue):
    agent = Agent(*one_person_blue)
    agent.event(opened(0), T0)
    agent.event(opened(1), T0 + minutes(1))
    out = agent.event(opened(2), T0 + minutes(3))  # no clock tick in between: held + new go out together
    assert to(out) == ["duty_a"] and out[0].incident_ids == [opened(1).incident_id, opened(2).incident_id]


def test_hourly_cap_holds_and_summarises_and_red_is_never_held(arxan, roster):
    capped = roster.model_copy(update={"paging": roster.paging.model_copy(update={"cap_per_hour": 3})})
    agent = Agent(arxan, capped)
    monitor = []
    for n in range(5):  # yellow: monitor is told of each, 3 minutes apart (past the bundling window)
        monitor += [x for x in agent.event(opened(n, "yellow"), T0 + minutes(3 * n)) if x.person_id == "monitor"]
    assert len(monitor) == 3
    red = [x for x in agent.event(opened(5, "red"), T0 + minutes(20)) if x.person_id == "monitor"]
    assert len(red) == 1 and red[0].incident_ids == [opened(5).incident_id]  # red goes out past the cap
    summaries = []
    for m in range(21, 61):
        summaries += [x for x in agent.clock(T0 + minutes(m))[1] if x.person_id == "monitor"]
    assert len(summaries) == 1 and summaries[0].created_at == T0 + minutes(60)
    assert summaries[0].body.startswith("近1小时另有2条消息(超过每小时3条)")
    assert summaries[0].incident_ids == [opened(3).incident_id, opened(4).incident_id]


def test_default_cap_and_window(roster):
    assert roster.paging.cap_per_hour == 10 and roster.paging.bundle_seconds == 120


# --- maintenance ----------------------------------------------------------------------------------------------

def test_maintenance_suppresses_then_pages_if_still_firing(arxan, roster):
    agent = Agent(arxan, roster)
    incident = opened(0, "yellow", source="arxan_city_drinking_source", station="city_source_auto")
    assert agent.event(incident, T0) == []
    assert agent.clock(T0 + minutes(59)) == ([], [])
    _, out = agent.clock(T0 + minutes(60))  # the window ends at 09:00
    assert sorted(to(out)) == sorted(["duty_a", "chief", "monitor", "city", "league_b", "league_o"])
    assert agent.clock(T0 + minutes(69)) == ([], [])  # its chain starts at the end of the window
    assert [e.tier for e in agent.clock(T0 + minutes(70))[0]] == [2]


def test_maintenance_incident_that_cleared_is_not_paged(arxan, roster):
    agent = Agent(arxan, roster)
    incident = opened(0, "yellow", source="arxan_city_drinking_source", station="city_source_auto")
    agent.event(incident, T0)
    clear = raised(incident, "yellow", "yellow", T0 + minutes(30),
                   reason="all rules back within limits (last: x); awaiting resolution", all_clear=True)
    assert agent.event(clear, T0 + minutes(30)) == []
    assert agent.clock(T0 + minutes(120)) == ([], [])


def test_other_stations_are_not_suppressed(arxan, roster):
    assert to(Agent(arxan, roster).event(opened(0), T0)) == ["duty_a", "city"]


def test_maintenance_through_the_real_engine(arxan, roster):
    """Readings -> rules -> the desk, so the all-clear that contingency.incidents sets is the one paging reads."""
    agent, sent, state = Agent(arxan, roster), [], None
    for at, value in ((T0, 0.5), (T0 + minutes(10), 1.3), (T0 + minutes(40), 0.4)):
        reading = report("city_source_auto", at, ("ammonia_nitrogen", value, "mg/L"))
        state, detections = evaluate(arxan, state, reading, at)
        for detection in detections:
            sent += agent._handle(detection, at).notifications
    assert len(agent.incidents.open) == 1 and sent == []
    _, out = agent.clock(T0 + minutes(120))
    assert out == []


# --- level raises ---------------------------------------------------------------------------------------------

def test_raise_pages_the_new_chain_and_needs_a_new_ack(arxan, roster):
    agent = Agent(arxan, roster)
    first = opened(0, "blue")
    agent.event(first, T0)
    agent.command("ack", "duty_a", "K7Q", T0 + minutes(2))
    out = agent.event(raised(first, "orange", "blue", T0 + minutes(4)), T0 + minutes(4))
    assert sorted(to(out)) == sorted(["duty_a", "chief", "deputy", "monitor", "city", "league_b", "league_o", "region"])
    assert body_for(out, "duty_a").startswith("【升级】橙色预警 K7Q(原蓝色)")
    assert body_for(out, "chief").startswith("RAISED to ORANGE alert K7Q")
    assert [f.code for f in pending_for(agent.book, "duty_a")] == ["K7Q"]
    escalated, out = agent.clock(T0 + minutes(9))  # orange tier 1 waits 5 min: then the director
    assert [e.tier for e in escalated] == [2] and to(out) == ["director"]


def test_raise_tells_those_called_before_who_are_not_in_the_new_first_tier(arxan, roster):
    agent = Agent(arxan, roster)
    first = opened(0, "yellow")
    agent.event(first, T0)
    agent.clock(T0 + minutes(10))
    agent.clock(T0 + minutes(30))  # director called at yellow tier 3
    out = agent.event(raised(first, "orange", "yellow", T0 + minutes(35)), T0 + minutes(35))
    assert "director" in to(out) and body_for(out, "director").startswith("【升级】橙色预警")


def test_update_without_a_higher_level_pages_nobody(arxan, roster):
    agent = Agent(arxan, roster)
    first = opened(0, "yellow")
    agent.event(first, T0)
    assert agent.event(raised(first, "yellow", "yellow", T0 + minutes(5), "also firing: x"), T0 + minutes(5)) == []


# --- determinism ----------------------------------------------------------------------------------------------

def scenario(agent: Agent) -> list[object]:
    agent.event(opened(0, "yellow"), T0)
    agent.event(opened(1, "blue"), T0 + minutes(1))
    agent.event(opened(2, "orange", drill_id="d1"), T0 + minutes(1))
    agent.clock(T0 + minutes(2))
    page = next(n for n in agent.log if isinstance(n, Notification) and n.person_id == "duty_a")
    agent.delivery(page, "undelivered", T0 + minutes(3))
    agent.command("ack", "deputy", "K7Q", T0 + minutes(4))
    agent.command("ack", "chief", "K7Q", T0 + minutes(5))
    agent.event(raised(opened(1), "yellow", "blue", T0 + minutes(6)), T0 + minutes(6))
    for m in range(7, 90, 4):
        agent.clock(T0 + minutes(m))
    agent.command("resolve", "duty_a", "Q3M", T0 + minutes(91))
    agent.command("resolve", "drill_a", "AC4", T0 + minutes(92))
    agent.clock(T0 + minutes(95))
    return agent.log


def test_same_inputs_give_equal_outputs(arxan, roster):
    first, second = scenario(Agent(arxan, roster)), scenario(Agent(arxan, roster))
    assert first == second and len(first) > 20
    ids = [n.notification_id for n in first if isinstance(n, Notification)]
    assert len(ids) == len(set(ids))


def test_json_round_trip_mid_sequence_gives_the_same_outputs(arxan, roster):
    assert scenario(Agent(arxan, roster, roundtrip=True)) == scenario(Agent(arxan, roster))


def test_every_sms_fits_two_segments(arxan, roster):
    for n in scenario(Agent(arxan, roster)):
        if isinstance(n, Notification):
            assert segments(n.body) <= 2, n.body


# --- properties -----------------------------------------------------------------------------------------------

step = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 5), st.sampled_from(["blue", "yellow", "orange", "red"]),
              st.booleans()),
    st.tuples(st.just("raise"), st.integers(0, 5), st.sampled_from(["yellow", "orange", "red"]), st.booleans()),
    st.tuples(st.just("command"), st.sampled_from(["ack", "resolve", "escalate"]),
              st.sampled_from(["duty_a", "chief", "deputy", "drill_a", "nobody"]), st.integers(0, 6)),
    st.tuples(st.just("fail"), st.integers(0, 40), st.sampled_from(["failed", "undelivered", "delivered"]),
              st.booleans()),
    st.tuples(st.just("clock"), st.integers(0, 40), st.booleans(), st.booleans()),
)


def play(agent: Agent, steps) -> list[object]:
    now = T0
    levels: dict[tuple[int, bool], str] = {}
    for index, s in enumerate(steps):
        now += minutes(1)
        if s[0] == "open":
            event = opened(s[1], s[2], drill_id="d" if s[3] else None, at=now)
            levels.setdefault((s[1], s[3]), s[2])
            agent.event(event, now)
        elif s[0] == "raise" and (s[1], s[3]) in levels:
            before = levels[(s[1], s[3])]
            event = opened(s[1], before, drill_id="d" if s[3] else None)
            agent.event(raised(event, s[2], before, now), now)
        elif s[0] == "command":
            agent.command(s[1], s[2], CODES[s[3]], now, n=index)
        elif s[0] == "fail":
            sent = [n for n in agent.log if isinstance(n, Notification)]
            if sent:
                agent.delivery(sent[s[1] % len(sent)], s[2], now, n=index)
        else:
            now += minutes(s[1])
            agent.clock(now)
    return agent.log


PLAN = chain_only(load_plan(ARXAN))
ROSTER = roster_from_text(TEST_ROSTER, PLAN)  # module-level: hypothesis would print fixtures in full


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=30))
def test_any_sequence_never_raises_is_deterministic_and_keeps_drills_apart(steps):
    log = play(Agent(PLAN, ROSTER), steps)
    assert log == play(Agent(PLAN, ROSTER, roundtrip=True), steps)
    drill_phones = {d.phone for d in ROSTER.drill_phones.values()}
    for n in log:
        if isinstance(n, Notification):
            assert segments(n.body) <= 2
            assert n.body.startswith(DRILL_PREFIX) == (n.to in drill_phones)  # a drill phone is told it is one
            if n.drill_id is not None:
                assert n.to in drill_phones


def test_in_a_storm_a_mailbox_stays_bounded_a_full_bundle_goes_at_once_and_the_summary_counts_all(roster):
    """Hundreds of incidents at once: a person's bundle goes out when it holds MAX_HELD messages rather than at its
    window's end, and past the hourly cap the summary keeps MAX_HELD and counts the rest."""
    import uuid

    from contingency.paging_state import MAX_HELD

    agent = Agent(PLAN, roster)
    storm = 3 * MAX_HELD * 5  # enough to pass the hourly cap of 10 SMS with bundles of MAX_HELD
    for n in range(storm):
        event = opened(0, "blue").model_copy(update={"incident_id": uuid.uuid4(), "event_id": uuid.uuid4(),
                                                    "source_id": f"source_{n}", "code": f"S{n:04d}"})
        agent.event(event, T0 + dt.timedelta(seconds=n // 10))
        for box in agent.book.mailboxes.values():
            assert len(box.held) < MAX_HELD and len(box.capped) <= MAX_HELD
    to_duty = [n for n in agent.log if isinstance(n, Notification) and n.person_id == "duty_a"]
    assert len(to_duty) == 10, "the hourly cap still holds: full bundles used it up"
    assert "条预警消息" in to_duty[1].body and f"等{MAX_HELD}条" in to_duty[1].body
    box = agent.book.mailboxes["duty_a"]
    assert box.capped_more > 0 and len(box.capped) == MAX_HELD
    seen = len(agent.log)
    agent.clock(T0 + dt.timedelta(hours=1, minutes=1))
    [summary] = [n for n in agent.log[seen:] if isinstance(n, Notification) and n.person_id == "duty_a"
                 and n.body.startswith("近1小时")]  # (the hour's unanswered incidents also escalate now)
    counted = len(box.capped) + box.capped_more + 1  # and the message whose posting found the hour over
    assert f"另有{counted}条" in summary.body and f"等{counted}条" in summary.body, summary.body
    assert segments(summary.body) <= 2
