"""Plausible times (contingency.plausibility): the margin ahead of the clock and the floor before the plan."""
from __future__ import annotations

import datetime as dt

from contingency.plausibility import implausible_time, time_bounds, time_problem

NOW = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.timezone.utc)


def test_margin_and_floor(arxan) -> None:
    bounds = time_bounds(arxan, future_minutes=10)
    assert time_problem(NOW + dt.timedelta(minutes=10), NOW, bounds) is None
    assert "11 min ahead" in time_problem(NOW + dt.timedelta(minutes=11), NOW, bounds)
    assert "3 days ahead" in time_problem(NOW + dt.timedelta(days=3), NOW, bounds)
    assert time_problem(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc), NOW, bounds) is None
    assert "before 2025-01-01" in time_problem(dt.datetime(2024, 12, 31, 23, tzinfo=dt.timezone.utc), NOW, bounds)
    assert implausible_time("reported_at", NOW + dt.timedelta(hours=5), NOW, bounds).startswith("reported_at: ")
    wide = time_bounds(arxan, future_minutes=600)
    assert time_problem(NOW + dt.timedelta(hours=5), NOW, wide) is None
