"""A regional link outage: every station falls silent at once, then all come back. (issue 14, target 5: 1,000
stations silent -> every silence incident opened and its first pages queued within 30 s; no desk or changelog
record above 100 KB at any time; then all stations return and every incident clears.)

One ephemeral broker, the local Twilio sandbox and a real `ers worker` (ticks every --tick seconds) on the Arxan
plan copied to --stations stations (bench/plan_scale.py), its station-silence rules shortened to --after minutes so
that the outage fits in a bench. Every station reports once (heard), then nothing: the moment the last of them
passes its silence limit is the storm's start. Measured from there: when the last silence incident was read on
the incidents topic, and when the last of them was named by a notification (a page queued for sending: the desk
bundles pages to one person, a full bundle goes at once). Then every station reports again: when the last
incident was read as all clear. Finally every topic of the run, changelogs included, is read for its largest
record. Baseline in the same run: the same worker's time from one reading to its incident.opened, alone.
Usage (repo root): python bench/storm.py [--stations 1000] [--after 1] [--tick 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_throughput import STATIONS  # noqa: E402
from plan_scale import province_plan, province_site  # noqa: E402
from tests.integration.harness import WorkerProcess  # noqa: E402

# Normal values of every kind of station in the Arxan plan (the air station too: here every station reports).
PROFILES = {**{base: [(p, u, (lo + hi) / 2) for p, u, lo, hi, _ in params] for base, params in STATIONS.items()},
            "city_air_auto": [("pm25", "ug/m3", 20), ("pm10", "ug/m3", 35), ("so2", "ug/m3", 8), ("no2", "ug/m3", 20),
                              ("o3", "ug/m3", 60), ("co", "mg/m3", 0.5)]}
LIMIT_BYTES = 100 * 1024


def base_of(station: str) -> str:
    return station if station in PROFILES else station.rsplit("_", 1)[0]


def readings(stations: list[str]) -> list[tuple[bytes, bytes]]:
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return [(s.encode(), json.dumps({"event_id": str(uuid.uuid4()), "station_id": s, "observed_at": now,
                                     "measurements": [{"parameter": p, "value": v, "unit": u}
                                                      for p, u, v in PROFILES[base_of(s)]]}).encode())
            for s in stations]


def send_all(producer: KafkaProducer, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    return time.time()


class Watch(threading.Thread):
    """Reads the incidents, incident-states and notifications topics: when each incident opened, had its first
    tier paged (the desk's decision: sent, or held for a bundle or the hourly summary), was first named by an SMS,
    and was last read as all clear."""

    def __init__(self, bootstrap: str, incidents: str, states: str, notifications: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(incidents, states, notifications, bootstrap_servers=bootstrap,
                                      auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=20)
        self.incidents, self.states, self.notifications = incidents, states, notifications
        self.opened: dict[str, tuple[float, str, str]] = {}  # incident id -> (arrival, source, kind)
        self.paged: dict[str, float] = {}
        self.named: dict[str, float] = {}
        self.clear: dict[str, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for tp, records in self.consumer.poll(timeout_ms=100).items():
                arrived = time.time()
                for record in records:
                    event = json.loads(record.value)
                    if tp.topic == self.notifications:
                        for incident in event.get("incident_ids", []):
                            self.named.setdefault(incident, arrived)
                    elif tp.topic == self.states:
                        if event.get("paged"):
                            self.paged.setdefault(event["incident_id"], arrived)
                    elif event.get("type") == "incident.opened":
                        self.opened.setdefault(event["incident_id"], (arrived, event["source_id"], event["kind"]))
                    elif event.get("type") == "incident.updated" and event.get("all_clear"):
                        self.clear[event["incident_id"]] = arrived
        self.consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def largest_records(bootstrap: str, prefixes: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """The largest record value of every topic whose name starts with one of `prefixes`, and its key."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=3000, max_partition_fetch_bytes=16 * 1024 * 1024)
    topics = sorted(t for t in consumer.topics() if t.startswith(prefixes))
    consumer.subscribe(topics)
    largest = dict.fromkeys(topics, (0, ""))
    for record in consumer:
        size = len(record.value or b"")
        if size > largest[record.topic][0]:
            largest[record.topic] = (size, (record.key or b"").decode("utf-8", "replace")[:60])
    consumer.close()
    return largest


def wait_until(predicate, timeout: float, alive) -> float | None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive()
        if predicate():
            return time.time()
        time.sleep(0.1)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=1000, help="stations that fall silent (default 1,000)")
    parser.add_argument("--after", type=float, default=1.0, help="minutes of silence before a station is silent "
                                                                 "(the plan's are hours; default 1)")
    parser.add_argument("--tick", type=int, default=5, help="the worker's tick, seconds (default 5)")
    args = parser.parse_args()
    console = Console(width=150)
    plan = province_plan(args.stations)
    for rule in plan["rules"].values():
        if rule["kind"] == "station_silence":
            rule["after_minutes"] = args.after
    stations = list(plan["stations"])
    with province_site(plan, "ers-storm-") as (work, plan_path, twilio, kafka):
        worker = WorkerProcess(kafka.bootstrap, work / "w", twilio, plan=plan_path,
                               env={"ERS_TICK_SECONDS": str(args.tick)})
        worker.start(timeout=300)
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks=1, linger_ms=5)
        watch = Watch(kafka.bootstrap, worker.topic("incidents"), worker.topic("incident-states"),
                      worker.topic("notifications"))
        try:
            watch.start()
            topic = worker.topic("readings")
            # Baseline: one exceedance, alone, on the idle worker.
            probe = readings(["hlh_dsk_auto"])[0]
            body = json.loads(probe[1])
            body["measurements"][0]["value"] = 1.6
            sent = send_all(producer, topic, [(probe[0], json.dumps(body).encode())])
            single = wait_until(lambda: any(s == "halaha_dashankuang" and k == "threshold"
                                            for _, s, k in watch.opened.values()), 60, worker.check_alive)
            baseline = (single or float("nan")) - sent
            console.print(f"{len(stations):,} stations report once, then fall silent "
                          f"(silent after {args.after:g} min)")
            heard = send_all(producer, topic, readings(stations))
            storm = heard + args.after * 60

            def silence_incidents() -> dict[str, tuple[float, str, str]]:
                return {i: o for i, o in watch.opened.items() if o[2] == "station_silence"}

            opened_at = wait_until(lambda: len(silence_incidents()) >= len(stations),
                                   args.after * 60 + 600, worker.check_alive)
            paged_at = wait_until(lambda: all(i in watch.paged for i in silence_incidents()), 120,
                                  worker.check_alive)
            named_at = wait_until(lambda: all(i in watch.named for i in silence_incidents()), 10,
                                  worker.check_alive)
            silent = silence_incidents()
            console.print(f"{len(silent):,} silence incidents; every station reports again")
            back = send_all(producer, topic, readings(stations))
            cleared_at = wait_until(lambda: all(i in watch.clear for i in silent), 600, worker.check_alive)
            time.sleep(2)
        finally:
            watch.stop()
            producer.close()
            worker.stop()
        largest = largest_records(kafka.bootstrap, (worker.prefix, worker.env["ERS_APP_ID"]))
    table = Table(title=f"storm (issue 14, target 5): {len(stations):,} stations silent at once, then back")
    for column in ("what", "seconds", "target"):
        table.add_column(column, justify="left" if column == "what" else "right")

    def after(moment: float | None, start: float) -> str:
        return "not within the wait" if moment is None else f"{moment - start:.1f}"

    table.add_row("baseline: one reading -> its incident.opened, idle worker", f"{baseline:.2f}", "")
    table.add_row(f"storm start -> last of {len(stations):,} silence incidents opened", after(opened_at, storm), "30")
    table.add_row("storm start -> every one's first tier paged (sent, or held for a bundle)", after(paged_at, storm),
                  "30")
    table.add_row("storm start -> every one named in an SMS", after(named_at, storm), "")
    table.add_row("stations back -> every incident all clear", after(cleared_at, back), "")
    console.print(table)
    if opened_at is not None:
        first = min(o[0] for o in silent.values())
        console.print(f"first silence incident {first - storm:+.1f} s from the storm's start (the tick is every "
                      f"{args.tick} s); {len(silent):,} opened, {len(watch.paged):,} paged, {len(watch.named):,} "
                      f"named in an SMS (bundles of up to 49 incidents; beyond 10 SMS a person an hour, the rest "
                      f"wait for the hour's summary), {len(watch.clear):,} read as all clear")
    sizes = Table(title=f"largest record per topic (limit {LIMIT_BYTES // 1024} KB)")
    sizes.add_column("topic")
    sizes.add_column("largest KB", justify="right")
    sizes.add_column("its key")
    for name, (size, key) in sorted(largest.items(), key=lambda kv: -kv[1][0]):
        if size:
            sizes.add_row(name, f"[red]{size / 1024:.1f}[/red]" if size > LIMIT_BYTES else f"{size / 1024:.1f}", key)
    console.print(sizes)


if __name__ == "__main__":
    main()
