"""Checks across sections of a plan that a single model cannot see. Returns every problem, not the first."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contingency.hj212 import check_hj212
from contingency.limits import normal_unit, resolve_bound, same_unit
from contingency.plan import FlatlineRule, Plan, PointsRule, RateOfChangeRule, SustainedRule, ThresholdRule
from contingency.problems import Problem
from contingency.reports import FAMILY as REPORT_FAMILY
from contingency.reports import RULE_ID as REPORT_RULE_ID
from contingency.reports import STATION_ID as REPORT_STATION_ID
from contingency.rivers import find_cycle
from contingency.standards import StandardLookupError, Standards
from contingency.targets import Targets


def check_references(plan: Plan, standards: Standards) -> list[Problem]:
    problems: list[Problem] = []
    problems += _check_keys(plan)
    problems += _check_stations(plan)
    problems += _check_rivers(plan)
    problems += _check_rules(plan, standards)
    problems += _check_levels(plan)
    problems += _check_materials(plan)
    problems += _check_correlation(plan)
    problems += _check_reports(plan)
    problems += _check_seasons(plan)
    problems += check_hj212(plan, standards.hj212)
    return problems


def _check_seasons(plan: Plan) -> list[Problem]:
    problems = []
    try:
        ZoneInfo(plan.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(("timezone",), f"unknown time zone {plan.timezone!r} (an IANA name, e.g. "
                                               "Asia/Shanghai)"))
    known = ", ".join(sorted(plan.seasons)) or "none defined"
    for station_id, station in plan.stations.items():
        for n, season in enumerate(station.paused_in):
            if season not in plan.seasons:
                problems.append(Problem(("stations", station_id, "paused_in", n),
                                        f"unknown season {season!r} (seasons: {known})"))
    for rule_id, rule in plan.rules.items():
        if rule.season is None:
            continue
        if rule.season not in plan.seasons:
            problems.append(Problem(("rules", rule_id, "season"), f"unknown season {rule.season!r} (seasons: {known})"))
        elif not isinstance(rule, (ThresholdRule, SustainedRule, RateOfChangeRule)):
            problems.append(Problem(("rules", rule_id, "season"), f"a {rule.kind} rule cannot be bound to a season "
                                    "(threshold, sustained and rate_of_change can; a station that stops in a season "
                                    "is paused_in it)"))
    return problems


def _check_reports(plan: Plan) -> list[Problem]:
    problems = []
    if plan.reports.default_level not in plan.levels:
        unset = "default_level" not in plan.reports.model_fields_set
        problems.append(Problem(("reports", "default_level"),
                                f"level {plan.reports.default_level.value} is not defined under levels"
                                + (" (it is the default: set reports.default_level)" if unset else "")))
    kinds_in_plan = {source.kind for source in plan.sources.values()}
    for category_id, category in plan.reports.categories.items():
        if category.level not in plan.levels:
            problems.append(Problem(("reports", "categories", category_id, "level"),
                                    f"level {category.level.value} is not defined under levels"))
        if category.source_kinds and not kinds_in_plan & set(category.source_kinds):
            problems.append(Problem(("reports", "categories", category_id, "source_kinds"),
                                    f"no source of kind {', '.join(category.source_kinds)} in the plan "
                                    f"(kinds: {', '.join(sorted(kinds_in_plan))})"))
    if REPORT_RULE_ID in plan.rules:
        problems.append(Problem(("rules", REPORT_RULE_ID), f"the rule id {REPORT_RULE_ID} is reserved for reports"))
    if REPORT_STATION_ID in plan.stations:
        problems.append(Problem(("stations", REPORT_STATION_ID),
                                f"the station id {REPORT_STATION_ID} is reserved for reports"))
    return problems


def _check_correlation(plan: Plan) -> list[Problem]:
    if "families" not in plan.correlation.model_fields_set:
        return []  # the default list names every pollution kind, whether the plan uses it or not
    families = {plan.family_of(rule) for rule in plan.rules.values()}
    return [Problem(("correlation", "families", index), f"no rule is in family {family!r} "
                    f"(families in use: {', '.join(sorted(families))})")
            for index, family in enumerate(plan.correlation.families)
            if family not in families and family != REPORT_FAMILY]


def _check_keys(plan: Plan) -> list[Problem]:
    problems = []
    for section in ("sources", "stations", "rules", "depots"):
        for key, entry in getattr(plan, section).items():
            if entry.id != key:
                problems.append(Problem((section, key, "id"), f"id {entry.id!r} differs from its key {key!r}"))
    return problems


def _check_stations(plan: Plan) -> list[Problem]:
    return [Problem(("stations", station_id, "source"), f"unknown source {station.source!r}")
            for station_id, station in plan.stations.items() if station.source not in plan.sources]


def _check_rivers(plan: Plan) -> list[Problem]:
    problems = []
    for source_id, source in plan.sources.items():
        for index, link in enumerate(source.downstream):
            where = ("sources", source_id, "downstream", index, "source")
            if link.source == source_id:
                problems.append(Problem(where, "a source cannot be downstream of itself"))
            elif link.source not in plan.sources:
                problems.append(Problem(where, f"unknown source {link.source!r}"))
    cycle = find_cycle(plan.sources)
    if cycle and len(cycle) > 2:
        problems.append(Problem(("sources", cycle[0], "downstream"),
                                "river links form a cycle: " + " -> ".join(cycle)))
    return problems


def _check_rules(plan: Plan, standards: Standards) -> list[Problem]:
    problems: list[Problem] = []
    stations = Targets(plan)
    for rule_id, rule in plan.rules.items():
        base = ("rules", rule_id)
        for index, station_id in enumerate(rule.stations):
            if station_id not in plan.stations:
                problems.append(Problem(base + ("stations", index), f"unknown station {station_id!r}"))
        for index, source_id in enumerate(rule.sources):
            if source_id not in plan.sources:
                problems.append(Problem(base + ("sources", index), f"unknown source {source_id!r}"))
        if rule.level not in plan.levels:
            problems.append(Problem(base + ("level",), f"level {rule.level.value} is not defined under levels"))
        targets = [s for s in stations.of_rule(rule)
                   if s in plan.stations and plan.stations[s].source in plan.sources]
        if not targets:
            problems.append(Problem(base, "the rule applies to no station of the plan"))
            continue
        if isinstance(rule, (ThresholdRule, SustainedRule, RateOfChangeRule, FlatlineRule)):
            problems += _check_parameter(plan, rule, targets, standards)
        elif isinstance(rule, PointsRule):
            problems += _check_points(plan, rule, targets)
    return problems


def _check_points(plan: Plan, rule: PointsRule, targets: list[str]) -> list[Problem]:
    """Every station the rule applies to reports every point, in one unit."""
    problems = []
    for station_id in targets:
        station = plan.stations[station_id]
        missing = [p for p in rule.parameters if p not in station.parameters]
        if missing:
            problems.append(Problem(("rules", rule.id, "parameters"), f"station {station_id} has no parameter "
                                    f"{', '.join(map(repr, missing))} (it has: {', '.join(station.parameters)})"))
            continue
        units = {normal_unit(station.parameters[p].unit) for p in rule.parameters}
        if len(units) > 1:
            problems.append(Problem(("rules", rule.id, "parameters"), f"the points of station {station_id} are in "
                                    f"different units ({', '.join(sorted(units))}): they measure one item"))
    return problems


def _check_parameter(plan: Plan, rule: ThresholdRule | SustainedRule | RateOfChangeRule | FlatlineRule,
                     targets: list[str], standards: Standards) -> list[Problem]:
    base = ("rules", rule.id)
    problems: list[Problem] = []
    reporting = [s for s in targets if rule.parameter in plan.stations[s].parameters]
    for index, station_id in enumerate(rule.stations):
        if station_id in plan.stations and rule.parameter not in plan.stations[station_id].parameters:
            problems.append(Problem(base + ("stations", index),
                                    f"station {station_id} has no parameter {rule.parameter!r} "
                                    f"(it has: {', '.join(plan.stations[station_id].parameters)})"))
    if not reporting:
        if not rule.stations:
            problems.append(Problem(base + ("parameter",), f"no station the rule applies to reports {rule.parameter!r}"))
        return problems
    if isinstance(rule, (ThresholdRule, SustainedRule)):
        seen: set[str] = set()
        for station_id in reporting:
            station = plan.stations[station_id]
            try:
                resolve_bound(rule.limit, rule.parameter, station.parameters[rule.parameter].unit,
                              plan.sources[station.source], standards)
            except StandardLookupError as exc:
                message = str(exc) + (f" (at station {station_id})" if len(reporting) > 1 else "")
                if message not in seen:
                    seen.add(message)
                    problems.append(Problem(base + ("limit",), message))
    if isinstance(rule, ThresholdRule) and rule.relaxed is not None:
        problems += _check_relaxed(plan, rule, reporting, standards)
    return problems


def _check_relaxed(plan: Plan, rule: ThresholdRule, reporting: list[str], standards: Standards) -> list[Problem]:
    assert rule.relaxed is not None
    base, problems, seen = ("rules", rule.id, "relaxed"), [], set()
    for station_id in reporting:
        station = plan.stations[station_id]
        where = f" (at station {station_id})" if len(reporting) > 1 else ""
        try:
            resolve_bound(rule.relaxed.limit, rule.parameter, station.parameters[rule.parameter].unit,
                          plan.sources[station.source], standards)
        except StandardLookupError as exc:
            seen.add(message := str(exc) + where)
            problems.append(Problem(base + ("limit",), message))
        asked = rule.relaxed.when.parameter
        if asked not in station.parameters and (message := f"station {station_id} has no parameter {asked!r} "
                                                f"(it has: {', '.join(station.parameters)})") not in seen:
            seen.add(message)
            problems.append(Problem(base + ("when", "parameter"), message))
    return problems


def _check_levels(plan: Plan) -> list[Problem]:
    problems = []
    for level in plan.levels:
        if level not in plan.escalation:
            problems.append(Problem(("levels", level.value), f"level {level.value} has no escalation chain"))
    for level, chain in plan.escalation.items():
        where = ("escalation", level.value)
        if level not in plan.levels:
            problems.append(Problem(where, f"escalation for level {level.value}, which levels does not define"))
        for t, tier in enumerate(chain.tiers):
            for r, role in enumerate(tier.roles):
                if role not in plan.roles:
                    problems.append(Problem(where + ("tiers", t, "roles", r), f"unknown role {role!r}"))
        for r, role in enumerate(chain.notify):
            if role not in plan.roles:
                problems.append(Problem(where + ("notify", r), f"unknown role {role!r}"))
    for grade, policy in plan.grades.items():
        for r, role in enumerate(policy.must_reach):
            if role not in plan.roles:
                problems.append(Problem(("grades", grade, "must_reach", r), f"unknown role {role!r}"))
        for r, role in enumerate(policy.report.to if policy.report else ()):
            if role not in plan.roles:
                problems.append(Problem(("grades", grade, "report", "to", r), f"unknown role {role!r}"))
    responsible = plan.reporting.responsible
    if responsible is not None and responsible not in plan.roles:
        problems.append(Problem(("reporting", "responsible"), f"unknown role {responsible!r}"))
    return problems


def _check_materials(plan: Plan) -> list[Problem]:
    problems = []
    for m, requirement in enumerate(plan.materials):
        base = ("materials", m)
        for s, source_id in enumerate(requirement.sources):
            if source_id not in plan.sources:
                problems.append(Problem(base + ("sources", s), f"unknown source {source_id!r}"))
        for i, needed in enumerate(requirement.items):
            item = plan.items.get(needed.item)
            if item is None:
                problems.append(Problem(base + ("items", i, "item"), f"unknown item {needed.item!r}"))
            elif not same_unit(item.unit, needed.unit):
                problems.append(Problem(base + ("items", i, "unit"),
                                        f"{needed.item} is counted in {item.unit}, not {needed.unit}"))
    return problems
