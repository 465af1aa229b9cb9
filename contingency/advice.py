"""What `ers plan check` warns about: a valid plan that says something its bureau would want to correct.

- a level whose escalation chain neither calls nor notifies a body its grade requires (`grades`: the national plan
  and the region's plan say who leads each grade; the bureau proposes warnings to its own government);
- a rule whose limit rests on a standard value the data file marks as not verified against the standard's text,
  or on a standard the data file says was replaced (HJ 633-2012 by HJ 633—2026, reported once).
"""
from __future__ import annotations

from contingency.plan import Plan, SustainedRule, ThresholdRule
from contingency.problems import Problem
from contingency.standards import GB3838, HJ633, Standards

GRADE_ORDER = ("IV", "III", "II", "I")


def plan_warnings(plan: Plan, standards: Standards) -> list[Problem]:
    return _chains_reach_their_grades(plan) + _unverified_limits(plan, standards)


def _chains_reach_their_grades(plan: Plan) -> list[Problem]:
    if not plan.grades:
        return [Problem(("grades",), "no table of grades (grade -> who leads it and the roles its warnings must "
                                     "reach): ERS cannot check that each level's chain reaches them")]
    warnings = []
    for grade in GRADE_ORDER:
        if grade not in plan.grades and any(policy.grade == grade for policy in plan.levels.values()):
            warnings.append(Problem(("grades",), f"a level implies grade {grade}, which grades does not describe"))
    for level, policy in plan.levels.items():
        required = plan.grades.get(policy.grade)
        chain = plan.escalation.get(level)
        if required is None or chain is None:
            continue
        reached = {role for tier in chain.tiers for role in tier.roles} | set(chain.notify)
        missing = [role for role in required.must_reach if role not in reached]
        if missing:
            names = ", ".join(f"{role} ({plan.roles[role].name})" if role in plan.roles else role for role in missing)
            warnings.append(Problem(
                ("escalation", level.value),
                f"{policy.name} may imply grade {policy.grade} ({required.name}, led by {required.lead}), but its "
                f"chain neither calls nor notifies {names}: add them to its tiers or notify"))
    return warnings


def _unverified_limits(plan: Plan, standards: Standards) -> list[Problem]:
    warnings = []
    for rule_id, rule in plan.rules.items():
        if not isinstance(rule, (ThresholdRule, SustainedRule)):
            continue
        if rule.limit.standard == HJ633 and standards.aqi_superseded:
            warnings.append(Problem(("rules", rule_id, "limit"), f"{HJ633} is reported replaced by "
                                    f"{standards.aqi_superseded} (contingency/data/hj633_2012_aqi.yaml): check "
                                    f"the breakpoint this rule uses against the standard in force"))
            continue
        if rule.limit.standard != GB3838:
            continue
        item = standards.water.get(rule.limit.item or rule.parameter)
        if item is not None and item.confidence == "not verified":
            warnings.append(Problem(
                ("rules", rule_id, "limit"),
                f"{GB3838} Table {item.table} {item.name} ({item.id}): the value in ERS's standards data is not "
                f"verified against the standard's text (contingency/data/gb3838_2002.yaml); check it before "
                f"relying on this rule"))
    return warnings
