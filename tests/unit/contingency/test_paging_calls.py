"""叫应: a tier that says `call` calls its people when they have not acknowledged its SMS within the wait, or when
their SMS failed; a key 1 acknowledges (a command, as an SMS reply), a call not answered with 1 moves the chain on,
and a call never waits in a bundling window or under the hourly cap."""
from __future__ import annotations

import datetime as dt

import pytest

from contingency import roster_from_text
from contingency.sms_templates import templates_from_text
from contingency.roster import for_sms
from contingency_helpers import T0, minutes
from schemas import DeliveryStatus, IncidentEscalated
from test_paging import TEST_ROSTER, Agent, arxan, opened, to, uid  # noqa: F401 (arxan: the fixture, chains only)

TEMPLATES = "plans/arxan-sms-templates.yaml"


def calling(plan, *, wait: float = 15, call_wait: float = 3, level: str = "blue"):
    """The plan with tier 1 of `level` calling (blue: the duty officer; yellow: the duty officer and the chief), and
    nobody told at once (the chain's `notify`): what these tests follow is who is paged and called."""
    chain = plan.escalation[level]
    tiers = [chain.tiers[0].model_copy(update={"call": True, "call_wait_minutes": call_wait, "wait_minutes": wait}),
             *chain.tiers[1:]]
    escalation = {**plan.escalation, level: chain.model_copy(update={"tiers": tiers, "notify": []})}
    return plan.model_copy(update={"escalation": escalation})


@pytest.fixture(scope="module")
def roster(arxan):
    return roster_from_text(TEST_ROSTER, arxan)


def calls(out):
    return [n for n in out if n.channel == "voice"]


def test_unacknowledged_sms_is_followed_by_a_call_then_the_next_tier(arxan, roster):
    plan = calling(arxan)
    agent = Agent(plan, roster)
    page = agent.event(opened(), T0)
    assert [n.channel for n in page] == ["sms"] and to(page) == ["duty_a"]
    assert agent.clock(T0 + minutes(15) - dt.timedelta(seconds=1)) == ([], [])
    events, out = agent.clock(T0 + minutes(15))
    assert [(type(e), e.tier) for e in events] == [(IncidentEscalated, 1)]
    assert "no acknowledgement within 15 min: calling 值班甲 (叫应)" in events[0].reason
    call = calls(out)
    assert len(out) == 1 and to(call) == ["duty_a"] and call[0].incident_ids == [opened().incident_id]
    assert call[0].body.startswith("蓝色预警,编号K7Q。") and call[0].body.endswith("确认收到请按1。")
    assert call[0].template is None  # a Twilio deployment: free text, read out by <Say>
    # the call gets its call_wait (3 min); then tier 2 is paged by SMS
    assert agent.clock(T0 + minutes(18) - dt.timedelta(seconds=1)) == ([], [])
    events, out = agent.clock(T0 + minutes(18))
    assert [e.tier for e in events] == [2] and to(out) == ["chief"] and calls(out) == []


def test_a_call_not_answered_with_1_moves_the_chain_on_at_once(arxan, roster):
    agent = Agent(calling(arxan), roster)
    agent.event(opened(), T0)
    call = calls(agent.clock(T0 + minutes(15))[1])[0]
    receipt = DeliveryStatus(event_id=uid("call status"), notification_id=call.notification_id,
                             status="undelivered", reason="no answer (200003)", at=T0 + minutes(16))
    events, out = agent._handle(receipt, T0 + minutes(16)).events, agent.log[-1:]
    assert [e.tier for e in events] == [2]
    assert "call to 值班甲 undelivered: no answer (200003): tier 2 called at once" in events[0].reason
    assert to([n for n in agent.log if getattr(n, "person_id", None) == "chief"]) == ["chief"]
    # the old call timer is gone: tier 2 waits its 30 min from the failure
    assert agent.clock(T0 + minutes(18))[0] == []


def test_a_failed_sms_on_a_calling_tier_calls_at_once_and_only_once(arxan, roster):
    agent = Agent(calling(arxan), roster)
    page = agent.event(opened(), T0)[0]
    events, out = agent.delivery(page, "failed", T0 + minutes(1))
    assert "SMS to 值班甲 failed (30003): calling 值班甲 (叫应)" in events[0].reason and to(calls(out)) == ["duty_a"]
    # the tier's wait still runs from the page: at 15 min the one called at minute 1 is not called again, and
    # the chain moves on (that call had its 3 minutes long ago)
    events, out = agent.clock(T0 + minutes(15))
    assert calls(out) == [] and [e.tier for e in events] == [2] and to(out) == ["chief"]


def test_a_late_failure_call_gets_its_call_wait_and_the_others_are_called_at_the_wait(arxan, roster):
    agent = Agent(calling(arxan, level="yellow", wait=10), roster)
    pages = agent.event(opened(level="yellow"), T0)
    duty = next(n for n in pages if n.person_id == "duty_a")
    events, out = agent.delivery(duty, "undelivered", T0 + minutes(9))
    assert to(calls(out)) == ["duty_a"]
    events, out = agent.clock(T0 + minutes(10))  # the chief's SMS went through but nobody acknowledged
    assert to(calls(out)) == ["chief"] and "calling Chief Li (叫应)" in events[0].reason
    assert agent.clock(T0 + minutes(13) - dt.timedelta(seconds=1)) == ([], [])
    events, _ = agent.clock(T0 + minutes(13))
    assert [e.tier for e in events] == [2]


def test_key_1_acknowledges_like_an_sms_reply(arxan, roster):
    agent = Agent(calling(arxan), roster)
    agent.event(opened(), T0)
    agent.clock(T0 + minutes(15))
    events, out = agent.command("ack", "duty_a", None, T0 + minutes(16), incident_id=opened().incident_id,
                                channel="voice")
    assert [type(e).__name__ for e in events] == ["IncidentAcknowledged"]
    assert agent.clock(T0 + minutes(60)) == ([], [])  # escalation stopped


def test_a_call_is_never_held_by_the_bundling_window_or_the_cap(arxan, roster):
    agent = Agent(calling(arxan, wait=1), roster)
    agent.event(opened(0), T0)
    agent.event(opened(1), T0 + dt.timedelta(seconds=10))  # held in duty_a's bundling window
    _, out = agent.clock(T0 + minutes(1))
    assert len(calls(out)) == 1  # incident 0's call at once; incident 1 is still within its wait
    _, out = agent.clock(T0 + minutes(1) + dt.timedelta(seconds=10))
    assert [n.incident_ids[0] for n in calls(out)] == [opened(1).incident_id]


def test_drill_calls_go_to_drill_phones(arxan, roster):
    agent = Agent(calling(arxan), roster)
    page = agent.event(opened(drill_id="d1"), T0)
    _, out = agent.clock(T0 + minutes(15))
    call = calls(out)[0]
    assert call.person_id == to(page)[0] and call.person_id.startswith("drill_") and call.drill_id == "d1"
    assert call.body.startswith("【演练】")


def test_aliyun_call_is_the_registered_voice_template(arxan, roster):
    templates = templates_from_text(open(TEMPLATES, encoding="utf-8").read(), TEMPLATES)
    agent = Agent(calling(arxan), for_sms(roster, "aliyun", templates))
    agent.event(opened(), T0)
    call = calls(agent.clock(T0 + minutes(15))[1])[0]
    assert call.template == "call" and {"level", "code", "place", "value", "limit", "time"} <= call.params.keys()
    assert call.params["limit"] == ",限值≤1mg/L" and "请按1" in call.body and call.body.startswith("阿尔山市生态环境局")


def test_replaying_the_same_inputs_calls_the_same_way(arxan, roster):
    outputs = []
    for roundtrip in (False, True):
        agent = Agent(calling(arxan), roster, roundtrip=roundtrip)
        page = agent.event(opened(), T0)[0]
        agent.delivery(page, "failed", T0 + minutes(1))
        agent.clock(T0 + minutes(18))
        outputs.append(agent.log)
    assert outputs[0] == outputs[1]


def test_a_page_waiting_out_flow_control_calls_on_a_calling_tier_and_waits_elsewhere(arxan, roster):
    agent = Agent(calling(arxan), roster)
    page = agent.event(opened(), T0)[0]
    deferral = DeliveryStatus(event_id=uid("deferred", 1), notification_id=page.notification_id, status="deferred",
                              reason="rate limited: isv.BUSINESS_LIMIT_CONTROL", at=T0 + minutes(1))
    decision = agent._handle(deferral, T0 + minutes(1))
    assert "SMS to 值班甲 deferred: rate limited: isv.BUSINESS_LIMIT_CONTROL: calling 值班甲 (叫应)" in \
        decision.events[0].reason and to(calls(decision.notifications)) == ["duty_a"]
    again = DeliveryStatus(event_id=uid("deferred", 2), notification_id=page.notification_id, status="deferred",
                           reason="rate limited", at=T0 + minutes(2))
    assert agent._handle(again, T0 + minutes(2)).notifications == [], "called once, however often it waits"
    plain = Agent(arxan, roster)  # a tier that does not call: the page just waits, the clock walks the chain
    page = plain.event(opened(), T0)[0]
    deferral = deferral.model_copy(update={"notification_id": page.notification_id})
    decision = plain._handle(deferral, T0 + minutes(1))
    assert decision.events == [] and decision.notifications == []
