"""The paging domain composing SMS for a template provider (Aliyun): kind and slots, the body as the phone shows
it, the slots in the templates' language, a person reached through Twilio instead, drills; and replies tied to
the message they answer (contingency.ids extensions)."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from contingency import roster_from_text
from contingency.ids import CODE_ALPHABET, code_of_extension, extension_of
from contingency.incident_states import Board
from contingency.replies import answer_reply, parse_reply
from contingency.roster import for_sms
from contingency.sms_templates import load_templates
from contingency_helpers import T0, minutes
from test_paging import TEST_ROSTER, Agent, opened

TEMPLATES = load_templates(Path(__file__).resolve().parents[3] / "plans" / "arxan-sms-templates.yaml")
# The section chief reads English and keeps Twilio (a number abroad, say); everyone else is reached through Aliyun.
ALIYUN_ROSTER = TEST_ROSTER.replace('phone: "+8613800000103", language: en}',
                                    'phone: "+8613800000103", language: en, sms_provider: twilio}')


@pytest.fixture(scope="module")
def roster(arxan):
    return for_sms(roster_from_text(ALIYUN_ROSTER, arxan), "aliyun", TEMPLATES)


def test_a_page_is_the_registered_template_filled_with_the_incident(arxan, roster):
    page, notice = Agent(arxan, roster).event(opened(), T0)  # the duty officer paged, the city government told
    assert notice.person_id != page.person_id and notice.template == "notify"
    assert page.template == "page" and page.params["code"] == "K7Q" and page.params["place"] == "哈拉哈河大山矿断面"
    assert page.params["parameter"] == "氨氮" and page.params["value"] == "1.6mg/L" and page.params["limit"] == "≤1mg/L"
    assert page.params["drill"] == "" and page.params["level"] == "蓝色预警"
    assert page.body == TEMPLATES.render("page", page.params)
    assert page.body.startswith("【阿尔山市生态环境局】蓝色预警K7Q 哈拉哈河大山矿断面 氨氮1.6mg/L,限值≤1mg/L")


def test_a_person_on_twilio_gets_free_text_in_their_language(arxan, roster):
    out = Agent(arxan, roster).event(opened(level="yellow"), T0)
    chief = next(n for n in out if n.person_id == "chief")
    duty = next(n for n in out if n.person_id == "duty_a")
    assert chief.template is None and chief.params == {} and chief.body.startswith("YELLOW alert K7Q")
    assert duty.template == "page"


def test_slots_are_filled_in_the_templates_language_whatever_the_person_reads(arxan, roster):
    english_on_aliyun = for_sms(roster_from_text(TEST_ROSTER, arxan), "aliyun", TEMPLATES)
    chief = next(n for n in Agent(arxan, english_on_aliyun).event(opened(level="yellow"), T0) if n.person_id == "chief")
    assert chief.template == "page" and chief.params["level"] == "黄色预警" and chief.params["parameter"] == "氨氮"


def test_a_drill_page_says_so_first(arxan, roster):
    [page] = Agent(arxan, roster).event(opened(drill_id="d1"), T0)
    assert page.params["drill"] == "【演练】" and page.body.startswith("【阿尔山市生态环境局】【演练】")


def test_the_confirmation_and_the_escalation_are_templates_too(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    _, out = agent.command("ack", "duty_a", "K7Q", T0 + minutes(1))
    [confirmation] = out
    assert confirmation.template == "ack_confirmation" and confirmation.params == {"drill": "", "code": "K7Q"}
    agent = Agent(arxan, roster)
    agent.event(opened(), T0)
    _, to_the_chief = agent.clock(T0 + minutes(16))
    assert [(n.person_id, n.template) for n in to_the_chief] == [("chief", None)]  # tier 2 is on Twilio
    agent.clock(T0 + minutes(31))
    _, repeated = agent.clock(T0 + minutes(46))
    [again] = repeated
    assert again.template == "page" and again.params["marker"] == "【第2轮】"
    assert again.params["waited"] == ",已46分钟无人确认" and "【第2轮】蓝色预警K7Q" in again.body


def test_a_bare_1_answering_a_message_acknowledges_its_incident_among_several(arxan, roster):
    agent = Agent(arxan, roster)
    agent.event(opened(0), T0)
    agent.event(opened(1, source="yirshi_wwtp_outfall", station="yirshi_wwtp_online"), T0 + minutes(3))
    board = Board.of_states(agent.states)
    person = roster.people["duty_a"]
    message, command = answer_reply(arxan, roster, board, person, parse_reply("1"), T0 + minutes(4))
    assert command is None and message is not None and message.template == "status"  # which one? it asks
    message, command = answer_reply(arxan, roster, board, person, parse_reply("1"), T0 + minutes(4),
                                    context_code="Q3M")
    assert message is None and command is not None and command.incident_code == "Q3M"
    message, command = answer_reply(arxan, roster, board, person, parse_reply("1 K7Q"), T0 + minutes(4),
                                    context_code="Q3M")
    assert command is not None and command.incident_code == "K7Q", "a code in the text wins over the extension"


def test_extensions_stand_for_every_code_and_nothing_else() -> None:
    codes = [a + b + c for a in CODE_ALPHABET for b in CODE_ALPHABET for c in CODE_ALPHABET]
    extensions = {extension_of(code) for code in codes}
    assert len(extensions) == len(codes) and all(len(e) == 5 for e in extensions)
    assert all(code_of_extension(extension_of(code)) == code for code in codes)
    assert extension_of("BBB") is None and extension_of("K7") is None and code_of_extension("0") is None


@given(st.text(max_size=8))
def test_code_of_extension_never_raises(text: str) -> None:
    code = code_of_extension(text)
    assert code is None or extension_of(code) == text
