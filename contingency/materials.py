"""Dispatch proposals for incidents: when an incident reaches the plan's proposal level, which depots
send how much of each item the plan requires for that source, earliest arrival first; and the ledger
movements that confirming a proposal writes. Pure: stock comes in as a callable, time as `now`."""
from __future__ import annotations

import dataclasses
import datetime as dt

from contingency.coverage import Available, Proposal, dispatch_proposal, proposal_line
from contingency.ids import derive
from contingency.plan import Plan, RequiredItem
from contingency.roads import RoadGraph
from schemas import InventoryMovement, MaterialsAllocation, MaterialsProposal
from schemas.incidents import IncidentEvent, IncidentOpened, IncidentUpdated

DEFAULT_WINDOW_MINUTES = 120.0
SMS_ALLOCATIONS = 2  # the alert SMS names the first allocations; the event carries them all


def needs_proposal(plan: Plan, event: IncidentEvent) -> bool:
    """An incident opened at the proposal level or above, or raised across it."""
    threshold = plan.propose_materials_from.rank
    if isinstance(event, IncidentOpened):
        return event.level.rank >= threshold and bool(plan.materials_for(event.source_id))
    if isinstance(event, IncidentUpdated):
        return (event.level.rank >= threshold > event.previous_level.rank
                and bool(plan.materials_for(event.source_id)))
    return False


def propose(plan: Plan, graph: RoadGraph, available: Available, source_id: str) -> MaterialsProposal:
    requirements = plan.materials_for(source_id)
    needed: dict[str, RequiredItem] = {}
    for requirement in requirements:  # several scenarios may name the same item: the largest quantity counts
        for item in requirement.items:
            if item.item not in needed or item.quantity > needed[item.item].quantity:
                needed[item.item] = item
    window = min((r.within_minutes for r in requirements if r.within_minutes), default=DEFAULT_WINDOW_MINUTES)
    proposal = dispatch_proposal(plan, graph, available, source_id, list(needed.values()), window)
    return MaterialsProposal(
        line=sms_line(proposal),
        allocations=[MaterialsAllocation(item_id=a.item_id, depot_id=a.depot_id, quantity=a.quantity,
                                         unit=plan.items[a.item_id].unit, arrival_minutes=a.arrival_minutes,
                                         in_window=a.in_window) for a in proposal.allocations],
        missing=dict(proposal.missing), last_arrival_minutes=proposal.last_arrival_minutes)


LEDGER_UNREADABLE_LINE = "物资: 台账暂不可读,请人工核实调度"


def with_ledger_unreadable(plan: Plan, event: IncidentEvent) -> IncidentEvent:
    """The incident as it goes out when the ledger cannot be read (its database is down): the alert is not held
    back for it; its proposal allocates nothing and tells the reader to check stock and dispatch by hand."""
    if not needs_proposal(plan, event):
        return event
    return event.model_copy(update={"materials": MaterialsProposal(line=LEDGER_UNREADABLE_LINE)})


def sms_line(proposal: Proposal) -> str:
    """The proposal in a few words for the alert SMS: the earliest allocations, then how many more and how
    many items nobody holds, e.g. `物资: 生石灰20t 伊尔施库 40分钟; 活性炭2t 伊尔施库 40分钟 等3项,缺2项`."""
    if not proposal.allocations and proposal.missing:
        return f"物资: 无可调库存,缺{len(proposal.missing)}项"  # not "无需求": the plan does require them
    head = dataclasses.replace(proposal, allocations=proposal.allocations[:SMS_ALLOCATIONS], missing={})
    line = proposal_line(head)
    more = len(proposal.allocations) - SMS_ALLOCATIONS
    tail = (f" 等{len(proposal.allocations)}项" if more > 0 else "") + (f",缺{len(proposal.missing)}项"
                                                                       if proposal.missing else "")
    return line + tail


def with_proposal(plan: Plan, graph: RoadGraph, available: Available, event: IncidentEvent) -> IncidentEvent:
    if not needs_proposal(plan, event):
        return event
    return event.model_copy(update={"materials": propose(plan, graph, available, event.source_id)})


def dispatch_movements(incident_id: str, proposal: MaterialsProposal, actor: str, now: dt.datetime,
                       drill_id: str | None = None) -> list[InventoryMovement]:
    """The dispatches a confirmed proposal writes; ids derive from the incident, so confirming twice is harmless."""
    return [InventoryMovement(event_id=derive("dispatch", incident_id, a.item_id, a.depot_id), kind="dispatch",
                              depot_id=a.depot_id, item_id=a.item_id, quantity=a.quantity, unit=a.unit,
                              reason=f"incident {incident_id}: proposal confirmed", actor=actor,
                              incident_id=incident_id, occurred_at=now, drill_id=drill_id)
            for a in proposal.allocations]
