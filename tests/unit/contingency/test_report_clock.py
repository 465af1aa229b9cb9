"""Issue 15 item 1, the reporting clock in the incident desk: an incident owes its initial report (初报) by a
deadline; the role responsible (Arxan: the section chief) is reminded 60 and 15 minutes before it and once it has
passed; "5 CODE" records the report as filed (an incident.report_filed event), on time or late."""
from __future__ import annotations

import pytest

from contingency import load_plan, roster_from_text
from contingency.replies import Reply, parse_reply
from contingency_helpers import ARXAN, T0, minutes
from schemas.incidents import IncidentReportFiled
from test_paging import TEST_ROSTER, Agent, opened, raised

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
