"""`ers incidents` and `ers incidents --report CODE` from a read model (the topic reader replaced by a list)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

import handlers.incident_states
from schemas.incident_states import IncidentFacts, IncidentState
from schemas.incidents import WarningLevel
from streams.cli import main

T0 = dt.datetime(2026, 12, 16, 2, 40, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def state(**more) -> IncidentState:
    incident = uuid.uuid4()
    facts = IncidentFacts(incident_id=incident, code="CKM", level=WarningLevel.ORANGE, source_id="halaha_dashankuang",
                          place="哈拉哈河大山矿断面", title="哈拉哈河大山矿断面镉超过Ⅴ类标准(跨国界河流)",
                          parameter_id="cadmium", parameter="镉", value=0.012, unit="mg/L", limit="<= 0.01 mg/L",
                          observed_at=T0 - dt.timedelta(minutes=30))
    fields = dict(incident_id=incident, code="CKM", source_id="halaha_dashankuang", kind="exceedance",
                  rule_id="section_cadmium_over_v", level=WarningLevel.ORANGE, stage="acknowledged", facts=facts,
                  opened_at=T0, changed_at=T0, acknowledged_by="qian_xiaomei",
                  report_due_at=T0 + dt.timedelta(hours=2), report_to=["city_government", "region_department"])
    return IncidentState(**{**fields, **more})


@pytest.fixture
def read_model(monkeypatch):
    states: list[IncidentState] = []
    monkeypatch.setattr(handlers.incident_states, "read_incident_states", lambda bootstrap, topic: states)
    monkeypatch.setenv("COLUMNS", "200")
    return states


def test_the_board_shows_when_the_initial_report_is_due_or_was_filed(read_model, capsys) -> None:
    read_model.append(state())
    assert main(["incidents"]) == 0
    assert "04:40前" in capsys.readouterr().out
    read_model[0] = state(report_filed_at=T0 + dt.timedelta(minutes=85), report_filed_by="zhou_min")
    assert main(["incidents"]) == 0
    assert "已报 04:05" in capsys.readouterr().out


def test_report_prints_the_draft_with_the_desks_deadline(read_model, capsys) -> None:
    read_model.append(state(report_filed_at=T0 + dt.timedelta(minutes=85), report_filed_by="zhou_min"))
    assert main(["incidents", "--report", "ckm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["初报: 已于12-16 04:05由周敏登记报送", '续报: 0次; 处置进展随时续报, 已报回复"6 代码"',
                         "处理结果报告: 事件处理完毕(解除)后报送"]
    draft = lines.index("突发环境事件信息初报(草稿) 编号CKM")
    assert "时限: 2026年12月16日04:40前(120分钟内" in lines[draft + 1]
    assert "已于2026年12月16日04:05由周敏登记报送(按时)" in lines[draft + 1]
    assert not any("处理结果报告(草稿)" in line for line in lines), "open: no final report yet"


def resolved(**more) -> IncidentState:
    return state(stage="resolved", resolved_by="qian_xiaomei", resolved_at=T0 + dt.timedelta(hours=5), firing=False,
                 report_filed_at=T0 + dt.timedelta(minutes=85), report_filed_by="zhou_min",
                 follow_ups=[T0 + dt.timedelta(hours=3)], **more)


def test_a_resolved_incident_that_owes_its_final_report_stays_on_the_board(read_model, capsys) -> None:
    read_model.append(resolved(reports_owed=True))
    assert main(["incidents"]) == 0
    assert "已报 04:05 续1 结果待报" in capsys.readouterr().out
    read_model[0] = resolved(reports_owed=False, final_report_filed_at=T0 + dt.timedelta(days=2),
                             final_report_filed_by="zhou_min")
    assert main(["incidents"]) == 0
    assert "事件 (0)" in capsys.readouterr().out, "all filed: off the board"
    assert main(["incidents", "--all"]) == 0
    assert "续1 结果已报" in capsys.readouterr().out


def test_report_of_a_resolved_incident_adds_the_final_report_draft(read_model, capsys) -> None:
    read_model.append(resolved(reports_owed=True))
    assert main(["incidents", "--report", "CKM"]) == 0
    out = capsys.readouterr().out
    assert "续报: 1次(最近12-16 05:40)" in out and '处理结果报告: 未报; 已报回复"7 代码"' in out
    final = out[out.index("突发环境事件处理结果报告(草稿) 编号CKM"):].splitlines()
    assert "2026年12月16日07:40由钱晓梅解除预警" in final[3] and "2026年12月16日04:05报送初报" in final[3]
    assert final[4] == "三、处理结果: 监测值已回落至限值内"
    assert sum("待核实" in line for line in final) >= 4, "harm, impact, what remains, accountability: the filer's"


def test_a_bad_code_is_refused_with_what_was_expected(read_model, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["incidents", "--report", "K-7"])
    assert "expected an incident code like K7Q" in capsys.readouterr().err
