"""The contingency domain: plan, rules, engine, incident book, duty roster, paging and SMS replies. Pure Python:
no I/O outside `loader` and the roster's loader, no clock reads (callers pass `now`), no randomness (ids are uuid5
of input event ids)."""
from contingency.engine import evaluate, tick
from contingency.incidents import IncidentBook, apply_event, on_detection
from contingency.loader import check_plan, load_plan, load_standards, plan_from_text, plan_warnings
from contingency.paging import on_clock, on_command, on_delivery, on_incident_event, pending_for
from contingency.paging_state import PagingBook
from contingency.compiled import CompiledPlan
from contingency.plan import Plan
from contingency.problems import PlanError, Problem
from contingency.replies import Reply, answer_reply, parse_reply
from contingency.roster import Person, Roster, check_roster, load_roster, on_duty, person_by_phone, roster_from_text
from contingency.state import StationState

__all__ = ["CompiledPlan", "IncidentBook", "PagingBook", "Person", "Plan", "PlanError", "Problem", "Reply", "Roster", "StationState",
           "answer_reply", "apply_event", "check_plan", "plan_warnings", "check_roster", "evaluate", "load_plan", "load_roster",
           "load_standards", "on_clock", "on_command", "on_delivery", "on_detection", "on_duty", "on_incident_event",
           "parse_reply", "pending_for", "person_by_phone", "plan_from_text", "roster_from_text", "tick"]
