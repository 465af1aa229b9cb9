"""The plan file: the shipped Arxan plan loads, and broken copies are reported as file:line: field: problem."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from contingency import CompiledPlan, Plan, PlanError, check_plan, evaluate, load_plan, plan_from_text
from contingency_helpers import ARXAN, ARXAN_TEXT, T0, report
from contingency_helpers import arxan_variant as broken


def line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(text)


def test_shipped_plan_is_valid(arxan):
    assert check_plan(ARXAN) == []
    assert arxan.sources["halaha_dashankuang"].name == "哈拉哈河大山矿断面"
    assert arxan.sources["halaha_dashankuang"].water_class == "III"
    assert arxan.stations["hlh_dsk_auto"].parameters["ammonia_nitrogen"].name == "氨氮"


def test_shipped_plan_has_what_the_issue_asks(arxan):
    kinds = {source.kind for source in arxan.sources.values()}
    assert {"river_section", "drinking_water_source", "outfall", "tailings_pond", "air_quality_zone"} <= kinds
    assert "伊尔施污水处理厂排污口" in {source.name for source in arxan.sources.values()}
    assert {"city_centre", "yirshi", "bailang", "wuchagou", "ulanhot_league_reserve"} <= set(arxan.depots)
    tailings = arxan.stations["tailings_example_online"].parameters
    assert {"pond_water_level", "dry_beach_length", "phreatic_depth", "dam_displacement", "seepage_flow",
            "rainfall_24h"} <= set(tailings)
    assert {rule.kind for rule in arxan.rules.values()} == {"threshold", "sustained", "rate_of_change",
                                                            "station_silence", "flatline", "points"}
    assert all(arxan.rules[r].example for r in arxan.rules if r.startswith("tailings_level"))
    assert set(arxan.levels) == set(arxan.escalation)
    assert "league_office" in arxan.escalation["orange"].notify


def test_class_limits_resolve_from_the_source(arxan):
    bounds = {b.rule.id: b.limit for b in arxan.rules_for("hlh_dsk_auto") if b.bound is not None}
    assert (bounds["section_nh3_over_iii"].lower, bounds["section_nh3_over_iii"].upper) == (None, 1.0)
    assert bounds["section_nh3_over_v"].upper == 2.0
    assert bounds["section_do_below_iii"].lower == 5.0
    assert (bounds["section_ph_out_of_range"].lower, bounds["section_ph_out_of_range"].upper) == (6.0, 9.0)
    assert bounds["section_tp_over_iii"].upper == 0.2  # river, not lake (0.05)
    assert "GB 3838-2002 III" in bounds["section_nh3_over_iii"].text


def test_missing_file_is_a_problem(tmp_path):
    problems = check_plan(tmp_path / "nope.yaml")
    assert len(problems) == 1 and "cannot read" in problems[0].message


def test_unknown_station_names_line_and_field(tmp_path):
    path = broken(tmp_path, "stations: [hlh_dsk_auto]", "stations: [hlh_dsk_autox]") \
        if "stations: [hlh_dsk_auto]" in ARXAN_TEXT else None
    if path is None:
        path = broken(tmp_path, "    sources: [halaha_dashankuang]\n    parameter: ammonia_nitrogen\n"
                                "    limit: {standard: GB 3838-2002}\n    level: blue",
                      "    sources: [halaha_dashankuang]\n    stations: [no_such_station]\n"
                      "    parameter: ammonia_nitrogen\n    limit: {standard: GB 3838-2002}\n    level: blue")
    problems = check_plan(path)
    assert [str(p) for p in problems] == [
        f"{path}:{line_of(path, 'no_such_station')}: rules.section_nh3_over_iii.stations.0: "
        "unknown station 'no_such_station'"]


def test_rule_on_a_parameter_the_station_lacks(tmp_path):
    path = broken(tmp_path, "    parameter: total_phosphorus\n    limit: {standard: GB 3838-2002}\n    level: blue",
                  "    stations: [hlh_dsk_auto]\n    parameter: iron\n    limit: {standard: GB 3838-2002}\n"
                  "    level: blue")
    problems = check_plan(path)
    assert len(problems) == 1
    assert problems[0].field == "rules.section_tp_over_iii.stations.0"
    assert "has no parameter 'iron'" in problems[0].message
    assert problems[0].line == line_of(path, "stations: [hlh_dsk_auto]")


def test_unknown_standard_item_and_class(tmp_path):
    path = broken(tmp_path, "limit: {standard: GB 3838-2002, class: V}\n    level: yellow",
                  "limit: {standard: GB 3838-2002, item: ammonia, class: V}\n    level: yellow")
    problems = check_plan(path)
    assert [p.field for p in problems] == ["rules.section_nh3_over_v.limit"]
    assert "has no item 'ammonia'" in problems[0].message
    assert problems[0].line == line_of(path, "item: ammonia,")

    path = broken(tmp_path, "limit: {standard: GB 3838-2002, class: V}", "limit: {standard: GB 3838-2002, class: VI}")
    problems = check_plan(path)
    assert [p.field for p in problems] == ["rules.section_nh3_over_v.limit.class"]
    assert problems[0].line == line_of(path, "class: VI")


def test_duplicate_ids(tmp_path):
    path = broken(tmp_path, "  outfall_tp:\n", "  outfall_tn:\n")
    problems = check_plan(path)
    assert any(p.field == "rules.outfall_tn" and "duplicate key" in p.message for p in problems)
    dup = [p for p in problems if "duplicate" in p.message][0]
    assert dup.line == [n for n, line in enumerate(path.read_text().splitlines(), 1) if line == "  outfall_tn:"][1]


def test_cycle_in_river_links(tmp_path):
    path = broken(tmp_path, "    water_class: III        # 专栏6", "    downstream: [{source: yirshi_wwtp_outfall, "
                  "travel_minutes: 10}]\n    water_class: III        # 专栏6")
    problems = check_plan(path)
    assert len(problems) == 1 and "cycle" in problems[0].message
    assert "halaha_dashankuang -> yirshi_wwtp_outfall -> halaha_dashankuang" in problems[0].message


def test_level_without_escalation_chain(tmp_path):
    path = broken(tmp_path, "  red:\n    tiers:\n      - {roles: [duty_officer, section_chief, deputy_director, "
                  "director], wait_minutes: 5}\n    repeat: 5\n    notify: [monitoring_station, city_government, "
                  "league_bureau, league_office, region_department]\n", "")
    problems = check_plan(path)
    assert [(p.field, p.message) for p in problems] == [("levels.red", "level red has no escalation chain")]
    assert problems[0].line == line_of(path, "  red: {name: 红色预警")


def test_many_problems_are_all_reported(tmp_path):
    text = ARXAN_TEXT.replace("unit: t}", "unit: kg}", 1).replace("notify: [monitoring_station, ", "notify: [nobody, ", 1)
    text = text.replace("    kind: outfall ", "    kind: outfal ")
    path = tmp_path / "many.yaml"
    path.write_text(text, encoding="utf-8")
    problems = check_plan(path)
    fields = {p.field for p in problems}
    assert "sources.yirshi_wwtp_outfall.kind" in fields
    # shape errors stop before cross-references; fix the kind and the other two appear together
    path.write_text(text.replace("kind: outfal ", "kind: outfall "), encoding="utf-8")
    fields = {p.field for p in check_plan(path)}
    assert {"escalation.yellow.notify.0", "materials.0.items.0.unit"} <= fields


def test_unknown_field_is_reported_at_its_line(tmp_path):
    path = broken(tmp_path, "    water_class: III        # 专栏6", "    watr_class: III")
    problems = check_plan(path)
    fields = {p.field: p for p in problems}
    assert "sources.halaha_dashankuang.watr_class" in fields
    assert fields["sources.halaha_dashankuang.watr_class"].line == line_of(path, "watr_class")


def test_missing_required_field(tmp_path):
    path = broken(tmp_path, "    k: 3\n    n: 4\n    level: yellow", "    k: 3\n    level: yellow")
    problems = check_plan(path)
    assert [(p.field, p.message) for p in problems] == [("rules.section_nh3_sustained.n", "Field required")]
    assert problems[0].line == line_of(path, "  section_nh3_sustained:")


@pytest.mark.parametrize("bad", [".nan", ".inf", "-.inf"])
def test_nan_and_infinity_rejected_in_plan(tmp_path, bad):
    path = broken(tmp_path, "limit: {upper: 50}", f"limit: {{upper: {bad}}}")
    problems = check_plan(path)
    assert problems and problems[0].field.startswith("rules.outfall_cod.limit")


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: x\nname: [unclosed\n", encoding="utf-8")
    problems = check_plan(path)
    assert len(problems) == 1 and problems[0].line >= 2 and "not valid YAML" in problems[0].message


def test_load_plan_raises_with_all_problems(tmp_path):
    path = broken(tmp_path, "notify: [monitoring_station, ", "notify: [nobody, ")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert len(info.value.problems) == 1
    assert str(info.value) == str(info.value.problems[0])


def test_plan_from_text_minimal():
    plan = plan_from_text(MINIMAL)
    assert list(plan.stations) == ["s1"]
    assert plan.rules_for("s1")[0].limit.upper == 1.0
    assert not math.isnan(plan.rules_for("s1")[0].limit.upper)


MINIMAL = """
id: mini
name: 测试预案
version: "1"
effective: 2026-01-01
jurisdiction: {name: 测试县}
sources:
  river: {name: 某河断面, kind: river_section, water_class: III, water_body: river, location: {lat: 47, lon: 120}}
stations:
  s1: {name: 自动站, source: river, parameters: {ammonia_nitrogen: {name: 氨氮, unit: mg/L}}}
rules:
  nh3: {kind: threshold, level: blue, sources: [river], parameter: ammonia_nitrogen, limit: {standard: GB 3838-2002}}
levels:
  blue: {name: 蓝色预警, grade: IV}
roles:
  duty: {name: 值班员}
escalation:
  blue: {tiers: [{roles: [duty], wait_minutes: 10}]}
"""


def test_families_map_kinds_into_one_incident():
    text = MINIMAL + "families: {sustained: threshold}\n"
    text = text.replace("rules:\n", "rules:\n  nh3_sus: {kind: sustained, level: blue, sources: [river], "
                                    "parameter: ammonia_nitrogen, limit: {upper: 1}, k: 2, n: 3}\n")
    plan = plan_from_text(text)
    assert {plan.family_of(rule) for rule in plan.rules.values()} == {"threshold"}


def test_correlation_family_nobody_uses():
    with pytest.raises(PlanError) as info:
        plan_from_text(MINIMAL + "correlation: {families: [threshold, pollution]}\n", file="mini.yaml")
    line = len(MINIMAL.splitlines()) + 1
    assert [str(p) for p in info.value.problems] == [
        f"mini.yaml:{line}: correlation.families.1: no rule is in family 'pollution' (families in use: threshold)"]


def test_helpers_for_escalation_and_materials(arxan):
    assert arxan.chain_for("orange").tiers[0].wait_minutes == 5
    scenarios = [m.scenario for m in arxan.materials_for("tailings_example")]
    assert scenarios == ["尾矿库泄漏/溃坝"]


def test_the_engine_refuses_a_plan_that_was_not_compiled(arxan):
    raw = Plan.model_validate(yaml.safe_load(ARXAN_TEXT))
    reading = report("hlh_dsk_auto", T0, ("ammonia_nitrogen", 1.6, "mg/L"))
    with pytest.raises(TypeError, match="contingency.load_plan"):
        evaluate(raw, None, reading, T0)
    assert isinstance(arxan, CompiledPlan) and evaluate(arxan, None, reading, T0)[1]


def test_equal_values_of_a_plan_are_one_object_and_so_are_their_limits():
    """A province repeats the same parameters at thousands of stations: held once (issue 14, plan scale)."""
    text = MINIMAL.replace(
        "  s1: {name: 自动站, source: river, parameters: {ammonia_nitrogen: {name: 氨氮, unit: mg/L}}}",
        "  s1: {name: 自动站, source: river, parameters: {ammonia_nitrogen: {name: 氨氮, unit: mg/L}}}\n"
        "  s2: {name: 自动站二, source: river, parameters: {ammonia_nitrogen: {name: 氨氮, unit: mg/L}}}\n"
        "  s3: {name: 自动站三, source: river, parameters: {ammonia_nitrogen: {name: 氨氮, unit: mg/l}}}")
    plan = plan_from_text(text)
    one, two, three = (plan.stations[s].parameters["ammonia_nitrogen"] for s in ("s1", "s2", "s3"))
    assert one is two
    assert three is not one and three.unit == "mg/l"  # a different value stays itself
    assert plan.rules_for("s1")[0].bound is plan.rules_for("s2")[0].bound
    assert plan.index.units["s1"] is plan.index.units["s2"]
    # Validated without the context, a plan is the same plan, its values merely not shared.
    again = Plan.model_validate(plan.model_dump(exclude={"index"}))
    assert again.stations["s1"].parameters == plan.stations["s1"].parameters
    assert again.stations["s1"].parameters["ammonia_nitrogen"] is not again.stations["s2"].parameters["ammonia_nitrogen"]
