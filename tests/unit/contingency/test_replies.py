"""SMS replies: the parser's table of inputs, and the answers and commands for each situation."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contingency import Reply, answer_reply, parse_reply
from contingency.incident_states import Board, board_of
from contingency.roster import person_by_id, person_by_phone
from contingency.sms_text import segments
from contingency_helpers import T0, minutes
from test_paging import PLAN, ROSTER, Agent, opened
from schemas import IncidentAcknowledged, IncidentResolved

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("text, expected", [
    ("1 K7Q", Reply("ack", "K7Q")),
    ("确认 K7Q", Reply("ack", "K7Q")),
    ("ACK K7Q", Reply("ack", "K7Q")),
    ("ack k7q", Reply("ack", "K7Q")),
    ("收到 K7Q", Reply("ack", "K7Q")),
    ("9 K7Q", Reply("resolve", "K7Q")),
    ("解除 K7Q", Reply("resolve", "K7Q")),
    ("RESOLVE K7Q", Reply("resolve", "K7Q")),
    ("Resolve k7q", Reply("resolve", "K7Q")),
    ("1", Reply("ack")),
    ("确认", Reply("ack")),
    ("收到", Reply("ack")),
    ("9", Reply("resolve")),
    ("状态", Reply("status")),
    ("STATUS", Reply("status")),
    ("status", Reply("status")),
    ("１　Ｋ７Ｑ", Reply("ack", "K7Q")),        # full-width digit, ideographic space, full-width letters
    ("９　ｋ７ｑ", Reply("resolve", "K7Q")),
    ("１Ｋ７Ｑ", Reply("ack", "K7Q")),
    ("1K7Q", Reply("ack", "K7Q")),
    ("9k7q", Reply("resolve", "K7Q")),
    ("确认K7Q", Reply("ack", "K7Q")),
    ("确认：K7Q！", Reply("ack", "K7Q")),
    ("【确认】K7Q。", Reply("ack", "K7Q")),
    ("1, k7q.", Reply("ack", "K7Q")),
    ("  9   K7Q  ", Reply("resolve", "K7Q")),
    ("ACK-K7Q", Reply("ack", "K7Q")),
    ("“1 K7Q”", Reply("ack", "K7Q")),           # copied with the quotes of the instruction
    ('"9 K7Q"', Reply("resolve", "K7Q")),
    ("K7Q 1", Reply("ack", "K7Q")),
    ("K7Q确认", Reply("ack", "K7Q")),
    ("1 K7Q 已到现场", Reply("ack", "K7Q", "已到现场")),
    ("9 K7Q 已处置完毕", Reply("resolve", "K7Q", "已处置完毕")),
    ("收到谢谢", Reply("ack", None, "谢谢")),
    ("19AC", Reply("ack", "9AC")),
    ("9AC", Reply("help")),                    # a code alone (or "9" + a 2-letter code) is not an answer
    ("K7Q", Reply("help")),
    ("hello", Reply("help")),
    ("帮助", Reply("help")),
    ("?", Reply("help")),
    ("", Reply("help")),
    ("   ", Reply("help")),
    ("2 K7Q", Reply("help")),
])
def test_parse_reply(text, expected):
    assert parse_reply(text) == expected


@SETTINGS
@given(st.text(max_size=200))
def test_parse_reply_never_raises(text):
    reply = parse_reply(text)
    assert reply.action in ("ack", "resolve", "report", "status", "help") and parse_reply(text) == reply
    assert reply.code is None or (reply.code.isascii() and reply.code == reply.code.upper())


# --- answers --------------------------------------------------------------------------------------------------

def agent_with(*events) -> Agent:
    agent = Agent(PLAN, ROSTER)
    for event in events:
        agent.event(event, T0)
    return agent


def content(board: Board) -> tuple:
    """A board without what only says when and why a state was published."""
    return ({key: state.model_dump(exclude={"event_id", "changed_at", "cause"}) for key, state in board.open.items()},
            board.closed)


def answer(agent: Agent, person_id: str | None, text: str, now=T0 + minutes(1), **kw):
    person = person_by_id(ROSTER, person_id) if person_id else None
    board = Board.of_states(agent.states)  # the read model, as a worker's webhook holds it
    assert content(board) == content(board_of(PLAN, agent.books, now)), "the states say what the desk's books say"
    message, command = answer_reply(PLAN, ROSTER, board, person, parse_reply(text), now, **kw)
    return (message.body if message is not None else ""), command


def test_ack_with_a_code_gives_a_command_and_no_text():
    agent = agent_with(opened())
    text, command = answer(agent, "duty_a", "1 k7q")
    assert text == ""
    assert (command.action, command.incident_code, command.incident_id) == ("ack", "K7Q", opened().incident_id)
    assert (command.actor, command.channel, command.source_id, command.drill_id) == (
        "duty_a", "sms", "halaha_dashankuang", None)
    events, out = agent.send(command, T0 + minutes(1))
    assert [type(e) for e in events] == [IncidentAcknowledged] and out[0].body.startswith("已确认K7Q")


def test_anyone_on_the_roster_may_acknowledge_by_code():
    _, command = answer(agent_with(opened()), "director", "确认 K7Q")
    assert command.actor == "director"


def test_resolve_with_a_note():
    agent = agent_with(opened())
    text, command = answer(agent, "duty_a", "9 K7Q 已处置完毕")
    assert text == "" and command.action == "resolve" and command.note == "已处置完毕"
    events, _ = agent.send(command, T0 + minutes(1))
    assert isinstance(events[0], IncidentResolved) and events[0].reason == "已处置完毕"


def test_bare_ack_takes_the_one_pending_incident():
    agent = agent_with(opened(0, "yellow"))
    _, command = answer(agent, "chief", "1")
    assert command.incident_code == "K7Q" and command.actor == "chief"


def test_bare_ack_with_several_pending_lists_them():
    agent = agent_with(opened(0, "yellow"), opened(1, "orange"))
    text, command = answer(agent, "duty_a", "确认")
    assert command is None
    assert text.startswith('2起待确认,请回复"1 代码":橙Q3M') and "黄K7Q" in text and segments(text) <= 2


def test_bare_ack_with_nothing_pending():
    text, command = answer(agent_with(opened()), "director", "1")
    assert command is None and text == '您没有待确认的预警。回复"状态"查看未解除预警'


def test_bare_ack_after_someone_else_acknowledged():
    agent = agent_with(opened(0, "yellow"))
    agent.command("ack", "duty_a", "K7Q", T0 + minutes(1))
    text, command = answer(agent, "chief", "1", T0 + minutes(2))
    assert command is None and text.startswith("Nothing awaits your acknowledgement")


def test_bare_resolve_asks_for_a_code():
    text, command = answer(agent_with(opened()), "duty_a", "9")
    assert command is None and text.startswith('请回复"9 代码"解除:蓝K7Q')


def test_status_lists_open_incidents_with_who_acknowledged():
    agent = agent_with(opened(0, "blue"), opened(1, "red"))
    agent.command("ack", "duty_a", "K7Q", T0 + minutes(1))
    text, command = answer(agent, "monitor", "状态", T0 + minutes(2))
    assert command is None
    assert text.startswith("2起未解除:红Q3M 哈拉哈河大山矿断面 氨氮1.6;"
                           "蓝K7Q 哈拉哈河大山矿断面已由值班甲确认")
    assert segments(text) <= 2


def test_status_with_nothing_open_and_in_english():
    assert answer(agent_with(), "duty_a", "状态") == ("当前无未解除预警", None)
    assert answer(agent_with(), "chief", "STATUS") == ("No open alerts.", None)
    assert answer(agent_with(), "duty_a", "status", language="en") == ("No open alerts.", None)


def test_unknown_and_closed_codes():
    agent = agent_with(opened())
    assert answer(agent, "duty_a", "1 ZZZ") == ('未找到未解除的预警ZZZ。回复"状态"查看', None)
    agent.command("resolve", "duty_a", "K7Q", T0 + minutes(1))
    assert answer(agent, "duty_b", "9 K7Q", T0 + minutes(2)) == ("K7Q已于05-01 08:01由值班甲解除", None)


def test_help_for_anything_else():
    text, command = answer(agent_with(opened()), "duty_a", "what?")
    assert command is None and text.startswith('回复"1 代码"确认,"9 代码"解除')
    assert answer(agent_with(), "chief", "?")[0].startswith('Reply "1 CODE" to ack')


def test_unknown_number():
    assert person_by_phone(ROSTER, "+8613912345678") is None
    assert answer(agent_with(opened()), None, "1 K7Q") == ("此号码不在值班表中,无法处置预警", None)


def test_drill_phone_sees_and_acts_on_drills_only():
    agent = agent_with(opened(0, "blue"), opened(1, "blue", drill_id="d1"))
    drill_phone = agent.log[-1].person_id
    assert drill_phone in ROSTER.drill_phones
    text, command = answer(agent, drill_phone, "1")
    assert text == "" and command.incident_code == "Q3M" and command.drill_id == "d1"
    assert answer(agent, drill_phone, "1 K7Q") == ("【演练】演练号码只能处置演练预警", None)
    text, _ = answer(agent, drill_phone, "状态")
    assert text.startswith("【演练】1起未解除:蓝Q3M") and "K7Q" not in text
    text, _ = answer(agent, "duty_a", "状态")
    assert "Q3M" not in text and "K7Q" in text
    assert answer(agent, "duty_a", "1 Q3M")[1] is None  # a real person's SMS cannot touch a drill


def test_command_id_is_stable_for_a_retried_webhook():
    agent = agent_with(opened())
    _, first = answer(agent, "duty_a", "1 K7Q", T0 + minutes(1), message_id="SM123")
    _, again = answer(agent, "duty_a", "1 K7Q", T0 + minutes(2), message_id="SM123")
    _, other = answer(agent, "duty_a", "1 K7Q", T0 + minutes(1), message_id="SM124")
    assert first.event_id == again.event_id != other.event_id
    assert answer(agent, "duty_a", "1 K7Q")[1] == answer(agent, "duty_a", "1 K7Q")[1]


@SETTINGS
@given(text=st.text(max_size=60) | st.sampled_from(["1", "9", "状态", "1 K7Q", "9 Q3M", "确认", "1 AC4"]),
       person=st.sampled_from(["duty_a", "chief", "drill_a", "drill_b", None]))
def test_answer_never_raises_and_is_deterministic(text, person):
    agent = agent_with(opened(0, "yellow"), opened(1, "red"), opened(2, "blue", drill_id="d1"))
    first = answer(agent, person, text)
    assert first == answer(agent, person, text)
    body, command = first
    assert segments(body) <= 2
    assert (body == "") == (command is not None)
