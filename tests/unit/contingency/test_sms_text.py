"""SMS texts: segment counting at the exact boundaries, and every text within two segments."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contingency.sms_text import (DRILL_PREFIX, Facts, Item, Part, bundle_text, fit, fits, incident_text, is_gsm,
                                  reply, segments, summary_text)

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT = dt.datetime(2026, 7, 1, 4, 0, tzinfo=dt.timezone.utc)  # 12:00 in Shanghai
FACTS = Facts(incident_id=uuid.UUID(int=1), code="K7Q", level="yellow", source_id="halaha_dashankuang",
              place="哈拉哈河大山矿断面", title="哈拉哈河大山矿断面氨氮超过Ⅲ类标准",
              parameter_id="ammonia_nitrogen", parameter="氨氮", value=1.6, unit="mg/L",
              limit="<= 1 mg/L (GB 3838-2002 III)", observed_at=AT)
SILENT = Facts(incident_id=uuid.UUID(int=2), code="Q3M", level="blue", source_id="city_air",
               place="阿尔山市区环境空气", title="空气自动站超过3小时无数据", observed_at=AT)


# --- segments -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", 1),
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("a" * 459, 3), ("a" * 460, 4),
    ("中" * 70, 1), ("中" * 71, 2), ("中" * 134, 2), ("中" * 135, 3), ("中" * 201, 3), ("中" * 202, 4),
    ("a" * 69 + "中", 1), ("a" * 70 + "中", 2),          # one Chinese character makes all of it UCS-2
    ("€" * 80, 1), ("€" * 81, 2), ("a" + "€" * 80, 2),  # GSM extension characters take two septets
    ("a" * 152 + "€" + "a" * 152, 3),                   # ...and an escape pair is never split between parts
    ("a" * 151 + "€" + "a" * 153, 2),
    ("😀" * 35, 1), ("😀" * 36, 2), ("中" * 66 + "😀" + "中" * 66, 3),  # surrogate pairs: two units, not split
    ("中" * 65 + "😀" + "中" * 67, 2),
    ("@£$¥èé" * 20, 1), ("Ä" * 161, 2), ("ç" * 70, 1), ("ç" * 71, 2),  # ç is not GSM (only Ç is)
])
def test_segments(text, expected):
    assert segments(text) == expected


def test_gsm_alphabet():
    assert is_gsm("Reply \"1 K7Q\" to ack, 9 to resolve. @£$¥ {}[]~|^€\\")
    assert not is_gsm("回复") and not is_gsm("…") and not is_gsm("`")


# --- fitting --------------------------------------------------------------------------------------------------

def test_fit_drops_lowest_rank_first_and_never_rank_zero():
    parts = [Part("中" * 50), Part("乙" * 50, 2), Part("甲" * 50, 1), Part("丙" * 30)]
    text = fit(parts)
    assert text == "中" * 50 + "乙" * 50 + "丙" * 30 and segments(text) == 2


def test_fit_shrinks_a_shrinkable_part_before_dropping_it():
    text = fit([Part("头" * 60), Part("地" * 100, 5, shrink=True), Part("尾" * 20)])
    assert text.startswith("头" * 60 + "地") and "…" in text and text.endswith("尾" * 20) and len(text) == 134


def test_fit_cuts_essentials_but_keeps_the_last_part():
    text = fit([Part("长" * 300), Part("回复1确认")])
    assert fits(text) and text.endswith("…回复1确认")


# --- incident messages ----------------------------------------------------------------------------------------

def test_page_in_chinese_has_everything_asked_for():
    text = incident_text("page", FACTS)
    assert text == ('黄色预警 K7Q 哈拉哈河大山矿断面 氨氮1.6mg/L,限值≤1mg/L(GB 3838-2002 III) '
                    '07-01 12:00。回复"1 K7Q"确认,"9 K7Q"解除')
    assert segments(text) <= 2


def test_page_in_english_is_plain_gsm():
    text = incident_text("page", FACTS, language="en")
    assert is_gsm(text) and "YELLOW alert K7Q" in text and "ammonia nitrogen 1.6 mg/L" in text
    assert text.endswith('Reply "1 K7Q" to ack, "9 K7Q" to resolve.') and segments(text) <= 2


def test_drill_prefix_always_first():
    drill = FACTS.model_copy(update={"drill_id": "drill-2026-07"})
    for kind in ("page", "escalation", "repeat", "raise", "notify", "acked", "resolved"):
        for language in ("zh-CN", "en"):
            assert incident_text(kind, drill, language=language, actor="赵磊").startswith(DRILL_PREFIX)
    assert bundle_text([Item("page", drill)], drill=True).startswith(DRILL_PREFIX)
    assert reply("help", drill=True).startswith(DRILL_PREFIX)


def test_raise_escalation_repeat_and_notify_wording():
    assert incident_text("raise", FACTS, previous_level="blue").startswith("【升级】黄色预警 K7Q(原蓝色)")
    assert "已15分钟无人确认" in incident_text("escalation", FACTS, waited_minutes=15)
    assert incident_text("repeat", FACTS, round_number=2).startswith("【第2轮】")
    notify = incident_text("notify", FACTS)
    assert notify.endswith("(通报)") and "回复" not in notify
    assert incident_text("acked", FACTS, actor="赵磊").startswith("K7Q已由赵磊确认")
    assert incident_text("resolved", FACTS, actor="赵磊").startswith("K7Q已解除(赵磊)")


def test_incident_without_a_measurement_uses_its_title():
    text = incident_text("page", SILENT)
    assert "空气自动站超过3小时无数据" in text and "限值" not in text


def test_long_extra_line_is_dropped_before_the_essentials():
    extra = "物资:" + "活性炭5t(市区库30分钟),PAC 2t(伊尔施储备点)," * 6
    text = incident_text("page", FACTS, extra_line=extra)
    assert segments(text) <= 2 and "K7Q" in text and text.endswith('回复"1 K7Q"确认,"9 K7Q"解除')


def test_short_extra_line_is_kept():
    text = incident_text("page", FACTS, extra_line="物资:活性炭5t 市区库")
    assert "。\n物资:活性炭5t 市区库\n回复" in text and segments(text) <= 2


def test_details_go_in_order_as_the_extra_line_grows():
    order = ["(GB 3838-2002 III)", "无人确认", "物资", "07-01 12:00", "限值"]  # first dropped first
    seen = []
    for length in range(0, 130, 3):
        text = incident_text("escalation", FACTS, waited_minutes=30, extra_line="物资" + "甲" * length)
        assert segments(text) <= 2 and text.startswith("黄色预警 K7Q 哈拉哈河大山矿断面 氨氮1.6mg/L")
        present = [part in text for part in order]
        assert present == sorted(present), (length, text)  # once a part is gone, every earlier one is too
        seen.append(present.count(False))
    assert seen[0] == 0 and max(seen) >= 3


def test_long_place_is_cut_so_the_measurement_stays():
    longer = FACTS.model_copy(update={"place": "某" * 120})
    text = incident_text("page", longer)
    assert "某" * 23 + "…" in text and "某" * 24 not in text and "氨氮1.6mg/L" in text and segments(text) <= 2


# --- lists ----------------------------------------------------------------------------------------------------

def test_bundle_lists_incidents_compactly_with_one_reply_instruction():
    items = [Item("page", FACTS), Item("acked", SILENT, "赵磊")]
    text = bundle_text(items)
    assert text == ('2条预警消息:黄K7Q 哈拉哈河大山矿断面 氨氮1.6;蓝Q3M 阿尔山市区环境空气已由赵磊确认。'
                    '回复"1 K7Q"确认,"9 K7Q"解除')


def test_bundle_of_many_fits_and_counts_what_it_left_out():
    many = [Item("page", FACTS.model_copy(update={"code": f"C{i:02d}", "incident_id": uuid.UUID(int=i)}))
            for i in range(40)]
    text = bundle_text(many)
    assert segments(text) <= 2 and "等40条" in text and "C00" in text
    assert text.endswith('回复"1 代码"确认,"9 代码"解除')


def test_summary_names_the_cap():
    text = summary_text([Item("page", FACTS)] * 3, 10)
    assert text.startswith("近1小时另有3条消息(超过每小时10条)") and segments(text) <= 2


def test_replies_in_both_languages():
    assert reply("ack_done", code="K7Q") == '已确认K7Q,停止升级。处置完毕回复"9 K7Q"解除'
    assert reply("ack_done", "en", code="K7Q").startswith("Acknowledged K7Q")
    assert is_gsm(reply("help", "en"))


# --- properties -----------------------------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
facts = st.builds(
    Facts, incident_id=st.uuids(), code=st.text("ACDEFHJKMNPQRTUVWXY3479", min_size=3, max_size=3),
    level=st.sampled_from(["blue", "yellow", "orange", "red"]),
    source_id=st.from_regex(r"[a-z_]{1,40}", fullmatch=True), place=texts, title=texts,
    drill_id=st.none() | st.just("d1"), parameter_id=st.from_regex(r"[a-z_]{0,20}", fullmatch=True),
    parameter=st.text(max_size=20), value=st.none() | st.floats(-1e9, 1e9, allow_nan=False),
    unit=st.sampled_from(["mg/L", "dimensionless", "degC", "ug/m3", "m"]),
    limit=st.sampled_from(["", "<= 1 mg/L (GB 3838-2002 III)", "6..9 dimensionless", ">= 5 mg/L"]),
    observed_at=st.just(AT))
kinds = st.sampled_from(["page", "escalation", "repeat", "raise", "notify", "acked", "resolved"])


@SETTINGS
@given(kind=kinds, f=facts, language=st.sampled_from(["zh-CN", "en"]), extra=st.none() | texts, actor=texts)
def test_every_incident_text_fits_and_keeps_code_and_instruction(kind, f, language, extra, actor):
    text = incident_text(kind, f, language=language, actor=actor[:30], waited_minutes=5, previous_level="blue",
                         extra_line=extra)
    assert segments(text) <= 2 and f.code in text
    assert text == incident_text(kind, f, language=language, actor=actor[:30], waited_minutes=5,
                                 previous_level="blue", extra_line=extra)
    if kind in ("page", "escalation", "repeat", "raise"):
        assert f'"1 {f.code}"' in text
    if f.drill_id:
        assert text.startswith(DRILL_PREFIX)


@SETTINGS
@given(items=st.lists(st.tuples(kinds, facts, texts), min_size=1, max_size=30),
       language=st.sampled_from(["zh-CN", "en"]))
def test_every_bundle_fits(items, language):
    built = [Item(kind, f, actor[:20]) for kind, f, actor in items]
    assert segments(bundle_text(built, language=language)) <= 2
    assert segments(summary_text(built, 10, language=language, drill=True)) <= 2


@SETTINGS
@given(texts)
def test_segments_never_raises_and_grows_with_length(text):
    count = segments(text)
    assert count >= 1 and segments(text + text) >= count
