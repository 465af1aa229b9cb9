"""The contingency domain: plan, rules, engine and incident book. Pure Python: no I/O outside `loader`,
no clock reads (callers pass `now`), no randomness (ids are uuid5 of input event ids)."""
from contingency.engine import evaluate, tick
from contingency.incidents import IncidentBook, apply_event, on_detection
from contingency.loader import check_plan, load_plan, load_standards, plan_from_text
from contingency.plan import Plan
from contingency.problems import PlanError, Problem
from contingency.state import StationState

__all__ = ["IncidentBook", "Plan", "PlanError", "Problem", "StationState", "apply_event", "check_plan",
           "evaluate", "load_plan", "load_standards", "on_detection", "plan_from_text", "tick"]
