"""The peer ERS is measured against (issue 14): the same per-station stateful work in Quix Streams, the library a
user would otherwise pick. Per station, in Quix's state store (RocksDB), the last 64 readings of each parameter;
each reading judged against its limit (threshold) and the last four against it (3 of 4: sustained); each rule that
starts or stops holding is a detection on an output topic, as ERS's rules stage writes them.

Run by bench/pipeline_throughput.py in a process and environment of its own (`make bench-quix` makes .venv-quix):

    python bench/quix_peer.py --broker HOST:PORT --topic READINGS --output DETECTIONS --group GROUP
"""
from __future__ import annotations

import argparse
import tempfile
from typing import Any

from quixstreams import Application, State

HISTORY = 64
# (parameter -> upper limit, or (lower, upper)): the limits ERS's plan gives these parameters at these stations
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "ammonia_nitrogen": (None, 1.0), "pH": (6.0, 9.0), "dissolved_oxygen": (5.0, None), "cod": (None, 50.0),
    "total_phosphorus": (None, 0.5), "seepage_flow": (None, 5.0), "phreatic_depth": (4.4, None),
}


def breaks(parameter: str, value: float) -> bool:
    low, high = LIMITS.get(parameter, (None, None))
    return (low is not None and value < low) or (high is not None and value > high)


def judge(reading: dict[str, Any], state: State) -> list[dict[str, Any]]:
    detections = []
    for m in reading["measurements"]:
        parameter, value = m["parameter"], float(m["value"])
        history: list[float] = state.get(f"h:{parameter}", [])
        history.append(value)
        del history[:-HISTORY]
        state.set(f"h:{parameter}", history)
        verdicts = {"threshold": breaks(parameter, value),
                    "sustained": sum(breaks(parameter, v) for v in history[-4:]) >= 3}
        for rule, holds in verdicts.items():
            key = f"f:{parameter}:{rule}"
            if holds != state.get(key, False):
                state.set(key, holds)
                detections.append({"station_id": reading["station_id"], "parameter": parameter, "rule": rule,
                                   "status": "firing" if holds else "cleared", "value": value,
                                   "observed_at": reading["observed_at"], "caused_by": reading["event_id"]})
    return detections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()
    app = Application(broker_address=args.broker, consumer_group=args.group, auto_offset_reset="earliest",
                      state_dir=tempfile.mkdtemp(prefix="quix-state-"), commit_interval=0.5, loglevel="WARNING")
    readings = app.topic(args.topic, value_deserializer="json")
    detections = app.topic(args.output, value_serializer="json")
    sdf = app.dataframe(readings)
    sdf = sdf.apply(judge, stateful=True, expand=True)
    sdf.to_topic(detections)
    app.run()


if __name__ == "__main__":
    main()
