"""The lowest and highest value in a sliding time window, kept up to date reading by reading.

A rate-of-change rule compares each new reading with the extremes of the readings before it in its window (hours
of minute data: hundreds of readings). Rescanning them for every reading costs time proportional to the window;
these monotonic queues (the classic sliding-window minimum) cost amortised constant time per reading.

They are derived from a parameter's history and can always be rebuilt from it: a station state does not store
them, and a late reading (inserted into the past of the window) simply drops them.
"""
from __future__ import annotations

import bisect
import datetime as dt

from contingency.state import MAX_HISTORY, Extremes, Reading


def slide(extremes: Extremes | None, history: tuple[Reading, ...], reading: Reading, window: dt.timedelta,
          capacity: int = MAX_HISTORY) -> tuple[float | None, float | None, Extremes]:
    """The lowest and highest value of the readings of `history` in [reading.at - window, reading.at), and the
    queues with `reading` pushed. `reading` is the parameter's newest reading and `history` (oldest first) what the
    parameter keeps, `reading` included; `extremes` those returned for the reading before it, or None to build
    them from `history`. (None, None) when no earlier reading lies in the window.

    A history holding `capacity` readings (the most it keeps) may have dropped readings of the window that the
    queues still hold: then the window is scanned. Below capacity, whatever the history dropped is older than the
    time it must reach back to, and so than the window."""
    at = reading.at
    if (extremes is None or not extremes.lows or extremes.lows[-1].at >= at  # first use, or readings at one time
            or len(history) >= capacity):
        first = bisect.bisect_left(history, (at - window,))
        end = bisect.bisect_left(history, (at,), first)
        earlier = [r.value for r in history[first:end]]
        low, high = (min(earlier), max(earlier)) if earlier else (None, None)
        return low, high, _build(history[first:])  # the history ends with the readings at `at`, `reading` among them
    start = (at - window,)
    lows, highs = extremes
    lows = lows[bisect.bisect_left(lows, start):]
    highs = highs[bisect.bisect_left(highs, start):]
    low, high = (lows[0].value, highs[0].value) if lows else (None, None)
    return low, high, Extremes(_push_low(lows, reading), _push_high(highs, reading))


def _push_low(lows: tuple[Reading, ...], reading: Reading) -> tuple[Reading, ...]:
    keep = len(lows)
    while keep and lows[keep - 1].value >= reading.value:  # never the minimum again while `reading` is in the window
        keep -= 1
    return lows[:keep] + (reading,)


def _push_high(highs: tuple[Reading, ...], reading: Reading) -> tuple[Reading, ...]:
    keep = len(highs)
    while keep and highs[keep - 1].value <= reading.value:
        keep -= 1
    return highs[:keep] + (reading,)


def _build(readings: tuple[Reading, ...]) -> Extremes:
    lows: list[Reading] = []
    highs: list[Reading] = []
    for reading in readings:
        while lows and lows[-1].value >= reading.value:
            lows.pop()
        lows.append(reading)
        while highs and highs[-1].value <= reading.value:
            highs.pop()
        highs.append(reading)
    return Extremes(tuple(lows), tuple(highs))
