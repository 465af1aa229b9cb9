"""The reports stage: field and public reports -> contingency.reports -> detections.

Stateless: a report's detection depends on the report and the plan alone, with ids derived from the report's
event id, so a redelivered report gives the same detection, which the incident book applies once.
"""
from __future__ import annotations

import logging

import faust
from faust.types import EventT

from contingency import CompiledPlan
from contingency.plausibility import TimeBounds, implausible_time, time_bounds
from contingency.reports import report_detection
from schemas import IncidentReport, encode
from streams.agents.common import (Handler, Output, decode_or_dead_letter, process_each, send_confirmed,
                                   send_dead_letter)
from streams.channels import Channels
from streams.clocks import AgentClock

AGENT = "reports"
log = logging.getLogger("ers.reports")


def reports_handler(ch: Channels, plan: CompiledPlan, clock: AgentClock, bounds: TimeBounds | None = None) -> Handler:
    bounds = bounds or time_bounds(plan)

    async def handle(event: EventT) -> None:
        report = await decode_or_dead_letter(event, IncidentReport, ch.dlq, AGENT)
        if report is None:
            return
        reason = implausible_time("reported_at", report.reported_at, clock.now(event), bounds)
        if reason is not None:
            await send_dead_letter(ch.dlq, event, reason, AGENT)
            return
        d = report_detection(plan, report)
        log.info("detection %s %s at %s (%s): %s", d.status, d.level, d.source_id, d.rule_id, d.title)
        await send_confirmed([Output(ch.detections, d.source_id, encode(d))], clock.stamp(event))

    return handle


def register_reports_agent(app: faust.App, ch: Channels, plan: CompiledPlan, clock: AgentClock,
                           bounds: TimeBounds) -> None:
    handle = reports_handler(ch, plan, clock, bounds)

    @app.agent(ch.reports, name="ers.reports", concurrency=1)
    async def reports(stream: faust.StreamT) -> None:
        await process_each(stream, handle, ch.dlq, AGENT)
