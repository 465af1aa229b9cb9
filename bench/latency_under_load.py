"""How soon does an exceedance become an incident and an SMS while the worker is busy? (issue 14, target 3:
with 1,000 readings/s of background load, reading -> incident.opened p99 <= 250 ms, reading -> SMS API call
p99 <= 1 s.)

One ephemeral broker, the local Twilio sandbox and a real `ers worker` on the Arxan plan copied to --stations
stations (bench/plan_scale.py), with the roster's bundling window off, so that every page is sent when it is
decided (with the window on, later pages to the same person wait for the window by design). A probe is one
reading of ammonia over the class III limit at a river section no probe used before: it opens an incident there,
and the incident pages the duty officers. Measured in the same run:
  baseline   --probes probes, one every --every seconds, on an idle worker
  loaded     as many again while a producer writes --rate normal readings/s of every other station
Times are wall-clock on this machine: from just before the probe is handed to the producer, to the moment a
consumer (fetch wait 5 ms) reads the incident.opened, and to the moment the sandbox records the SMS API call
that names the incident's code. The background's lag at the end is printed too: a worker that falls behind its
load would show good latencies for a while only.
Usage (repo root): python bench/latency_under_load.py [--stations 1000] [--rate 1000] [--probes 60] [--every 0.5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy.local.twilio_api import LocalTwilioApi  # noqa: E402
from pipeline_throughput import STATIONS, STEP  # noqa: E402
from plan_scale import province_plan, province_site, write_yaml  # noqa: E402
from tests.integration.harness import DEFAULT_ROSTER, WorkerProcess  # noqa: E402

PROBE_STATION = "hlh_dsk_auto"      # the Halaha section's automatic station: ammonia over class III opens an incident
PROBE_SOURCE = "halaha_dashankuang"
PROBE_VALUE = 1.6                   # mg/L, above GB 3838 class III (1.0)


def station_id(base: str, copy: int) -> str:
    return f"{base}_{copy}" if copy else base


def reading(station: str, values: dict[str, float], now: dt.datetime) -> bytes:
    base = station.rsplit("_", 1)[0] if station not in STATIONS else station
    units = {p: u for p, u, *_ in STATIONS[base]}
    return json.dumps({"event_id": str(uuid.uuid4()), "station_id": station, "observed_at": now.isoformat(),
                       "measurements": [{"parameter": p, "value": round(v, 3), "unit": units[p]}
                                        for p, v in values.items()]}).encode()


class Background(threading.Thread):
    """Normal readings of the stations in `stations`, at `rate` a second, each value walking within its range."""

    def __init__(self, bootstrap: str, topic: str, stations: list[str], rate: float) -> None:
        super().__init__(daemon=True)
        self.topic, self.stations, self.rate = topic, stations, rate
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
        self.sent = 0
        self._halt = threading.Event()
        rng = random.Random(11)
        self.rng = rng
        self.levels = {s: {p: (lo + hi) / 2 for p, _, lo, hi, _ in STATIONS[self.base(s)]} for s in stations}

    @staticmethod
    def base(station: str) -> str:
        return station if station in STATIONS else station.rsplit("_", 1)[0]

    def run(self) -> None:
        started = time.monotonic()
        while not self._halt.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.sent < due:
                station = self.stations[self.sent % len(self.stations)]
                values = self.levels[station]
                for p, _, lo, hi, _ in STATIONS[self.base(station)]:
                    values[p] = min(hi, max(lo, values[p] + self.rng.uniform(-STEP, STEP) * (hi - lo)))
                self.producer.send(self.topic, key=station.encode(),
                                   value=reading(station, values, dt.datetime.now(dt.timezone.utc)))
                self.sent += 1
            time.sleep(0.002)
        self.producer.flush()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)
        self.producer.close()


class Opened(threading.Thread):
    """Reads the incidents topic and notes when each incident.opened arrived, by source."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                      enable_auto_commit=False, fetch_max_wait_ms=5)
        self.opened: dict[str, tuple[float, str]] = {}   # source id -> (arrival, incident code)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for records in self.consumer.poll(timeout_ms=50).values():
                arrived = time.time()
                for record in records:
                    event = json.loads(record.value)
                    if event.get("type") == "incident.opened":
                        self.opened.setdefault(event["source_id"], (arrived, event["code"]))
        self.consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def probe(producer: KafkaProducer, topic: str, copy: int) -> float:
    station = station_id(PROBE_STATION, copy)
    values = {p: (PROBE_VALUE if p == "ammonia_nitrogen" else (lo + hi) / 2) for p, _, lo, hi, _ in STATIONS[PROBE_STATION]}
    value = reading(station, values, dt.datetime.now(dt.timezone.utc))
    sent = time.time()
    producer.send(topic, key=station.encode(), value=value)
    producer.flush()
    return sent


def run_probes(producer: KafkaProducer, topic: str, copies: range, every: float) -> dict[int, float]:
    sent = {}
    for copy in copies:
        sent[copy] = probe(producer, topic, copy)
        time.sleep(every)
    return sent


def latencies(sent: dict[int, float], opened: Opened, twilio: LocalTwilioApi,
              wait: float = 30) -> tuple[list[float], list[float], int]:
    """(to incident.opened, to the SMS API call, probes with neither) in seconds."""
    deadline = time.monotonic() + wait
    sources = {copy: station_id(PROBE_SOURCE, copy) for copy in sent}
    while time.monotonic() < deadline and not all(s in opened.opened for s in sources.values()):
        time.sleep(0.1)
    time.sleep(2)  # the SMS of the last incident
    messages = twilio.messages
    to_open, to_sms, missing = [], [], 0
    for copy, at in sent.items():
        seen = opened.opened.get(sources[copy])
        if seen is None:
            missing += 1
            continue
        arrived, code = seen
        to_open.append(arrived - at)
        calls = [m.date_created.timestamp() for m in messages if m.direction == "outbound-api" and code in m.body
                 and m.date_created.timestamp() >= at - 0.01]
        if calls:
            to_sms.append(min(calls) - at)
        else:
            missing += 1
    return to_open, to_sms, missing


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def group_lag(admin: KafkaAdminClient, bootstrap: str, group: str, topic: str) -> int:
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [tp for tp in offsets if tp.topic == topic]
        ends = consumer.end_offsets(partitions)
        return sum(ends[tp] - offsets[tp].offset for tp in partitions)
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=1000, help="stations of the plan (default 1,000)")
    parser.add_argument("--rate", type=float, default=1000, help="background readings/s (default 1,000)")
    parser.add_argument("--probes", type=int, default=60, help="probes in each phase (default 60)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between probes (default 0.5)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of load before probing (default 10)")
    args = parser.parse_args()
    console = Console(width=150)
    plan = province_plan(args.stations)
    copies = sum(1 for s in plan["stations"] if s.startswith(PROBE_STATION))
    if copies < 2 * args.probes + 1:
        parser.error(f"--stations {args.stations} gives {copies} river sections; 2 x --probes + 1 are needed")
    with province_site(plan, "ers-latency-") as (work, plan_path, twilio, kafka):
        roster = yaml.safe_load(DEFAULT_ROSTER.read_text(encoding="utf-8"))
        roster.setdefault("paging", {}).update(bundle_seconds=0, cap_per_hour=200)
        roster_path = write_yaml(work / "roster.yaml", roster)
        worker = WorkerProcess(kafka.bootstrap, work / "w", twilio, plan=plan_path, roster=roster_path,
                               env={"ERS_TICK_SECONDS": "10"})
        worker.start(timeout=300)
        readings_topic = worker.topic("readings")
        opened = Opened(kafka.bootstrap, worker.topic("incidents"))
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks=1, linger_ms=0)
        probe_copies = set(range(1, 2 * args.probes + 1))
        background_stations = [station_id(base, n) for n in range(copies) for base in STATIONS
                               if not (base == PROBE_STATION and n in probe_copies)]
        try:
            opened.start()
            console.print(f"baseline: {args.probes} probes on an idle worker")
            idle = run_probes(producer, readings_topic, range(1, args.probes + 1), args.every)
            idle_result = latencies(idle, opened, twilio)
            console.print(f"loaded: {args.rate:,.0f} readings/s of {len(background_stations):,} stations, "
                          f"{args.warmup:g} s of warm-up, then {args.probes} probes")
            background = Background(kafka.bootstrap, readings_topic, background_stations, args.rate)
            background.start()
            time.sleep(args.warmup)
            loaded = run_probes(producer, readings_topic, range(args.probes + 1, 2 * args.probes + 1),
                                args.every)
            loaded_result = latencies(loaded, opened, twilio)
            elapsed_rate = background.sent
            background.stop()
            admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
            lag = group_lag(admin, kafka.bootstrap, worker.env["ERS_APP_ID"], readings_topic)
            admin.close()
        finally:
            worker.stop()
            producer.close()
            if opened.is_alive():
                opened.stop()
    table = Table(title=f"latency under load (issue 14, target 3): {args.stations:,}-station plan, "
                        f"{args.rate:,.0f} readings/s of background in the loaded phase")
    for column in ("phase", "path", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "target p99", "p99 vs idle"):
        table.add_column(column, justify="left" if column in ("phase", "path") else "right")
    idle_p99 = {}
    for phase, (to_open, to_sms, missing) in (("idle (baseline)", idle_result), ("loaded", loaded_result)):
        for path, values, target in (("reading -> incident.opened", to_open, "250 ms"),
                                     ("reading -> SMS API call", to_sms, "1000 ms")):
            p99 = percentile(values, 0.99)
            idle_p99.setdefault(path, p99)
            table.add_row(phase, path, str(len(values)), f"{1000 * percentile(values, 0.5):.0f}",
                          f"{1000 * percentile(values, 0.9):.0f}", f"{1000 * p99:.0f}",
                          f"{1000 * max(values, default=float('nan')):.0f}", target, f"{p99 / idle_p99[path]:.2f}x")
        if missing:
            table.add_row(phase, f"[red]{missing} probes without an incident or SMS[/red]", "", "", "", "", "", "", "")
    console.print(table)
    console.print(f"background: {elapsed_rate:,} readings sent; the worker's lag on readings at the end: {lag:,}")
    if loaded_result[0]:
        console.print(f"mean reading -> incident.opened under load: {1000 * statistics.mean(loaded_result[0]):.0f} ms")


if __name__ == "__main__":
    main()
