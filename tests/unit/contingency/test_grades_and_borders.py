"""Issue 15, items 2-4: grades that reach the right offices, the Halaha as a border river, the drinking-water source's
class II early warning and GB 3838 Tables 2 and 3."""
from __future__ import annotations


from contingency import check_plan, evaluate, load_plan, load_standards, plan_warnings
from contingency_helpers import ARXAN, ARXAN_TEXT, T0, arxan_variant, minutes, report


def levels_fired(plan, station: str, *values: tuple) -> dict[str, str]:
    _, detections = evaluate(plan, None, report(station, T0, *values), T0 + minutes(1))
    return {d.rule_id: d.level.value for d in detections if d.status == "firing"}


# --- grades -> the bodies each level's chain must reach ------------------------------------------------------

def test_the_arxan_chains_reach_every_body_their_grades_require() -> None:
    assert [w for w in plan_warnings(ARXAN) if w.path[0] in ("escalation", "grades")] == []


def test_a_chain_that_misses_a_required_body_is_warned_about_with_its_line(tmp_path) -> None:
    path = arxan_variant(tmp_path, "    notify: [monitoring_station, city_government, league_bureau, league_office]\n  orange:",
                   "    notify: [monitoring_station, city_government]\n  orange:")
    assert check_plan(path) == [], "a warning, not a problem: the plan still loads"
    [warning] = [w for w in plan_warnings(path) if w.path[0] == "escalation"]
    assert warning.field == "escalation.yellow"
    assert "league_bureau (兴安盟生态环境局)" in warning.message and "league_office" in warning.message
    assert "grade III" in warning.message and "兴安盟行政公署" in warning.message
    assert "yellow:" in path.read_text(encoding="utf-8").splitlines()[warning.line - 1]


def test_a_plan_without_a_grades_table_is_told_that_nothing_was_checked(tmp_path) -> None:
    start = ARXAN_TEXT.index("grades:\n")
    end = ARXAN_TEXT.index("\n# 重金属或者类金属")
    path = tmp_path / "no-grades.yaml"
    path.write_text(ARXAN_TEXT[:start] + ARXAN_TEXT[end:], encoding="utf-8")
    assert check_plan(path) == []
    assert [w.field for w in plan_warnings(path) if w.path[0] == "grades"] == ["grades"]


def test_a_grade_naming_an_unknown_role_is_a_problem(tmp_path) -> None:
    path = arxan_variant(tmp_path, "    must_reach: [city_government]\n", "    must_reach: [city_govt]\n")
    [problem] = check_plan(path)
    assert problem.field == "grades.IV.must_reach.0" and "unknown role 'city_govt'" in problem.message


def test_orange_and_red_reach_the_autonomous_region(arxan) -> None:
    for level in ("orange", "red"):
        assert "region_department" in arxan.escalation[level].notify
    assert {"city_government"} <= set(arxan.escalation["blue"].notify)


# --- the Halaha: a border river ------------------------------------------------------------------------------

def test_a_heavy_metal_exceedance_on_the_border_river_opens_at_least_yellow(arxan) -> None:
    assert arxan.sources["halaha_dashankuang"].transboundary
    fired = levels_fired(arxan, "hlh_dsk_auto", ("lead", 0.06, "mg/L"), ("arsenic", 0.051, "mg/L"))
    assert fired == {"section_lead_over_iii": "yellow", "section_arsenic_over_iii": "yellow"}, \
        "blue rules, raised on a transboundary source"
    assert levels_fired(arxan, "hlh_dsk_auto", ("ammonia_nitrogen", 1.2, "mg/L")) == {"section_nh3_over_iii": "blue"}, \
        "not a heavy metal: the rule's own level"


def test_the_same_exceedance_on_an_inland_river_keeps_its_level(tmp_path) -> None:
    plan = load_plan(arxan_variant(tmp_path, "    transboundary: true\n", "    transboundary: false\n"))
    assert levels_fired(plan, "hlh_dsk_auto", ("lead", 0.06, "mg/L")) == {"section_lead_over_iii": "blue"}


def test_cadmium_above_class_v_has_its_own_higher_rule(arxan) -> None:
    assert levels_fired(arxan, "hlh_dsk_auto", ("cadmium", 0.006, "mg/L")) == {"section_cadmium_over_iii": "yellow"}
    assert levels_fired(arxan, "hlh_dsk_auto", ("cadmium", 0.011, "mg/L")) == {
        "section_cadmium_over_iii": "yellow", "section_cadmium_over_v": "orange"}


def test_the_raised_level_is_a_plan_setting(tmp_path) -> None:
    plan = load_plan(arxan_variant(tmp_path, "  transboundary_level: yellow\n", "  transboundary_level: orange\n"))
    assert levels_fired(plan, "hlh_dsk_auto", ("mercury", 0.0002, "mg/L")) == {"section_mercury_over_iii": "orange"}


# --- the drinking-water source -------------------------------------------------------------------------------

def test_class_ii_warns_before_class_iii_is_exceeded(arxan) -> None:
    assert levels_fired(arxan, "city_source_auto", ("ammonia_nitrogen", 0.6, "mg/L")) == {"drinking_nh3_over_ii": "blue"}
    fired = levels_fired(arxan, "city_source_auto", ("ammonia_nitrogen", 1.1, "mg/L"))
    assert fired == {"drinking_nh3_over_ii": "blue", "drinking_nh3_over_iii": "yellow"}
    assert {arxan.family_of(arxan.rules[rule]) for rule in fired} == {"exceedance"}, "one incident, raised"
    assert levels_fired(arxan, "city_source_auto", ("dissolved_oxygen", 5.5, "mg/L")) == {"drinking_do_below_ii": "blue"}


def test_table_2_and_table_3_items_have_their_single_limits(arxan) -> None:
    fired = levels_fired(arxan, "city_source_auto", ("sulfate", 251, "mg/L"), ("chloride", 250, "mg/L"),
                         ("nitrate", 10.5, "mg/L"), ("thallium", 0.00011, "mg/L"), ("antimony", 0.004, "mg/L"))
    assert fired == {"drinking_sulfate": "blue", "drinking_nitrate": "blue", "drinking_thallium": "yellow"}, \
        "chloride at its limit complies (limits are inclusive); antimony is under 0.005"
    bound = load_standards().water_bound("thallium", None, None)
    assert bound.upper == 0.0001 and bound.lower is None and "GB 3838-2002 Table 3" in bound.text


def test_rules_on_unverified_standard_values_are_warned_about() -> None:
    warned = {w.path[1] for w in plan_warnings(ARXAN) if w.path[0] == "rules" and "GB 3838" in w.message}
    assert warned == {"drinking_thallium", "drinking_antimony"}


def test_a_class_on_a_single_limit_item_is_a_problem(tmp_path) -> None:
    path = arxan_variant(tmp_path, "    parameter: thallium\n    limit: {standard: GB 3838-2002}\n",
                   "    parameter: thallium\n    limit: {standard: GB 3838-2002, class: II}\n")
    [problem] = check_plan(path)
    assert "Table 3 item with one limit for all classes" in problem.message
