"""`ers plan show`: a readable summary of a contingency plan, as rich tables (presentation only)."""
from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from contingency.plan import (FlatlineRule, LimitSpec, Location, Plan, PointsRule, RateOfChangeRule, Rule,
                              StationSilenceRule, SustainedRule)

LEVEL_STYLE = {"blue": "bold blue", "yellow": "bold yellow", "orange": "bold dark_orange", "red": "bold red"}
EXAMPLE = "[italic magenta](示例)[/]"


def render_plan_summary(plan: Plan) -> RenderableType:
    return Group(_header(plan), _sources(plan), _stations(plan), _rules(plan), _reports(plan), _escalation(plan),
                 _depots(plan), _materials(plan))


def _header(plan: Plan) -> Panel:
    where = plan.jurisdiction.name + (f" ({plan.jurisdiction.code})" if plan.jurisdiction.code else "")
    if plan.jurisdiction.parent:
        where += f", {plan.jurisdiction.parent}"
    examples = sum(1 for rule in plan.rules.values() if rule.example)
    lines = [f"[bold]{escape(plan.name)}[/]", f"id {plan.id}  version {plan.version}  effective {plan.effective}  {where}",
             f"{len(plan.sources)} risk sources, {len(plan.stations)} stations, {len(plan.rules)} rules, "
             f"{len(plan.depots)} depots; judged HJ 212 flags: {', '.join(plan.quality.judged_flags)}"]
    if examples:
        lines.append(f"[magenta]{examples} rules hold example values to replace with site design values[/]")
    return Panel("\n".join(lines), title="contingency plan", expand=False)


def _sources(plan: Plan) -> Table:
    table = Table(title="risk sources", title_justify="left")
    table.add_column("id")
    table.add_column("name", no_wrap=True)
    for column in ("kind", "class", "location", "downstream"):
        table.add_column(column)
    for source in plan.sources.values():
        downstream = ", ".join(f"{link.source} (~{link.travel_minutes:g} min)" for link in source.downstream)
        table.add_row(source.id, escape(source.name), source.kind, source.water_class or "", _location(source.location),
                      downstream)
    return table


def _stations(plan: Plan) -> Table:
    table = Table(title="stations", title_justify="left")
    for column in ("id", "name", "source", "every", "parameters"):
        table.add_column(column)
    for station in plan.stations.values():
        every = f"{station.report_interval_minutes:g} min" if station.report_interval_minutes else ""
        parameters = ", ".join(f"{escape(p.name)} [dim]{escape(p.unit)}[/]" for p in station.parameters.values())
        table.add_row(station.id, escape(station.name), station.source, every, parameters)
    return table


def _rules(plan: Plan) -> Table:
    table = Table(title="rules", title_justify="left")
    for column in ("level", "kind", "rule", "applies to", "condition"):
        table.add_column(column)
    for rule in sorted(plan.rules.values(), key=lambda r: (r.kind, -r.level.rank, r.id)):
        targets = ", ".join(rule.stations + rule.sources + list(rule.source_kinds))
        title = f"{rule.id}\n[dim]{escape(rule.title)}[/]" + (f" {EXAMPLE}" if rule.example else "")
        table.add_row(Text(rule.level.value, style=LEVEL_STYLE[rule.level.value]), rule.kind, title, targets,
                      escape(_condition(plan, rule)))
    return table


def _condition(plan: Plan, rule: Rule) -> str:
    if isinstance(rule, StationSilenceRule):
        return f"no report for > {rule.after_minutes:g} min"
    if isinstance(rule, RateOfChangeRule):
        parts = [f"rise > {rule.rise:g}" if rule.rise else "", f"fall > {rule.fall:g}" if rule.fall else ""]
        return f"{rule.parameter}: {' or '.join(p for p in parts if p)} within {rule.window_minutes:g} min"
    if isinstance(rule, FlatlineRule):
        return f"{rule.parameter} unchanged (±{rule.tolerance:g}) for {rule.minutes:g} min"
    if isinstance(rule, PointsRule):
        levels = ", ".join(f"{level.value} {_spec(limit)}" for level, limit in rule.levels.items())
        raised = ", ".join(f"{n} at {level.value}" for level, n in rule.raise_at.items())
        return f"{len(rule.parameters)} points ({levels})" + (f"; raised one level by {raised}" if raised else "")
    limit = _resolved_limit(plan, rule) or _spec(rule.limit)
    text = f"{rule.parameter} must be {limit}"
    if isinstance(rule, SustainedRule):
        text += f", {rule.k} of last {rule.n}"
    return text


def _resolved_limit(plan: Plan, rule: Rule) -> str | None:
    for station_id in plan.stations:
        for bound_rule in plan.rules_for(station_id):
            if bound_rule.rule.id == rule.id and bound_rule.bound is not None:
                return bound_rule.limit.text
    return None


def _spec(spec: LimitSpec) -> str:
    if spec.standard:
        return f"{spec.standard} {spec.item or ''} {spec.water_class or ''} {spec.iaqi or ''}".strip()
    if spec.range:
        return f"{spec.range[0]:g}..{spec.range[1]:g}"
    return f"<= {spec.upper:g}" if spec.upper is not None else f">= {spec.lower:g}"


def _reports(plan: Plan) -> Table:
    policy = plan.reports
    table = Table(title=f"field and public reports (attached to the nearest source within "
                        f"{policy.attach_within_km:g} km; other categories: {policy.default_level.value})",
                  title_justify="left")
    for column in ("category", "name", "level", "may attach to"):
        table.add_column(column)
    for category, spec in policy.categories.items():
        table.add_row(category, escape(spec.name), spec.level.value, ", ".join(spec.source_kinds) or "any source")
    return table


def _escalation(plan: Plan) -> Table:
    table = Table(title="warning levels and escalation", title_justify="left")
    for column in ("level", "grade", "tiers (wait for acknowledgement)", "repeat", "also notify"):
        table.add_column(column)
    for level, policy in sorted(plan.levels.items(), key=lambda item: item[0].rank):
        chain = plan.escalation.get(level)
        tiers = " → ".join(f"{'+'.join(_role(plan, r) for r in tier.roles)} ({tier.wait_minutes:g} min)"
                           for tier in chain.tiers) if chain else "[red]none[/]"
        table.add_row(Text(f"{level.value} {policy.name}", style=LEVEL_STYLE[level.value]), policy.grade, tiers,
                      str(chain.repeat) if chain else "", ", ".join(_role(plan, r) for r in chain.notify) if chain else "")
    return table


def _role(plan: Plan, role_id: str) -> str:
    role = plan.roles.get(role_id)
    return escape(role.name) if role else role_id


def _depots(plan: Plan) -> Table:
    table = Table(title="depots", title_justify="left")
    for column in ("id", "name", "location", "mobilise"):
        table.add_column(column)
    for depot in plan.depots.values():
        table.add_row(depot.id, escape(depot.name), _location(depot.location), f"{depot.mobilisation_minutes:g} min")
    return table


def _materials(plan: Plan) -> Table:
    table = Table(title="required materials (quantities are the plan's; stock is in the ledger)",
                  title_justify="left")
    for column in ("scenario", "for", "within", "items"):
        table.add_column(column)
    for requirement in plan.materials:
        items = "\n".join(f"{plan.items[i.item].name if i.item in plan.items else i.item} {i.quantity:g} {i.unit}"
                          for i in requirement.items)
        within = f"{requirement.within_minutes:g} min" if requirement.within_minutes else ""
        table.add_row(escape(requirement.scenario), ", ".join(list(requirement.source_kinds) + requirement.sources), within,
                      escape(items))
    return table


def _location(location: Location) -> str:
    style = {"high": "green", "medium": "yellow", "low": "red", "none": "red"}[location.confidence]
    return f"{location.lat:.3f}, {location.lon:.3f} [{style}]({location.confidence})[/]"
