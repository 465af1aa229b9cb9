"""Proposing emergency materials for an incident, from the stock the ledger holds now."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from contingency import Plan
from contingency.coverage import CoverageReport, coverage
from contingency.ledger import MinimumLevels, Stock, available
from contingency.materials import needs_proposal, with_ledger_unreadable, with_proposal
from contingency.roads import RoadGraph
from schemas.incidents import IncidentEvent

log = logging.getLogger("ers.materials")


class StockSource(Protocol):
    def stock(self, on: dt.date | None = None) -> Stock: ...

    def minimum_levels(self) -> MinimumLevels: ...


def materials_enricher(plan: Plan, graph: RoadGraph, ledger: StockSource) -> Callable[[IncidentEvent], IncidentEvent]:
    """Attach a dispatch proposal to incidents that reach the plan's proposal level, from the stock recorded so far
    (lots expired on the incident's day excluded).

    Reads the ledger synchronously: it happens a few times a day, when an incident reaches that level. A ledger
    that cannot be read (its database is down) does not hold the alert back: the proposal then says so."""
    def enrich(event: IncidentEvent) -> IncidentEvent:
        if not needs_proposal(plan, event):
            return event
        day = event.occurred_at.date()
        try:
            stock, minimums = ledger.stock(), ledger.minimum_levels()
        except SQLAlchemyError as exc:
            log.warning("incident %s: no materials proposal, the ledger cannot be read (%s: %s)", event.incident_id,
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
            return with_ledger_unreadable(plan, event)
        return with_proposal(plan, graph, lambda depot, item: available(stock, depot, item, day, minimums), event)

    return enrich


def coverage_on(plan: Plan, graph: RoadGraph, ledger: StockSource, day: dt.date,
                window_minutes: float) -> CoverageReport:
    """The 2-hour circle on `day`: what reaches each risk source in time from the stock recorded by then."""
    stock, minimums = ledger.stock(on=day), ledger.minimum_levels()
    return coverage(plan, graph, lambda depot, item: available(stock, depot, item, day, minimums), window_minutes)
