"""A compiled plan as the processes that receive it see it."""
from __future__ import annotations

import datetime as dt
import pickle

from contingency import evaluate, load_plan
from schemas.readings import StationReport
from tests.integration.harness import DEFAULT_PLAN

START = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)


def test_a_compiled_plan_survives_pickling_and_judges_the_same() -> None:
    """The gateway hands the compiled plan to its processes by pickling it: its judges must pickle too."""
    plan = load_plan(DEFAULT_PLAN)
    copy = pickle.loads(pickle.dumps(plan))
    states: dict = {"plan": None, "copy": None}
    for minute, value in enumerate([0.3, 0.4, 1.9, 2.5, 2.6, 2.7, 0.2]):
        report = StationReport(station_id="hlh_dsk_auto", observed_at=START + dt.timedelta(minutes=30 * minute),
                               measurements=[{"parameter": "ammonia_nitrogen", "value": value, "unit": "mg/L"}])
        states["plan"], ours = evaluate(plan, states["plan"], report, report.observed_at)
        states["copy"], theirs = evaluate(copy, states["copy"], report, report.observed_at)
        assert [d.model_dump() for d in ours] == [d.model_dump() for d in theirs]
