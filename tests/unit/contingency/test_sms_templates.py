"""SMS templates as data (contingency.sms_templates): the checks that keep ERS from starting with a template that
would fail or leave out what a duty officer needs."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contingency.problems import PlanError
from contingency.sms_templates import EXAMPLE_PAGE, KINDS, parse_templates, render, templates_from_text

FILE = Path(__file__).resolve().parents[3] / "plans" / "arxan-sms-templates.yaml"
TEXT = FILE.read_text(encoding="utf-8")


def changed(kind: str, text: str | None = None, code: str | None = None, drop: bool = False) -> str:
    data = yaml.safe_load(TEXT)
    if drop:
        del data["templates"][kind]
    else:
        entry = data["templates"].setdefault(kind, {"code": "SMS_1", "text": "${drill}x"})
        if text is not None:
            entry["text"] = text
        if code is not None:
            entry["code"] = code
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def problems(text: str) -> list[str]:
    found = parse_templates(text, "t.yaml")[1]
    assert found, "expected problems"
    return [str(p) for p in found]


def test_the_shipped_file_has_every_kind_and_its_page_says_what_is_needed() -> None:
    templates = templates_from_text(TEXT, str(FILE))
    assert set(templates.templates) == set(KINDS)
    shown = templates.render("page", EXAMPLE_PAGE)
    assert shown.startswith("【阿尔山市生态环境局】黄色预警K7Q") and '回复"1 K7Q"确认' in shown
    assert templates.render("page", {**EXAMPLE_PAGE, "drill": "【演练】"}).startswith("【阿尔山市生态环境局】【演练】")


def test_a_missing_kind_is_named() -> None:
    [problem] = problems(changed("help", drop=True))
    assert problem.startswith("t.yaml:") and "templates: no template for 'help'" in problem


def test_unknown_kind_unknown_slot_missing_slot_and_no_drill_prefix() -> None:
    assert any("unknown kind 'pager'" in p for p in problems(changed("pager", "${drill}x")))
    found = problems(changed("acked", "${drill}${code}已由${actor}确认 ${value}"))
    assert found == [f"t.yaml:{found[0].split(':')[1]}: templates.acked.text: ${{value}} is not filled for acked "
                     "(it fills actor, code, drill, level, place, time)"]
    assert any("${actor} is missing: resolved must show it" in p
               for p in problems(changed("resolved", "${drill}${code}已解除")))
    assert any("must start with ${drill}" in p for p in problems(changed("help", '回复"1 代码"确认${drill}')))


def test_a_page_must_say_how_to_reply_and_show_every_fact() -> None:
    no_reply = "${drill}${level}${code} ${place} ${parameter}${value},限值${limit} ${time}"
    assert any("must say how to reply" in p for p in problems(changed("page", no_reply)))
    no_limit = '${drill}${level}${code} ${place} ${parameter}${value} ${time}。回复"1 ${code}"确认'
    found = problems(changed("page", no_limit))
    assert any("${limit} is missing" in p for p in found)
    assert any("a rendered page does not show the limit" in p for p in found)


def test_codes_are_unique_and_well_formed() -> None:
    assert any("SMS_480001 is also page's" in p for p in problems(changed("help", code="SMS_480001")))
    assert any("templates.help.code" in p for p in problems(changed("help", code="SMS 1")))


def test_bad_yaml_and_not_a_mapping() -> None:
    assert any("not valid YAML" in p for p in problems("templates: [unclosed"))
    assert problems("- a\n- b\n") == ["t.yaml:1: (plan): an SMS template file is a YAML mapping (sign_name, templates)"]
    with pytest.raises(PlanError):
        templates_from_text("- a\n", "t.yaml")


def test_render_leaves_no_slot_unfilled() -> None:
    assert render("${drill}${code}已确认", {"code": "K7Q"}) == "K7Q已确认"


def voice_changed(kind: str, text: str | None = None, drop: bool = False) -> str:
    data = yaml.safe_load(TEXT)
    if drop:
        del data["voice"]["templates"][kind]
    else:
        data["voice"]["templates"][kind]["text"] = text
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_voice_templates_are_checked_like_sms_ones() -> None:
    templates = templates_from_text(TEXT, str(FILE))
    assert templates.voice is not None and set(templates.voice.templates) == {"call", "call_acked"}
    assert any("voice.templates: no template for 'call_acked'" in p for p in problems(voice_changed("call_acked",
                                                                                                     drop=True)))
    no_key = "${drill}${level}${code}。${place},${parameter}${value}${limit},${time}。请确认。"
    assert any("voice.templates.call.text: must say which key acknowledges" in p
               for p in problems(voice_changed("call", no_key)))
    no_place = "${drill}${level}${code}。${parameter}${value}${limit},${time}。确认请按1。"
    found = problems(voice_changed("call", no_place))
    assert any("${place} is missing: call must show it" in p for p in found)
    assert any("voice.templates.call.text: a rendered call does not show the place" in p for p in found)
    assert any("${actor} is not filled for call" in p
               for p in problems(voice_changed("call", "${drill}${level}${code}${place}${time}${actor}按1")))


def test_a_file_without_voice_is_fine_until_a_plan_calls() -> None:
    data = yaml.safe_load(TEXT)
    del data["voice"]
    assert templates_from_text(yaml.safe_dump(data, allow_unicode=True)).voice is None
