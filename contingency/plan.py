"""The contingency plan: what a county's bureau writes down, as validated data.

A plan file is a YAML mapping. Collections are mappings keyed by id (`sources`, `stations`, `rules`, ...), so an
error path such as `rules.hlh_nh3_iii.limit.class` points at one place in the file. Shape errors are found by
these models; references between sections are checked by `contingency.validation`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from schemas.incidents import WarningLevel

from contingency.bounds import Bound

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
WaterClass = Literal["I", "II", "III", "IV", "V"]
Grade = Literal["I", "II", "III", "IV"]
Confidence = Literal["high", "medium", "low", "none"]
SourceKind = Literal["tailings_pond", "drinking_water_source", "river_section", "outfall", "hazardous_waste_site",
                     "radiation_source", "road_segment", "air_quality_zone"]
RuleKind = Literal["threshold", "sustained", "rate_of_change", "station_silence", "flatline", "points"]
POLLUTION_FAMILIES = ("threshold", "sustained", "rate_of_change")


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)


SHARED = "shared"  # the validation context's table of Shared values (validation_context)


def validation_context() -> dict[str, Any]:
    """What a plan is validated with: a table in which equal Shared values become one object."""
    return {SHARED: {}}


class Shared(PlanModel):
    """A value that repeats across a plan's entries, as the same parameter does at thousands of stations of a
    province: validated with `validation_context()`, equal values become one object (all are frozen), so a plan's
    size in memory grows with what it says, not with how often it says it (issue 14: 132,000 parameters of a
    20,000-station plan held about a hundred megabytes)."""

    @model_validator(mode="wrap")
    @classmethod
    def _one_of_each(cls, data: Any, handler: Any, info: Any) -> Any:
        made = handler(data)
        shared = info.context.get(SHARED) if isinstance(info.context, dict) else None
        return made if shared is None else shared.setdefault(made, made)


class Keyed(PlanModel):
    """An entry of a mapping keyed by id; the key is copied into `id` when the plan is read."""

    id: Identifier


def _ids_from_keys(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {}
    for key, entry in value.items():
        if isinstance(entry, dict) and "id" not in entry:
            entry = {"id": key, **entry}
        out[key] = entry
    return out


MonthDay = Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class Season(Shared):
    """A season of every year on the plan's local calendar: from the start of `start` to the end of `end` (MM-DD;
    it may wrap the new year)."""

    name: Text = Field(description="e.g. 冰封期")
    start: MonthDay = Field(alias="from", description="first day, MM-DD")
    end: MonthDay = Field(alias="to", description="last day, MM-DD")
    example: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _days_exist(self) -> "Season":
        for field_name in ("start", "end"):
            month, day = (int(part) for part in getattr(self, field_name).split("-"))
            if day > (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31):
                raise ValueError(f"{'from' if field_name == 'start' else 'to'}: "
                                 f"{getattr(self, field_name)} is not a day of the year")
        return self


class Jurisdiction(PlanModel):
    name: Text
    code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = Field(None, description="GB/T 2260 code")
    parent: Text | None = None


class Location(Shared):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    confidence: Confidence = "medium"
    note: str = ""


class DownstreamLink(PlanModel):
    source: Identifier
    travel_minutes: float = Field(gt=0, description="estimated travel time of water from this source to that one")
    note: str = ""


UploadKind = Literal["realtime", "minute", "hour", "day"]


class Hj212Link(PlanModel):
    """How the station speaks HJ 212 to the gateway. The password itself is read from the environment."""

    mn: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,24}$")] = Field(
        description="the station's MN (设备唯一标识): 24 characters in HJ 212-2017, 14 in HJ/T 212-2005")
    password_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")] = Field(
        description="environment variable holding the station's PW")
    readings_from: list[UploadKind] = Field(
        default_factory=lambda: ["realtime", "minute", "hour"],
        description="uploads that become readings (rtd or interval average); the others are archived only")
    rtd_interval_seconds: int | None = Field(
        None, ge=30, le=3600, description="the station's normal real-time interval, restored after an incident")
    can_sample: bool = Field(False, description="the station takes a sample on command (3012 即时采样)")


class Hj212OnIncident(Shared):
    """What the gateway asks of the source's stations while an incident there is open."""

    rtd_interval_seconds: int = Field(ge=30, le=3600, description="real-time interval during the incident (1062)")
    sample: bool = Field(True, description="ask stations that can to take a sample at once (3012)")


class RiskSource(Keyed):
    name: Text
    kind: SourceKind
    location: Location
    water_class: WaterClass | None = Field(None, description="water-function class, where one applies")
    water_body: Literal["river", "lake_reservoir"] | None = None
    downstream: list[DownstreamLink] = Field(default_factory=list)
    hj212_on_incident: Hj212OnIncident | None = None
    transboundary: bool = Field(False, description="its water crosses a national border downstream (跨国界): a "
                                "heavy-metal exceedance opens at least sensitivity.transboundary_level")
    note: str = ""

    @model_validator(mode="after")
    def _water_sources_have_a_class(self) -> "RiskSource":
        if self.kind in ("river_section", "drinking_water_source") and self.water_class is None:
            raise ValueError(f"a {self.kind} needs water_class (I-V)")
        return self


class Parameter(Shared):
    name: Text = Field(description="display name as the plan gives it, e.g. 氨氮")
    unit: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    hj212_code: str | None = Field(None, description="HJ 212 pollutant code the gateway maps from")
    physical: tuple[float | None, float | None] | None = Field(
        None, description="[low, high] no true reading falls outside (either may be null); default: the built-in "
                          "range of the parameter or its unit (contingency/physical.py)")

    @model_validator(mode="after")
    def _physical_is_a_range(self) -> "Parameter":
        if self.physical is not None:
            low, high = self.physical
            if low is not None and high is not None and low >= high:
                raise ValueError(f"physical: low {low:g} must be below high {high:g}")
        return self


class Station(Keyed):
    name: Text
    source: Identifier
    parameters: dict[Identifier, Parameter] = Field(min_length=1)
    hj212: Hj212Link | None = None
    report_interval_minutes: float | None = Field(None, gt=0)
    location: Location | None = None
    paused_in: list[Identifier] = Field(default_factory=list, description="seasons when the station does not run "
                                        "(a river station in the ice-covered winter): its silence does not page")
    note: str = ""


class LimitSpec(PlanModel):
    """Exactly one of: a fixed `upper`, `lower` or `range`, or a `standard` (with `class` or `iaqi`)."""

    upper: float | None = None
    lower: float | None = None
    range: tuple[float, float] | None = None
    standard: str | None = None
    item: Identifier | None = Field(None, description="standard item; defaults to the rule's parameter")
    water_class: WaterClass | None = Field(None, alias="class",
                                           description="GB 3838 class; defaults to the source's water_class")
    iaqi: int | None = Field(None, description="HJ 633 IAQI breakpoint, e.g. 150")

    @model_validator(mode="after")
    def _one_form(self) -> "LimitSpec":
        forms = [name for name in ("upper", "lower", "range", "standard") if getattr(self, name) is not None]
        if len(forms) != 1:
            raise ValueError("give exactly one of upper, lower, range or standard"
                             + (f" (found {', '.join(forms)})" if forms else ""))
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range must be [low, high] with low <= high")
        if self.standard is None and (self.item or self.water_class or self.iaqi is not None):
            raise ValueError("item, class and iaqi belong to a standard limit")
        return self


class RuleBase(Keyed):
    title: str = Field("", max_length=200, description="what the duty officer reads; generated when empty")
    level: WarningLevel
    family: Identifier | None = Field(None, description="dedup family; defaults to the rule kind")
    stations: list[Identifier] = Field(default_factory=list)
    sources: list[Identifier] = Field(default_factory=list)
    source_kinds: list[SourceKind] = Field(default_factory=list)
    example: bool = Field(False, description="an example value to be replaced by the site's own design value")
    season: Identifier | None = Field(None, description="fires only on readings within this season of the plan")
    note: str = ""

    @model_validator(mode="after")
    def _targets_something(self) -> "RuleBase":
        if not (self.stations or self.sources or self.source_kinds):
            raise ValueError("a rule applies to stations, sources or source_kinds: name at least one")
        return self


class Condition(PlanModel):
    """A condition on another measurement of the same station: exactly one of `at_most` and `above`."""

    parameter: Identifier
    at_most: float | None = None
    above: float | None = None
    max_age_minutes: float = Field(180, gt=0, description="an older reading of the parameter is not known")

    @model_validator(mode="after")
    def _one_bound(self) -> "Condition":
        if (self.at_most is None) == (self.above is None):
            raise ValueError("give exactly one of at_most or above")
        return self

    def holds(self, value: float) -> bool:
        return value <= self.at_most if self.at_most is not None else value > self.above  # type: ignore[operator]

    def describe(self) -> str:
        """e.g. "water_temperature <= 12"."""
        return (f"{self.parameter} <= {self.at_most:g}" if self.at_most is not None
                else f"{self.parameter} > {self.above:g}")


class RelaxedLimit(PlanModel):
    """A laxer limit that applies while a condition holds (GB 18918-2002: ammonia 5 mg/L, 8 mg/L when the water
    temperature is at most 12 degC). While the condition is not known, the rule's own (stricter) limit applies."""

    limit: LimitSpec
    when: Condition


class ThresholdRule(RuleBase):
    kind: Literal["threshold"]
    parameter: Identifier
    limit: LimitSpec
    relaxed: RelaxedLimit | None = None


class SustainedRule(RuleBase):
    """Fires when at least k of the last n judged readings break the limit."""

    kind: Literal["sustained"]
    parameter: Identifier
    limit: LimitSpec
    k: int = Field(ge=1)
    n: int = Field(ge=1, le=500)

    @model_validator(mode="after")
    def _k_within_n(self) -> "SustainedRule":
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) cannot exceed n ({self.n})")
        return self


class RateOfChangeRule(RuleBase):
    """Fires when the value rose (or fell) by more than the given amount within the window."""

    kind: Literal["rate_of_change"]
    parameter: Identifier
    window_minutes: float = Field(gt=0, le=7 * 24 * 60)
    rise: float | None = Field(None, gt=0)
    fall: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _rise_or_fall(self) -> "RateOfChangeRule":
        if self.rise is None and self.fall is None:
            raise ValueError("give rise, fall or both")
        return self


class StationSilenceRule(RuleBase):
    kind: Literal["station_silence"]
    after_minutes: float = Field(gt=0)


class FlatlineRule(RuleBase):
    """Fires when a value stays within `tolerance` for `minutes` over at least `min_readings` readings."""

    kind: Literal["flatline"]
    parameter: Identifier
    minutes: float = Field(gt=0)
    tolerance: float = Field(0.0, ge=0)
    min_readings: int = Field(3, ge=2)


class PointsRule(RuleBase):
    """An item measured at several points (the piezometers of a section, the displacement benchmarks of a dam), as
    GB 39496-2020 5.5.4 grades it: each point is at the highest level whose limit it breaks, the item at its
    highest point, and `raise` points at a level or above raise the item one level above it (4 at blue: yellow;
    3 at yellow: orange; 2 at orange: red). Judged on each point's latest reading when any of them reports.
    `level` is the lowest level in `levels`."""

    kind: Literal["points"]
    parameters: list[Identifier] = Field(min_length=2, description="one parameter per monitoring point")
    levels: dict[WarningLevel, LimitSpec] = Field(min_length=1, description="each level's fixed limit")
    raise_at: dict[WarningLevel, int] = Field(default_factory=dict, alias="raise",
                                              description="points at a level or above that raise the item one level")

    @model_validator(mode="before")
    @classmethod
    def _level_is_the_lowest(cls, data: Any) -> Any:
        if isinstance(data, dict) and "level" not in data and isinstance(data.get("levels"), dict) and data["levels"]:
            ranks = {level.value: level.rank for level in WarningLevel}
            known = [level for level in data["levels"] if level in ranks]
            if known:
                data = {**data, "level": min(known, key=ranks.__getitem__)}
        return data

    @model_validator(mode="after")
    def _limits_are_fixed(self) -> "PointsRule":
        for level, limit in self.levels.items():
            if limit.standard is not None:
                raise ValueError(f"levels.{level.value}: a point's limit is a fixed upper, lower or range")
        if min(self.levels, key=lambda level: level.rank) != self.level:
            raise ValueError("level is the lowest level in levels (leave it out)")
        for level, points in self.raise_at.items():
            if level == WarningLevel.RED:
                raise ValueError("raise.red: nothing is above red")
            if not 1 <= points <= len(self.parameters):
                raise ValueError(f"raise.{level.value}: {points} points, but the rule has {len(self.parameters)}")
        return self


Rule = Annotated[Union[ThresholdRule, SustainedRule, RateOfChangeRule, StationSilenceRule, FlatlineRule, PointsRule],
                 Field(discriminator="kind")]
MeasuredRule = ThresholdRule | SustainedRule | RateOfChangeRule | FlatlineRule


class LevelPolicy(PlanModel):
    name: Text = Field(description="e.g. 蓝色预警")
    grade: Grade = Field(description="the national-plan incident grade (I-IV) this level may imply")
    meaning: str = ""


class Role(PlanModel):
    name: Text


class ReportDeadline(PlanModel):
    """The initial report (初报) an incident of a grade owes: within how long of the bureau learning of it, to whom."""

    within_minutes: float = Field(gt=0, le=7 * 24 * 60)
    to: list[Identifier] = Field(min_length=1, description="roles (bodies) the report goes to")
    also: list[Text] = Field(default_factory=list, description="bodies reported to at the same time, by name")


class GradePolicy(PlanModel):
    """What an incident grade asks of the plan: who leads the response, and the bodies a warning that may imply
    the grade must reach (checked by `ers plan check` against each level's escalation chain)."""

    name: Text = Field(description="e.g. 较大突发环境事件")
    lead: Text = Field(description="who leads the response, e.g. 兴安盟行政公署")
    must_reach: list[Identifier] = Field(default_factory=list, description="roles the chain must call or notify")
    report: ReportDeadline | None = Field(None, description="the initial report an incident of this grade owes")
    source: str = Field("", description="the plan or rule the requirement comes from")


class ReportingPolicy(PlanModel):
    """Who drafts and files the reports, and which incidents follow a stricter grade's procedure (突发环境事件信息
    报告办法 第四条: drinking-water sources, heavy metals, transboundary impact)."""

    responsible: Identifier | None = Field(None, description="the role that drafts and files the reports")
    stricter_grade: Grade | None = Field("II", description="the grade whose procedure such incidents follow")
    remind_before_minutes: list[float] = Field(default_factory=lambda: [60.0, 15.0], description="remind the "
                                               "responsible role this long before the deadline (and once at it)")
    final_within_days: float | None = Field(None, gt=0, description="the final report (处理结果报告) is due this "
                                            "many days after the resolution: the 办法 sets no time (第十二条: after "
                                            "the incident is dealt with); a province or county rule may")


# 重金属或者类金属 (突发环境事件信息报告办法 第四条): the GB 3838-2002 Table 1 and Table 3 metals and arsenic.
DEFAULT_HEAVY_METALS = ("cadmium", "lead", "mercury", "arsenic", "chromium_vi", "copper", "zinc", "selenium",
                        "nickel", "thallium", "antimony", "beryllium", "molybdenum", "cobalt", "barium",
                        "vanadium")


class SensitivityPolicy(PlanModel):
    heavy_metals: list[Identifier] = Field(default_factory=lambda: list(DEFAULT_HEAVY_METALS),
                                           description="parameters that are heavy metals or metalloids")
    transboundary_level: WarningLevel = Field(
        WarningLevel.YELLOW, description="the least level of a heavy-metal exceedance at a transboundary source")


class EscalationTier(PlanModel):
    roles: list[Identifier] = Field(min_length=1)
    wait_minutes: float = Field(ge=0, description="wait for an acknowledgement before the next tier")
    call: bool = Field(False, description="叫应: call the tier's people when they have not acknowledged within "
                                          "wait_minutes, or their SMS failed; pressing 1 acknowledges")
    call_wait_minutes: float = Field(3, ge=0.5, le=30, description="with call: how long a call is given (ringing, "
                                                                    "the message, the key) before the next tier")


class EscalationChain(PlanModel):
    tiers: list[EscalationTier] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=9, description="times the whole chain is repeated when nobody acknowledges")
    notify: list[Identifier] = Field(default_factory=list, description="roles told at once, without waiting")


DEFAULT_MAX_MOVEMENT = 100_000.0


class Item(PlanModel):
    name: Text
    unit: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    note: str = ""
    max_movement: float = Field(DEFAULT_MAX_MOVEMENT, gt=0, le=1e9, description="the most one ledger movement may "
                                "carry, in the item's unit: more is a typing error, refused to the dead letters")


class Depot(Keyed):
    name: Text
    location: Location
    mobilisation_minutes: float = Field(ge=0)
    operator: str = ""
    note: str = ""


class RequiredItem(PlanModel):
    item: Identifier
    quantity: float = Field(gt=0)
    unit: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class MaterialRequirement(PlanModel):
    scenario: Text
    source_kinds: list[SourceKind] = Field(default_factory=list)
    sources: list[Identifier] = Field(default_factory=list)
    within_minutes: float | None = Field(None, gt=0, description="must be reachable within, e.g. 120 (2小时应急圈)")
    items: list[RequiredItem] = Field(min_length=1)


class QualityPolicy(PlanModel):
    judged_flags: list[Literal["N", "F", "M", "S", "D", "C", "T", "B"]] = Field(
        default_factory=lambda: ["N"], min_length=1, description="HJ 212-2017 flags whose values are judged")


class CorrelationPolicy(PlanModel):
    families: list[Identifier] = Field(default_factory=lambda: list(POLLUTION_FAMILIES))
    window_factor: float = Field(1.5, ge=1, description="fold within travel time x this factor")
    raise_by: int = Field(1, ge=0, le=3, description="warning levels added when pollution reaches downstream")


class ReportCategory(PlanModel):
    name: Text = Field(description="display name for titles and SMS, e.g. 油类泄漏")
    level: WarningLevel
    source_kinds: list[SourceKind] = Field(
        default_factory=list, description="kinds a report naming no source may attach to; empty: any kind")
    note: str = ""


class ReportPolicy(PlanModel):
    """How field and public reports open incidents: the level per report category, and how far from a risk
    source a report may be and still belong to it (a farther one is still attached to the nearest source)."""

    default_level: WarningLevel = Field(WarningLevel.BLUE, description="level of a category not listed")
    attach_within_km: float = Field(10.0, gt=0, le=1000)
    categories: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], ReportCategory] = Field(
        default_factory=dict, description="keyed by the report's `category` as the reporting channel sends it")


class Plan(PlanModel):
    id: Identifier
    name: Text
    version: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    effective: dt.date
    jurisdiction: Jurisdiction
    note: str = ""
    sources: dict[Identifier, RiskSource] = Field(min_length=1)
    stations: dict[Identifier, Station] = Field(min_length=1)
    rules: dict[Identifier, Rule] = Field(default_factory=dict)
    levels: dict[WarningLevel, LevelPolicy]
    roles: dict[Identifier, Role] = Field(min_length=1)
    escalation: dict[WarningLevel, EscalationChain]
    items: dict[Identifier, Item] = Field(default_factory=dict)
    depots: dict[Identifier, Depot] = Field(default_factory=dict)
    materials: list[MaterialRequirement] = Field(default_factory=list)
    families: dict[RuleKind, Identifier] = Field(
        default_factory=dict, description="dedup family per rule kind, e.g. {sustained: threshold} so a sustained "
                                          "exceedance raises the threshold incident instead of opening its own")
    quality: QualityPolicy = Field(default_factory=QualityPolicy)
    correlation: CorrelationPolicy = Field(default_factory=CorrelationPolicy)
    propose_materials_from: WarningLevel = Field(
        default=WarningLevel.ORANGE, description="incidents at or above this level get a dispatch proposal")
    reports: ReportPolicy = Field(default_factory=ReportPolicy)
    grades: dict[Grade, GradePolicy] = Field(default_factory=dict)
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "Asia/Shanghai", description="IANA time zone of the plan's local calendar (seasons)")
    seasons: dict[Identifier, Season] = Field(default_factory=dict)
    sensitivity: SensitivityPolicy = Field(default_factory=SensitivityPolicy)
    reporting: ReportingPolicy = Field(default_factory=ReportingPolicy)

    _keyed = field_validator("sources", "stations", "rules", "depots", mode="before")(_ids_from_keys)

    def source_of(self, station_id: str) -> RiskSource:
        return self.sources[self.stations[station_id].source]

    def family_of(self, rule: "Rule") -> str:
        """The dedup family: the rule's own `family`, else the plan's `families` entry for its kind, else the kind."""
        return rule.family or self.families.get(rule.kind, rule.kind)

    def level_at(self, rule: "Rule", source_id: str) -> WarningLevel:
        """The level a rule opens at a source: its own, raised to sensitivity.transboundary_level for a heavy-metal
        exceedance where the water crosses a border."""
        if (isinstance(rule, (ThresholdRule, SustainedRule)) and self.sources[source_id].transboundary
                and rule.parameter in self.sensitivity.heavy_metals):
            return max(rule.level, self.sensitivity.transboundary_level, key=lambda level: level.rank)
        return rule.level

    def chain_for(self, level: WarningLevel) -> "EscalationChain":
        return self.escalation[level]

    def materials_for(self, source_id: str) -> list["MaterialRequirement"]:
        """Requirements naming the source, or its kind."""
        kind = self.sources[source_id].kind
        return [m for m in self.materials if source_id in m.sources or kind in m.source_kinds]


@dataclass(frozen=True, slots=True)
class BoundRule:
    """A rule with its limit resolved to numbers, as it applies to a station (the limit depends on the station's
    source and unit). Made by compiling a checked plan, once for every station the rule and its numbers apply to:
    the station is not part of it, so that a province's thousands of alike stations share one."""

    rule: Rule
    bound: Bound | None = None  # for threshold and sustained rules
    level: WarningLevel | None = None  # where it differs from the rule's (Plan.level_at)
    relaxed: Bound | None = None  # a threshold rule's laxer limit while its condition holds (ThresholdRule.relaxed)

    @property
    def opens_at(self) -> WarningLevel:
        return self.level or self.rule.level

    @property
    def kind(self) -> RuleKind:
        return self.rule.kind

    @property
    def limit(self) -> Bound:
        assert self.bound is not None, f"{self.rule.id} has no numeric limit"
        return self.bound



def calling_tiers(plan: "Plan") -> list[str]:
    """The tiers that call (叫应), as "red tier 1"."""
    return [f"{level.value} tier {n}" for level, chain in plan.escalation.items()
            for n, tier in enumerate(chain.tiers, 1) if tier.call]
