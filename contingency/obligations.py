"""Reporting obligations (突发环境事件信息报告办法, 原环境保护部令第17号): the initial report an incident owes, to whom
and by when, and its draft with what 第十三条 asks an initial report to say, from what ERS knows of the incident.

- The deadline runs from when the bureau learned of the incident (its opening) and depends on its grade (the plan's
  `grades.<grade>.report`; Arxan: 4 h for IV/III, 2 h for II/I).
- An incident touching a drinking-water source (at one, or one downstream), involving a heavy metal or metalloid,
  or at a transboundary source follows the stricter grade's procedure (`reporting.stricter_grade`, 第四条).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from schemas.incident_states import IncidentState
from schemas.incidents import WarningLevel

from contingency.compiled import CompiledPlan
from contingency.paging_state import ReportClock
from contingency.plan import Plan

GRADE_ORDER = ("IV", "III", "II", "I")  # lowest first
DRINKING = "饮用水水源地"
HEAVY_METAL = "重金属或类金属"
BORDER = "可能产生跨国界影响"


@dataclass(frozen=True)
class Obligation:
    grade: str                   # the grade the incident's level implies
    procedure: str               # the grade whose procedure it follows
    reasons: tuple[str, ...]     # why a stricter one (第四条)
    to: tuple[str, ...]          # roles
    also: tuple[str, ...]        # bodies by name
    learned_at: dt.datetime
    due_at: dt.datetime
    within_minutes: float        # the procedure's time limit, as the plan gives it


def obligation(plan: CompiledPlan, source_id: str, level: WarningLevel, parameters: set[str],
               learned_at: dt.datetime) -> Obligation | None:
    """The initial report an incident at `source_id` owes; None when the plan sets no report for its grade."""
    grade = plan.levels[level].grade if level in plan.levels else None
    if grade is None:
        return None
    reasons = _stricter_reasons(plan, source_id, parameters)
    procedure = grade
    stricter = plan.reporting.stricter_grade
    if reasons and stricter is not None and GRADE_ORDER.index(stricter) > GRADE_ORDER.index(grade):
        procedure = stricter
    policy = plan.grades.get(procedure)
    if policy is None or policy.report is None:
        return None
    return Obligation(grade, procedure, reasons if procedure != grade else (), tuple(policy.report.to),
                      tuple(policy.report.also), learned_at,
                      learned_at + dt.timedelta(minutes=policy.report.within_minutes), policy.report.within_minutes)


EQUIPMENT_KINDS = ("station_silence", "flatline")  # a silent or stuck station is not an environmental event


def start_clock(plan: CompiledPlan, source_id: str, level: WarningLevel, parameters: set[str],
                learned_at: dt.datetime, rule_id: str | None = None) -> ReportClock | None:
    """The report clock of a new incident (opened by `rule_id`); None when nobody is responsible for reports, its
    grade owes none, or its rule watches the station rather than the environment."""
    if plan.reporting.responsible is None:
        return None
    rule = plan.rules.get(rule_id) if rule_id is not None else None
    if rule is not None and rule.kind in EQUIPMENT_KINDS:
        return None
    duty = obligation(plan, source_id, level, parameters, learned_at)
    if duty is None:
        return None
    return ReportClock(procedure=duty.procedure, to=duty.to, due_at=duty.due_at)


def tightened(clock: ReportClock | None, plan: CompiledPlan, source_id: str, level: WarningLevel,
              parameters: set[str], raised_at: dt.datetime, rule_id: str | None = None) -> ReportClock | None:
    """After a raise to `level`: a report not yet filed is due by the earlier deadline, to every body either grade
    names; a report filed already owes a new one to the bodies the higher grade adds."""
    fresh = start_clock(plan, source_id, level, parameters, raised_at, rule_id)
    if fresh is None or clock is None:
        return clock or fresh
    if clock.filed_at is None:
        if fresh.due_at >= clock.due_at and set(fresh.to) <= set(clock.to):
            return clock
        return clock.model_copy(update={"due_at": min(clock.due_at, fresh.due_at), "to": _union(clock.to, fresh.to),
                                        "procedure": _stricter(clock.procedure, fresh.procedure)})
    added = tuple(role for role in fresh.to if role not in clock.to)
    return fresh.model_copy(update={"to": _union(clock.to, added)}) if added else clock


def reminder_due(clock: ReportClock, plan: CompiledPlan, now: dt.datetime) -> float | None:
    """The reminder to send now, as minutes before the deadline (0: it passed), if one is due and not yet sent:
    the latest due one only, so a clock that jumped sends one message, not three."""
    if clock.filed_at is not None:
        return None
    due = [m for m in sorted({*plan.reporting.remind_before_minutes, 0.0}, reverse=True)
           if now >= clock.due_at - dt.timedelta(minutes=m)]
    if not due or due[-1] in clock.reminded:
        return None
    return due[-1]


def owed_after(clock: ReportClock, plan: Plan, resolved_at: dt.datetime) -> ReportClock:
    """The clock of an incident resolved at `resolved_at`: the final report is owed from now, by the plan's
    `reporting.final_within_days` if it sets one."""
    days = plan.reporting.final_within_days
    return clock if days is None else clock.model_copy(update={"final_due_at": resolved_at + dt.timedelta(days=days)})


def final_reminder_due(clock: ReportClock, now: dt.datetime) -> bool:
    """Whether to tell the responsible role now that the final report is past its deadline (once)."""
    return (clock.final is None and clock.final_due_at is not None and not clock.final_reminded
            and now >= clock.final_due_at)


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


def _stricter(a: str, b: str) -> str:
    return a if GRADE_ORDER.index(a) >= GRADE_ORDER.index(b) else b


def _stricter_reasons(plan: CompiledPlan, source_id: str, parameters: set[str]) -> tuple[str, ...]:
    reached = [source_id, *downstream_of(plan, source_id)]
    reasons = []
    if any(plan.sources[s].kind == "drinking_water_source" for s in reached if s in plan.sources):
        reasons.append(DRINKING)
    if parameters & set(plan.sensitivity.heavy_metals):
        reasons.append(HEAVY_METAL)
    source = plan.sources.get(source_id)
    if source is not None and source.transboundary:  # at the border river itself; an outfall upstream is not "可能跨国"
        reasons.append(BORDER)
    return tuple(reasons)


def downstream_of(plan: CompiledPlan, source_id: str) -> dict[str, float]:
    """Sources the water of `source_id` reaches, with the travel minutes."""
    return {other: by[source_id] for other, by in plan.index.upstream.items() if source_id in by}


def initial_report(plan: CompiledPlan, state: IncidentState, duty: Obligation, names: Mapping[str, str],
                   tz: dt.tzinfo, now: dt.datetime) -> str:
    """The draft of the initial report (初报), with what 第十三条 asks for: what ERS does not know is marked 待核实
    for the person who files it. `names`: person ids to names."""
    facts = state.facts
    source = plan.sources.get(state.source_id)

    def at(moment: dt.datetime | None) -> str:
        return f"{moment.astimezone(tz):%Y年%m月%d日%H:%M}" if moment is not None else "待核实"

    place = facts.place
    if source is not None:
        location = source.location
        place += (f"(北纬{location.lat:g}°, 东经{location.lon:g}°"
                  + (f", 位置可信度{_CONFIDENCE[location.confidence]})" if location.confidence != "high" else ")"))
    from_station = state.kind != "report"
    origin = "在线监测(自动站)" if from_station else "举报/现场报告"
    measured = (f"{facts.parameter} {facts.value:g} {facts.unit}(限值 {facts.limit}), {at(facts.observed_at)}"
                if facts.value is not None else (facts.title or "待核实"))
    below = downstream_of(plan, state.source_id)
    sensitive = [f"{plan.sources[s].name}(约{minutes:g}分钟到达)" for s, minutes in sorted(below.items(), key=lambda i: i[1])
                 if s in plan.sources and plan.sources[s].kind == "drinking_water_source"]
    if source is not None and source.kind == "drinking_water_source":
        sensitive.insert(0, f"{source.name}(事发地)")
    border = [plan.sources[s].name for s in [state.source_id, *below] if s in plan.sources and plan.sources[s].transboundary]
    level = plan.levels[state.level].name if state.level in plan.levels else state.level.value
    trend = "监测值仍超过限值" if state.firing else "监测值已回落至限值内"
    done = [f"{at(state.opened_at)}启动预警, 现为{level}"]
    if state.acknowledged_by:
        done.append(f"{names.get(state.acknowledged_by, state.acknowledged_by)}已确认")
    if state.notified:
        done.append("已通知: " + "、".join(names.get(p, p) for p in state.notified))
    if state.materials is not None:
        done.append(f"物资调度建议: {state.materials.line}")
    next_steps = ["加密监测并采样分析", "排查污染来源"]
    if source is not None and source.hj212_on_incident is not None:
        next_steps[0] = (f"自动站加密至每{source.hj212_on_incident.rtd_interval_seconds:g}秒一次实时数据"
                         + ("并即时采样" if source.hj212_on_incident.sample else ""))
    if sensitive:
        next_steps.append("通知下游饮用水水源地加强监测, 必要时启动应急供水")
    if border:
        next_steps.append("按涉外通报程序报告(跨国界河流)")
    recipients = "、".join([plan.roles[r].name if r in plan.roles else r for r in duty.to] + list(duty.also))
    grade_names = {g: p.name for g, p in plan.grades.items()}
    why = f"(第四条: {'、'.join(duty.reasons)}, 按{grade_names.get(duty.procedure, duty.procedure)}程序)" \
        if duty.reasons else ""
    left = (duty.due_at - now).total_seconds() / 60
    clock = f"尚余{left:.0f}分钟" if left >= 0 else f"已超时{-left:.0f}分钟"
    if state.report_filed_at is not None:
        late = (state.report_filed_at - duty.due_at).total_seconds() / 60
        clock = (f"已于{at(state.report_filed_at)}由{names.get(state.report_filed_by or '', state.report_filed_by)}"
                 f"登记报送(" + ("按时" if late <= 0 else f"超时{late:.0f}分钟") + ")")
    lines = [
        f"突发环境事件信息初报(草稿) 编号{state.code}" + (" 【演练】" if state.drill_id else ""),
        f"报送: {recipients}; 时限: {at(duty.due_at)}前({duty.within_minutes:g}分钟内{why}), {clock}",
        f"一、发生时间: {at(facts.observed_at)}(首次监测异常); {at(state.opened_at)}启动预警",
        f"二、地点: {place}",
        f"三、信息来源: {origin}",
        f"四、事件起因和性质: 待核实; 监测显示: {facts.title or measured}",
        f"五、基本过程: {'; '.join(done)}",
        f"六、主要污染物和数量: {facts.parameter or '待核实'}; 数量待核实",
        f"七、监测数据: {measured}",
        "八、人员受害情况: 待核实",
        f"九、饮用水水源地等环境敏感点受影响情况: {'可能影响 ' + '、'.join(sensitive) if sensitive else '预案所列下游无饮用水水源地'}"
        + (f"; 跨国界河流: {'、'.join(border)}" if border else ""),
        f"十、事件发展趋势: {trend}",
        f"十一、处置情况: {'; '.join(done)}",
        f"十二、拟采取的措施及下一步工作建议: {'; '.join(next_steps)}",
        "(附: 可能受影响的环境敏感点分布示意图; 报告单位、签发人、联系人及联系方式)",
    ]
    return "\n".join(lines)


_CONFIDENCE = {"high": "高", "medium": "中", "low": "低", "none": "无(示意位置)"}


def reports_status(state: IncidentState, names: Mapping[str, str], tz: dt.tzinfo) -> list[str]:
    """One line per report (第十二条: initial, follow-ups, final): filed when and by whom, or owed."""
    def at(moment: dt.datetime) -> str:
        return f"{moment.astimezone(tz):%m-%d %H:%M}"

    def by(person: str | None) -> str:
        return names.get(person or "", person or "")

    lines = []
    if state.report_filed_at is not None:
        lines.append(f"初报: 已于{at(state.report_filed_at)}由{by(state.report_filed_by)}登记报送")
    elif state.report_due_at is not None:
        lines.append(f"初报: 未报, 时限{at(state.report_due_at)}")
    lines.append(f"续报: {len(state.follow_ups)}次" + (f"(最近{at(state.follow_ups[-1])})" if state.follow_ups else "")
                 + ("" if state.stage == "resolved" else "; 处置进展随时续报, 已报回复\"6 代码\""))
    if state.final_report_filed_at is not None:
        lines.append(f"处理结果报告: 已于{at(state.final_report_filed_at)}由{by(state.final_report_filed_by)}登记报送")
    elif state.stage == "resolved":
        due = f", 时限{at(state.final_report_due_at)}" if state.final_report_due_at is not None else ""
        lines.append(f"处理结果报告: 未报{due}; 已报回复\"7 代码\"")
    else:
        lines.append("处理结果报告: 事件处理完毕(解除)后报送")
    return lines


def final_report(plan: CompiledPlan, state: IncidentState, names: Mapping[str, str], tz: dt.tzinfo) -> str:
    """The draft of the final report (处理结果报告), with what 第十三条 asks it to add to the initial and follow-up
    reports: the measures, the course and the outcome from what ERS recorded; harm, losses, social impact, what
    remains and accountability are for the person who files it (待核实)."""
    facts = state.facts

    def at(moment: dt.datetime | None) -> str:
        return f"{moment.astimezone(tz):%Y年%m月%d日%H:%M}" if moment is not None else "待核实"

    def by(person: str | None) -> str:
        return names.get(person or "", person or "待核实")

    level = plan.levels[state.level].name if state.level in plan.levels else state.level.value
    course = [f"{at(facts.observed_at)}监测异常", f"{at(state.opened_at)}启动预警(最高{level})"]
    if state.acknowledged_by:
        course.append(f"{by(state.acknowledged_by)}确认")
    if state.report_filed_at is not None:
        course.append(f"{at(state.report_filed_at)}报送初报")
    if state.follow_ups:
        course.append(f"续报{len(state.follow_ups)}次")
    course.append(f"{at(state.resolved_at)}由{by(state.resolved_by)}解除预警" if state.stage == "resolved"
                  else "尚未解除")
    measures = ["启动预警并按预案通知: " + "、".join(by(p) for p in state.notified)] if state.notified else []
    if state.materials is not None:
        measures.append(f"物资调度建议: {state.materials.line}")
    measures.append("其余处置措施待核实")
    outcome = ("监测值已回落至限值内" if not state.firing else "解除时监测值仍超过限值, 待核实") \
        if state.stage == "resolved" else "事件未处理完毕"
    return "\n".join([
        f"突发环境事件处理结果报告(草稿) 编号{state.code}" + (" 【演练】" if state.drill_id else ""),
        f"事件: {facts.place} {facts.title or facts.parameter}",
        f"一、处理措施: {'; '.join(measures)}",
        f"二、处理过程: {'; '.join(course)}",
        f"三、处理结果: {outcome}",
        "四、潜在或者间接危害以及损失: 待核实",
        "五、社会影响: 待核实",
        "六、处理后的遗留问题: 待核实",
        "七、责任追究: 待核实",
        "(在初报和续报的基础上报告; 附: 报告单位、签发人、联系人及联系方式)",
    ])
