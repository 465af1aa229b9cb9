"""Issue 15 item 1, the reporting clock in the incident desk: an incident owes its initial report (初报) by a
deadline; the role responsible (Arxan: the section chief) is reminded 60 and 15 minutes before it and once it has
passed; "5 CODE" records the report as filed (an incident.report_filed event), on time or late."""
from __future__ import annotations

import pytest

from contingency import load_plan, roster_from_text
from contingency.incident_states import Board, board_of
from contingency.replies import Reply, answer_reply, parse_reply
from contingency.roster import person_by_id
from contingency_helpers import ARXAN, T0, arxan_variant, hours, minutes
from schemas.incidents import IncidentReportFiled
from test_paging import TEST_ROSTER, Agent, opened, raised, uid

ZH_ROSTER = TEST_ROSTER.replace('roles: [section_chief], phone: "+8613800000103", language: en',
                                'roles: [section_chief], phone: "+8613800000103"')


@pytest.fixture(scope="module")
def plan():
    return load_plan(ARXAN)  # with reporting.responsible: section_chief


@pytest.fixture(scope="module")
def roster(plan):
    return roster_from_text(ZH_ROSTER, plan)


def reminders(notifications) -> list[tuple[str, str]]:
    return [(n.person_id, n.body) for n in notifications if "初报" in getattr(n, "body", "")]


def test_the_section_chief_is_reminded_before_the_deadline_and_when_it_passes(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)  # the Halaha section, a border river: the grade II procedure, 2 hours
    state = agent.states[-1]
    assert state.report_due_at == T0 + minutes(120) and state.report_to == ["city_government", "region_department"]
    assert reminders(agent.clock(T0 + minutes(59))[1]) == []
    assert reminders(agent.clock(T0 + minutes(60))[1]) == [("chief", 'K7Q初报须于10:00前报送(余60分钟),已报回复"5 K7Q"')]
    assert reminders(agent.clock(T0 + minutes(61))[1]) == [], "once"
    assert reminders(agent.clock(T0 + minutes(105))[1]) == [("chief", 'K7Q初报须于10:00前报送(余15分钟),已报回复"5 K7Q"')]
    assert reminders(agent.clock(T0 + minutes(121))[1]) == [("chief", 'K7Q初报已过10:00时限,请立即报送,已报回复"5 K7Q"')]
    assert reminders(agent.clock(T0 + minutes(180))[1]) == []
    assert all(len(body) <= 35 for _, body in reminders(agent.log)), "Aliyun's answer template slot: 35 characters"


def test_a_clock_that_jumps_sends_one_reminder_not_three(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)
    assert [body for _, body in reminders(agent.clock(T0 + minutes(130))[1])] == [
        'K7Q初报已过10:00时限,请立即报送,已报回复"5 K7Q"']


def test_5_code_records_the_report_as_filed_once(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)
    events, out = agent.command("report", "duty_a", "K7Q", T0 + minutes(40))
    [filed] = events
    assert isinstance(filed, IncidentReportFiled) and filed.on_time and filed.actor == "duty_a"
    assert filed.due_at == T0 + minutes(120) and [n.body for n in out] == ["已登记K7Q初报报送,按时"]
    assert agent.states[-1].report_filed_at == T0 + minutes(40)
    assert reminders(agent.clock(T0 + minutes(121))[1]) == [], "filed: no reminder"
    events, out = agent.command("report", "chief", "K7Q", T0 + minutes(50))
    assert events == [] and [n.body for n in out] == ["K7Q初报已由值班甲于08:40登记"]


def test_a_late_report_is_recorded_as_late(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)
    [filed], out = agent.command("report", "chief", "K7Q", T0 + minutes(135))
    assert not filed.on_time and [n.body for n in out] == ["已登记K7Q初报报送,超时15分钟"]


def test_a_raise_tightens_a_report_not_yet_filed(plan, roster) -> None:
    agent = Agent(plan, roster)
    event = opened(source="yirshi_wwtp_outfall", station="yirshi_wwtp_online")  # grade IV, upstream of no
    agent.event(event, T0)                                                         # drinking water: 4 hours
    assert agent.states[-1].report_due_at == T0 + minutes(240)
    agent.event(raised(event, "orange", "blue", T0 + minutes(60)), T0 + minutes(60))  # grade II: 2 hours from now
    state = agent.states[-1]
    assert state.report_due_at == T0 + minutes(180)
    assert state.report_to == ["city_government", "league_bureau", "region_department"]


def test_drill_reminders_go_to_drill_phones(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(drill_id="d1"), T0)
    sent = reminders(agent.clock(T0 + minutes(60))[1])
    assert sent and all(person.startswith("drill_") and body.startswith("【演练】") for person, body in sent)


@pytest.mark.parametrize("text, reply", [("5 K7Q", Reply("report", "K7Q")), ("5K7Q", Reply("report", "K7Q")),
                                         ("已报 k7q", Reply("report", "K7Q")), ("K7Q 5", Reply("report", "K7Q"))])
def test_a_filing_reply_is_understood(text, reply) -> None:
    assert parse_reply(text) == reply


def test_a_silent_station_owes_no_report(plan, roster) -> None:
    agent = Agent(plan, roster)
    event = opened().model_copy(update={"rule_id": "water_station_silent", "kind": "station_silence"})
    agent.event(event, T0)
    assert agent.states[-1].report_due_at is None
    assert reminders(agent.clock(T0 + minutes(200))[1]) == []


# --- follow-up (续报) and final (处理结果报告) reports: 信息报告办法 第十二、十三条------------------------------------------

def answers(out) -> list[str]:
    return [n.body for n in out]


def resolve(agent: Agent, at) -> list[str]:
    """Resolve K7Q; what the section chief was told."""
    _, out = agent.command("resolve", "duty_a", "K7Q", at)
    return [n.body for n in out if n.person_id == "chief"]


def test_follow_ups_are_recorded_after_the_initial_report_each_one(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)
    events, out = agent.command("report", "chief", "K7Q", T0 + minutes(10), report="follow_up")
    assert events == [] and answers(out) == ['K7Q未登记初报,请先报初报并回复"5 K7Q"']
    agent.command("report", "chief", "K7Q", T0 + minutes(30))
    [first], out = agent.command("report", "chief", "K7Q", T0 + minutes(90), report="follow_up")
    assert answers(out) == ["已登记K7Q第1次续报"]
    assert (first.report, first.sequence, first.due_at, first.on_time) == ("follow_up", 1, None, True)
    [second], out = agent.command("report", "chief", "K7Q", T0 + minutes(150), report="follow_up")
    assert second.sequence == 2 and answers(out) == ["已登记K7Q第2次续报"]
    assert agent.states[-1].follow_ups == [T0 + minutes(90), T0 + minutes(150)]


def test_the_final_report_is_owed_once_resolved_and_completes_the_reports(plan, roster) -> None:
    agent = Agent(plan, roster, roundtrip=True)  # the owed reports survive the books' JSON
    agent.event(opened(), T0)
    agent.command("report", "chief", "K7Q", T0 + minutes(30))
    events, out = agent.command("report", "chief", "K7Q", T0 + minutes(60), report="final")
    assert events == [] and answers(out) == ["K7Q未解除,解除后再登记处理结果报告"]
    assert 'K7Q已解除,请报送处理结果报告,报后回复"7 K7Q"' in resolve(agent, T0 + minutes(200))
    resolved = agent.states[-1]
    assert resolved.stage == "resolved" and resolved.reports_owed and resolved.final_report_filed_at is None
    assert board_of(plan, agent.books, T0 + minutes(201)).owing_by_code("K7Q").incident_id == resolved.incident_id
    [final], out = agent.command("report", "chief", "K7Q", T0 + hours(30), report="final")
    assert answers(out) == ["已登记K7Q处理结果报告,报告已齐"]
    assert (final.report, final.due_at, final.incident_id) == ("final", None, resolved.incident_id)
    state = agent.states[-1]
    assert (state.stage, state.final_report_filed_at, state.final_report_filed_by, state.reports_owed) == (
        "resolved", T0 + hours(30), "chief", False)
    assert state.report_filed_at == T0 + minutes(30), "the state keeps what it said before"
    agent.clock(T0 + hours(31))  # all filed: the desk lets it go
    assert agent.book.owed == {}
    events, out = agent.command("report", "chief", "K7Q", T0 + hours(32), report="final")
    assert events == [] and answers(out) == ["K7Q已于05-01 11:20由值班甲解除"]


def test_the_chief_hears_of_the_final_report_when_the_incident_is_resolved(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)
    agent.command("report", "chief", "K7Q", T0 + minutes(30))
    told = resolve(agent, T0 + minutes(200))
    assert 'K7Q已解除,请报送处理结果报告,报后回复"7 K7Q"' in told and all(len(b) <= 35 for b in told[-1:])


def test_an_initial_report_owed_at_the_resolution_is_still_reminded_and_can_be_filed(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)
    assert not any("处理结果报告" in body for body in resolve(agent, T0 + minutes(20))), "the initial one first"
    assert agent.states[-1].reports_owed
    assert reminders(agent.clock(T0 + minutes(60))[1]) == [("chief", 'K7Q初报须于10:00前报送(余60分钟),已报回复"5 K7Q"')]
    [filed], out = agent.command("report", "chief", "K7Q", T0 + minutes(70))
    assert filed.on_time and answers(out) == ["已登记K7Q初报报送,按时"]
    state = agent.states[-1]
    assert (state.stage, state.report_filed_at, state.reports_owed) == ("resolved", T0 + minutes(70), True)
    assert reminders(agent.clock(T0 + minutes(121))[1]) == [], "filed: no overdue reminder"


def test_a_plan_may_give_the_final_report_a_deadline(tmp_path, roster) -> None:
    plan = load_plan(arxan_variant(tmp_path, "  stricter_grade: II\n", "  stricter_grade: II\n  final_within_days: 2\n"))
    agent = Agent(plan, roster_from_text(ZH_ROSTER, plan))
    agent.event(opened(), T0)
    agent.command("report", "chief", "K7Q", T0 + minutes(30))
    resolve(agent, T0 + hours(5))
    assert agent.states[-1].final_report_due_at == T0 + hours(53)
    assert agent.clock(T0 + hours(52))[1] == []
    due = [(n.person_id, n.body) for n in agent.clock(T0 + hours(53))[1]]
    assert due == [("chief", 'K7Q处理结果报告05-03 13:00到期,报后回复"7 K7Q"')]
    assert agent.clock(T0 + hours(60))[1] == [], "once"
    [final], out = agent.command("report", "chief", "K7Q", T0 + hours(65), report="final")
    assert not final.on_time and answers(out) == ["已登记K7Q处理结果报告,超时12小时"]


def test_the_owed_reports_are_bounded(plan, roster) -> None:
    from contingency.paging_state import MAX_OWED

    agent = Agent(plan, roster)
    for n in range(MAX_OWED + 3):
        event = opened().model_copy(update={"incident_id": uid("owed", n), "event_id": uid("owed-opened", n),
                                            "code": f"Q{n:03d}"})
        agent.event(event, T0 + minutes(n))
        agent.command("resolve", "duty_a", f"Q{n:03d}", T0 + minutes(n) + minutes(0.5))
    assert len(agent.book.owed) == MAX_OWED
    assert str(uid("owed", 0)) not in agent.book.owed and str(uid("owed", MAX_OWED + 2)) in agent.book.owed


@pytest.mark.parametrize("text, reply", [
    ("6 K7Q", Reply("report", "K7Q", report="follow_up")), ("续报K7Q", Reply("report", "K7Q", report="follow_up")),
    ("6K7Q", Reply("report", "K7Q", report="follow_up")), ("7 k7q", Reply("report", "K7Q", report="final")),
    ("结果报告 K7Q", Reply("report", "K7Q", report="final")), ("终报 K7Q", Reply("report", "K7Q", report="final")),
    ("FINAL K7Q", Reply("report", "K7Q", report="final")), ("初报 K7Q", Reply("report", "K7Q"))])
def test_follow_up_and_final_replies_are_understood(text, reply) -> None:
    assert parse_reply(text) == reply


def test_an_sms_7_code_names_the_resolved_incident_that_owes_its_final_report(plan, roster) -> None:
    agent = Agent(plan, roster)
    agent.event(opened(), T0)
    agent.command("report", "chief", "K7Q", T0 + minutes(30))
    resolve(agent, T0 + minutes(200))
    board = Board.of_states(agent.states)
    chief = person_by_id(roster, "chief")
    answer, command = answer_reply(plan, roster, board, chief, parse_reply("7 K7Q"), T0 + hours(10), message_id="m1")
    assert answer is None and command is not None
    assert (command.action, command.report, command.incident_id) == ("report", "final", agent.states[-1].incident_id)
    listing, none = answer_reply(plan, roster, board, chief, parse_reply("7"), T0 + hours(10), message_id="m2")
    assert none is None and listing is not None and "K7Q" in listing.body and "7 代码" in listing.body
