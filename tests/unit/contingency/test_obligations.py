"""Issue 15 item 1, the reporting clock and the draft: which initial report an incident owes, to whom, by when
(突发环境事件信息报告办法 第三、四条), and the draft with the items of 第十三条."""
from __future__ import annotations

import datetime as dt
import uuid

from contingency import load_plan
from contingency.obligations import BORDER, DRINKING, HEAVY_METAL, initial_report, obligation
from contingency_helpers import T0, arxan_variant, hours, minutes
from schemas.incident_states import IncidentFacts, IncidentState
from schemas.incidents import WarningLevel

BLUE, YELLOW = WarningLevel.BLUE, WarningLevel.YELLOW


def test_grade_iv_and_iii_owe_a_report_within_4_hours_to_the_city_and_the_league(arxan) -> None:
    duty = obligation(arxan, "yirshi_wwtp_outfall", BLUE, {"cod"}, T0)
    assert (duty.grade, duty.procedure, duty.reasons) == ("IV", "IV", ())
    assert duty.to == ("city_government", "league_bureau") and duty.due_at == T0 + hours(4)
    duty = obligation(arxan, "tailings_example", YELLOW, {"seepage_flow"}, T0)
    assert (duty.grade, duty.procedure, duty.due_at) == ("III", "III", T0 + hours(4))


def test_grade_ii_owes_it_within_2_hours_to_the_region_and_the_ministry(arxan) -> None:
    duty = obligation(arxan, "tailings_example", WarningLevel.ORANGE, {"seepage_flow"}, T0)
    assert duty.to == ("city_government", "region_department") and duty.also == ("生态环境部",)
    assert duty.due_at == T0 + hours(2)


def test_drinking_water_heavy_metals_and_the_border_river_follow_the_grade_ii_procedure(arxan) -> None:
    duty = obligation(arxan, "arxan_city_drinking_source", BLUE, {"ammonia_nitrogen"}, T0)
    assert (duty.grade, duty.procedure, duty.reasons, duty.due_at) == ("IV", "II", (DRINKING,), T0 + hours(2))
    duty = obligation(arxan, "halaha_dashankuang", YELLOW, {"cadmium"}, T0)
    assert duty.procedure == "II" and duty.reasons == (HEAVY_METAL, BORDER)
    assert "region_department" in duty.to


def test_the_stricter_procedure_is_a_plan_setting(tmp_path) -> None:
    plan = load_plan(arxan_variant(tmp_path, "  stricter_grade: II\n", "  stricter_grade: null\n"))
    duty = obligation(plan, "halaha_dashankuang", BLUE, {"cadmium"}, T0)
    assert (duty.procedure, duty.reasons, duty.due_at) == ("IV", (), T0 + hours(4))


def state(source: str, level: WarningLevel, parameter: str, name: str, value: float, limit: str,
          drill: str | None = None, **more) -> IncidentState:
    incident = uuid.uuid4()
    facts = IncidentFacts(incident_id=incident, code="K7Q", level=level, source_id=source, place="哈拉哈河大山矿断面",
                          title="哈拉哈河大山矿断面镉超过Ⅲ类标准", parameter_id=parameter, parameter=name, value=value,
                          unit="mg/L", limit=limit, observed_at=T0, drill_id=drill)
    return IncidentState(incident_id=incident, code="K7Q", source_id=source, kind="exceedance",
                         rule_id="section_cadmium_over_iii", level=level, stage="acknowledged", facts=facts,
                         opened_at=T0 + minutes(1), changed_at=T0 + minutes(5), drill_id=drill, **more)


def test_the_draft_says_what_article_13_asks_and_marks_what_is_not_known(arxan) -> None:
    s = state("halaha_dashankuang", YELLOW, "cadmium", "镉", 0.011, "<= 0.005 mg/L (GB 3838-2002 III)",
              acknowledged_by="li_jianguo", notified=["city_duty_office", "league_bureau_duty"])
    duty = obligation(arxan, s.source_id, s.level, {"cadmium"}, s.opened_at)
    tz = dt.timezone(dt.timedelta(hours=8))
    draft = initial_report(arxan, s, duty, {"li_jianguo": "李建国", "city_duty_office": "市政府总值班室"}, tz,
                           now=s.opened_at + minutes(30))
    lines = draft.splitlines()
    assert lines[0] == "突发环境事件信息初报(草稿) 编号K7Q"
    assert lines[1] == ("报送: 阿尔山市人民政府总值班室、内蒙古自治区生态环境厅应急值班室、生态环境部; 时限: 2026年05月01日10:01前"
                        "(120分钟内(第四条: 重金属或类金属、可能产生跨国界影响, 按重大突发环境事件程序)), 尚余90分钟")
    for number in ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"):
        assert any(line.startswith(f"{number}、") for line in lines), number
    assert "镉 0.011 mg/L(限值 <= 0.005 mg/L (GB 3838-2002 III))" in draft
    assert "八、人员受害情况: 待核实" in lines and "李建国已确认" in draft and "市政府总值班室" in draft
    assert "跨国界河流: 哈拉哈河大山矿断面" in draft and "按涉外通报程序报告(跨国界河流)" in draft
    assert "自动站加密至每60秒一次实时数据并即时采样" in draft, "the plan's hj212_on_incident"
    late = initial_report(arxan, s, duty, {}, tz, now=s.opened_at + minutes(150))
    assert "已超时30分钟" in late.splitlines()[1]


def test_an_incident_at_the_drinking_water_source_names_it(arxan) -> None:
    s = state("arxan_city_drinking_source", BLUE, "ammonia_nitrogen", "氨氮", 0.62, "<= 0.5 mg/L", drill="d1")
    duty = obligation(arxan, s.source_id, s.level, {"ammonia_nitrogen"}, s.opened_at)
    draft = initial_report(arxan, s, duty, {}, dt.timezone.utc, now=s.opened_at)
    assert draft.splitlines()[0].endswith("【演练】")
    assert "可能影响 阿尔山市城市集中式饮用水水源地(事发地)" in draft
