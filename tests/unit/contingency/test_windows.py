"""The sliding-window extremes give what a scan of the window gives, reading after reading, whatever the values
(ties, monotonic runs), gaps, readings at the same time, and a history trimmed as the engine trims it (to a time
horizon at least as long as the window, and to a capacity that may be shorter than the window)."""
from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from contingency.state import Reading
from contingency.windows import slide

START = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)


def scan(history: tuple[Reading, ...], reading: Reading, window: dt.timedelta) -> tuple[float | None, float | None]:
    earlier = [r.value for r in history if reading.at - window <= r.at < reading.at]
    return (min(earlier), max(earlier)) if earlier else (None, None)


@given(steps=st.lists(st.tuples(st.sampled_from([0, 1, 1, 2, 5, 30]), st.sampled_from([0.0, 1.0, 1.0, 2.5, 3.0, 7.0])),
                      min_size=1, max_size=120),
       window_minutes=st.sampled_from([1, 5, 30, 240]), horizon_minutes=st.sampled_from([0, 3, 60]),
       cap=st.sampled_from([3, 10, 1000]), rebuild_every=st.sampled_from([0, 7]))
def test_extremes_equal_a_scan_of_the_window(steps, window_minutes: int, horizon_minutes: int, cap: int,
                                             rebuild_every: int) -> None:
    window = dt.timedelta(minutes=window_minutes)
    horizon = window + dt.timedelta(minutes=horizon_minutes)
    history: tuple[Reading, ...] = ()
    extremes = None
    at = START
    for i, (gap, value) in enumerate(steps):
        at += dt.timedelta(minutes=gap)  # a gap of 0: a second reading at the same time
        reading = Reading(at, value)
        history = tuple(r for r in history + (reading,) if r.at >= at - horizon)[-cap:]  # as the engine keeps it
        if rebuild_every and i % rebuild_every == 0:
            extremes = None  # as after a state read back from JSON
        low, high, extremes = slide(extremes, history, reading, window, capacity=cap)
        assert (low, high) == scan(history, reading, window)


def test_a_rising_series_keeps_every_reading_in_the_window_as_a_candidate_minimum() -> None:
    window = dt.timedelta(minutes=10)
    history: tuple[Reading, ...] = ()
    extremes = None
    for minute in range(30):
        reading = Reading(START + dt.timedelta(minutes=minute), float(minute))
        history += (reading,)
        low, high, extremes = slide(extremes, history, reading, window)
        if minute:
            assert (low, high) == (float(max(0, minute - 10)), float(minute - 1))
    assert len(extremes.lows) == 11 and len(extremes.highs) == 1  # the last 10 before it and itself; the newest

