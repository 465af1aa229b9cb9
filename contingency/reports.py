"""Field and public reports -> detections: a report of something seen opens (or joins) an incident.

A report is attached to a risk source: the one it names when the plan knows it, else the nearest by great-circle
distance. A report is never dropped: one farther than the plan's `reports.attach_within_km` still goes to the
nearest source, and its title and evidence say how far it is. A report only fires; nothing clears it, a person
resolves the incident. Ids derive from the report's event id, so a replayed report gives the same detection.
"""
from __future__ import annotations

import math

from schemas.detections import Detection
from schemas.incidents import Evidence, WarningLevel
from schemas.reports import GeoPoint, IncidentReport

from contingency.ids import derive
from contingency.plan import Plan, RiskSource

FAMILY = "report"
RULE_ID = "public_report"
# A report comes from a person, not a station. The id is reserved (validation), so no station maintenance
# window can hold back the pages of a report incident.
STATION_ID = "report"
EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
EXCERPT_CHARS = 40


def report_detection(plan: Plan, report: IncidentReport) -> Detection:
    source, km, named_unknown = attach(plan, report)
    far = km > plan.reports.attach_within_km
    return Detection(
        event_id=derive("detection", report.event_id, RULE_ID, STATION_ID, "firing"),
        status="firing", source_id=source.id, station_id=STATION_ID, rule_id=RULE_ID, family=FAMILY,
        level=report_level(plan, report.category), title=_title(plan, report, source, km, far, named_unknown),
        evidence=[_evidence(plan, report, km)], observed_at=report.reported_at,
        caused_by=report.event_id, drill_id=report.drill_id)


def report_level(plan: Plan, category: str) -> WarningLevel:
    entry = plan.reports.categories.get(category)
    return entry.level if entry is not None else plan.reports.default_level


def attach(plan: Plan, report: IncidentReport) -> tuple[RiskSource, float, bool]:
    """The source a report belongs to, its distance from the report in km, and whether the report named a source
    the plan does not know. Without a known named source: the nearest of the category's `source_kinds` (any kind
    when it lists none), ties to the smaller id."""
    named = plan.sources.get(report.source_id) if report.source_id is not None else None
    if named is not None:
        return named, distance_km(report.location, named), False
    category = plan.reports.categories.get(report.category)
    kinds = set(category.source_kinds) if category is not None else set()
    candidates = [s for s in plan.sources.values() if not kinds or s.kind in kinds] or list(plan.sources.values())
    nearest = min(candidates, key=lambda s: (distance_km(report.location, s), s.id))
    return nearest, distance_km(report.location, nearest), report.source_id is not None


def distance_km(point: GeoPoint, source: RiskSource) -> float:
    """Great-circle (haversine) distance."""
    lat1, lon1 = math.radians(point.lat), math.radians(point.lon)
    lat2, lon2 = math.radians(source.location.lat), math.radians(source.location.lon)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def category_name(plan: Plan, category: str) -> str:
    entry = plan.reports.categories.get(category)
    return entry.name if entry is not None else category


def _title(plan: Plan, report: IncidentReport, source: RiskSource, distance: float, far: bool,
           named_unknown: bool) -> str:
    title = f"群众举报: {category_name(plan, report.category)} — {_place(report)}"
    excerpt = _excerpt(report.description)
    if excerpt:
        title += f": {excerpt}"
    notes = []
    if named_unknown:
        notes.append(f"所报风险源 {report.source_id} 不在预案中")
    if far:
        which = "所报风险源" if report.source_id in plan.sources else "最近风险源"
        notes.append(f"距{which}{source.name} {distance:.1f} km,超出 {plan.reports.attach_within_km:g} km")
    return title + (f"({';'.join(notes)})" if notes else "")


def _place(report: IncidentReport) -> str:
    return report.place_name.strip() or f"{report.location.lat:.4f}N {report.location.lon:.4f}E"


def _excerpt(description: str) -> str:
    text = " ".join(description.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1].rstrip() + "…"


def _evidence(plan: Plan, report: IncidentReport, distance: float) -> Evidence:
    """The report as a measurement against a limit, the shape SMS and the incident record read: the distance
    from the report to the source against the plan's attach radius; reporter and position with the limit."""
    reporter = report.reporter.strip() or "未留名"
    where = f"{report.location.lat:.5f},{report.location.lon:.5f}"
    return Evidence(
        station_id=STATION_ID, parameter=report.category,
        parameter_name=f"{category_name(plan, report.category)},举报点距此",
        value=round(distance, 2), unit="km",
        limit=f"<= {plan.reports.attach_within_km:g} km (举报人 {reporter}; 位置 {where})",
        observed_at=report.reported_at)
