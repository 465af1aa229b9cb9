"""A deterministic stream of readings for the kill experiments: four stations at four independent sources (no
downstream folding between them, so the incidents they give do not depend on how partitions interleave), each
wandering between normal values and two levels over its limits of plans/arxan.yaml, so incidents open, rise and
clear again many times. The same seed gives the same readings, event ids and observation times, whenever sent."""
from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

# station: (parameter, unit, normal, over the first limit, over the second)
STATIONS = {
    "yirshi_wwtp_online": ("cod", "mg/L", 40.0, 80.0, 150.0),
    "city_source_auto": ("ammonia_nitrogen", "mg/L", 0.3, 1.6, 2.5),
    "tailings_example_online": ("seepage_flow", "L/s", 3.0, 6.0, 9.0),
    "city_air_auto": ("no2", "ug/m3", 50.0, 1500.0, 2500.0),
}


@dataclass(frozen=True)
class Reading:
    key: str
    value: dict


def readings(count: int, seed: int, start: dt.datetime, spacing: dt.timedelta) -> list[Reading]:
    """`count` readings observed from `start`, `spacing` apart, each station changing its phase now and then."""
    rng = random.Random(seed)
    phase = {station: 0 for station in STATIONS}
    stations = sorted(STATIONS)
    out = []
    for n in range(count):
        station = stations[n % len(stations)]
        if rng.random() < 0.15:
            phase[station] = rng.choice([0, 0, 1, 2])
        parameter, unit, *levels = STATIONS[station]
        value = levels[phase[station]] * (1 + rng.uniform(-0.03, 0.03))
        out.append(Reading(station, {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "station_id": station,
            "observed_at": (start + n * spacing).isoformat(),
            "measurements": [{"parameter": parameter, "value": round(value, 3), "unit": unit}]}))
    return out
