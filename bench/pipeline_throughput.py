"""How fast does the ERS rules stage consume readings, against raw aiokafka on the same broker?

One ephemeral broker; N readings of the Arxan stations (within limits, with a spike every 100th so
rules fire and clear, incidents open and SMS go to the local Twilio sandbox) are written to a fresh
topic set. Then, measured in the same run:
  baseline  raw aiokafka: getmany + json.loads of every message (no ERS work)
  decode    the same, plus pydantic validation into StationReport (our contract)
  engine    in-process contingency.evaluate over the decoded reports (the pure domain alone)
  ers       a real `ers worker` process from Ready until its group has committed every reading; with --workers
            above 1, the workers form their group first and the readings are written while they run (a worker
            joining a group at work rebalances it in the middle of the measurement)
  quix      the Quix Streams peer (bench/quix_peer.py, an optional bench dependency) on the same topic
Rates of consumer groups are measured from their committed offsets passing 10 % of the readings to passing 90 %,
so start-up is left out alike. Ratios are printed against the baseline and against Quix Streams.
Usage (repo root): python bench/pipeline_throughput.py [N] [--workers 2 --partitions 8]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaProducer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contingency import evaluate, load_plan  # noqa: E402
from deploy.local.kafka import LocalKafka  # noqa: E402
from schemas import StationReport, decode  # noqa: E402
from tests.integration.harness import DEFAULT_PLAN, WorkerProcess  # noqa: E402

# (parameter, unit, normal low, normal high, spike): readings stay within limits except one in SPIKE_EVERY,
# as in production, where exceedances are rare and the rules stage is the hot path.
STATIONS = {
    "hlh_dsk_auto": [("ammonia_nitrogen", "mg/L", 0.2, 0.8, 1.6), ("pH", "dimensionless", 6.8, 8.2, 9.5)],
    "city_source_auto": [("ammonia_nitrogen", "mg/L", 0.1, 0.6, 1.2), ("dissolved_oxygen", "mg/L", 6.0, 9.0, 4.0)],
    "yirshi_wwtp_online": [("cod", "mg/L", 10, 40, 70), ("total_phosphorus", "mg/L", 0.1, 0.4, 0.7)],
    "tailings_example_online": [("seepage_flow", "L/s", 1.0, 4.0, 6.0), ("phreatic_depth", "m", 5.0, 7.0, 4.1)],
}
SPIKE_EVERY = 100
STEP = 0.01  # a reading moves at most this share of its normal range from the station's last one


def readings(n: int, jumpy: bool = False) -> list[tuple[bytes, bytes]]:
    """`n` readings, a minute apart, of stations chosen at random. Each parameter walks within its normal range, a
    step at most STEP of it, as sensors do; `jumpy`: drawn anew from the whole range each time instead, so the
    rate-of-change rules fire and clear on about one reading in five (an alert storm that never ends)."""
    rng = random.Random(7)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=n)
    level = {(s, p): (lo + hi) / 2 for s, params in STATIONS.items() for p, _, lo, hi, _ in params}
    out = []
    for i in range(n):
        station = rng.choice(list(STATIONS))
        spike = i % SPIKE_EVERY == SPIKE_EVERY - 1
        measurements = []
        for p, u, lo, hi, peak in STATIONS[station]:
            if jumpy:
                value = rng.uniform(lo, hi)
            else:
                value = level[station, p] + rng.uniform(-STEP, STEP) * (hi - lo)
                value = level[station, p] = min(hi, max(lo, value))
            measurements.append({"parameter": p, "value": peak if spike else round(value, 3), "unit": u})
        body = {"event_id": str(uuid.uuid4()), "station_id": station,
                "observed_at": (start + dt.timedelta(minutes=i)).isoformat(), "measurements": measurements}
        out.append((station.encode(), json.dumps(body).encode()))
    return out


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=256_000)
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


async def raw_consume(bootstrap: str, topic: str, n: int, validate: bool) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    if validate:
                        decode(StationReport, record.value)
                    else:
                        json.loads(record.value)
                    seen += 1
    finally:
        await consumer.stop()
    return n / (time.perf_counter() - started)


def engine_rate(messages: list[tuple[bytes, bytes]]) -> float:
    plan = load_plan(DEFAULT_PLAN)
    reports = [decode(StationReport, value) for _, value in messages]
    states: dict = {}
    started = time.perf_counter()
    for report in reports:
        states[report.station_id], _ = evaluate(plan, states.get(report.station_id), report, report.observed_at)
    return len(reports) / (time.perf_counter() - started)


def committed_rate(admin: KafkaAdminClient, group: str, topic: str, n: int, alive: callable,
                   timeout: float = 600) -> float:
    """Readings/s of a consumer group on `topic`, from its committed offsets passing 10 % of `n` to passing 90 %
    (start-up and the last commit interval left out, for every contender alike)."""
    low, high = n // 10, n * 9 // 10
    started = ended = None
    deadline = time.monotonic() + timeout
    while ended is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"group {group} did not commit {high} of {topic} within {timeout}s")
        alive()
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        done = sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)
        now = time.perf_counter()
        if started is None and done >= low:
            started, at_start = now, done
        if started is not None and done >= high:
            ended, at_end = now, done
        time.sleep(0.05)
    return (at_end - at_start) / (ended - started)


QUIX_VENV = Path(__file__).resolve().parents[1] / ".venv-quix"


def quix_python() -> str | None:
    """The interpreter of the Quix Streams peer: one of its own (`make bench-quix`), so that Quix's pins (an older
    pydantic) never change the environment the worker is measured in; None when there is none."""
    own = QUIX_VENV / "bin" / "python"
    return str(own) if own.exists() else None


def quix_rate(bootstrap: str, topic: str, n: int) -> float | None:
    """The same readings through the Quix Streams peer (bench/quix_peer.py) in its own process and environment."""
    python = quix_python()
    if python is None:
        return None
    group = f"quix-{uuid.uuid4().hex[:6]}"
    peer = subprocess.Popen([python, str(Path(__file__).with_name("quix_peer.py")), "--broker", bootstrap,
                             "--topic", topic, "--output", f"{topic}-quix-detections", "--group", group],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)

    def alive() -> None:
        if peer.poll() is not None:
            raise RuntimeError(f"the Quix peer exited: {peer.stderr.read()[-2000:] if peer.stderr else ''}")

    try:
        return committed_rate(admin, group, topic, n, alive)
    finally:
        peer.terminate()
        peer.wait(timeout=30)
        admin.close()


def ers_rate(bootstrap: str, n: int, messages: list[tuple[bytes, bytes]], workers: int, partitions: int) -> float:
    from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token

    twilio = LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()).start()
    base = Path(tempfile.mkdtemp(prefix="ers-bench-"))
    env = {"ERS_TICK_SECONDS": "60", "ERS_PARTITIONS": str(partitions),
           "ERS_DATABASE_URL": f"sqlite:///{base / 'ers.db'}"}
    first = WorkerProcess(bootstrap, base / "w0", twilio, env=env)
    first.start()  # creates the topics; nothing to read yet
    first.stop()
    group = first.env["ERS_APP_ID"]
    others = [WorkerProcess(bootstrap, base / f"w{i}", twilio, prefix=first.prefix,
                            env={**env, "ERS_APP_ID": group}) for i in range(1, workers)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    producing = None
    try:
        if workers == 1:
            produce(bootstrap, first.topic("readings"), messages)  # a backlog, as the other contenders read
        for worker in [first, *others]:
            worker.start()

        def alive() -> None:
            for worker in [first, *others]:
                worker.check_alive()

        if workers > 1:
            # A worker that joins while the others work through a backlog rebalances the group in the middle of
            # the measurement (each start waits for Ready): the group forms first, then the readings come.
            wait_for_group(admin, group, workers, alive)
            producing = threading.Thread(target=produce, args=(bootstrap, first.topic("readings"), messages))
            producing.start()
        return committed_rate(admin, group, first.topic("readings"), n, alive)
    finally:
        if producing is not None:
            producing.join()
        for worker in [first, *others]:
            worker.stop()
        admin.close()
        twilio.stop()


def wait_for_group(admin: KafkaAdminClient, group: str, members: int, alive: callable, timeout: float = 120) -> None:
    """Until `group` is stable with `members` members (its partitions assigned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        described = admin.describe_groups([group]).get(group, {})
        if described.get("group_state") == "Stable" and len(described.get("members", [])) == members:
            return
        time.sleep(0.5)
    raise RuntimeError(f"group {group} not stable with {members} members within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="readings (default 100,000)")
    parser.add_argument("--workers", type=int, default=1, help="ERS workers in one group (default 1)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the topics (default 4)")
    parser.add_argument("--jumpy", action="store_true",
                        help="values drawn anew from the normal range for every reading: an endless alert storm")
    args = parser.parse_args()
    n, console = args.n, Console()
    messages = readings(n, args.jumpy)
    with LocalKafka(ephemeral=True) as kafka:
        topic = f"bench-{uuid.uuid4().hex[:6]}"
        KafkaAdminClient(bootstrap_servers=kafka.bootstrap).create_topics(
            {topic: {"num_partitions": args.partitions, "replication_factor": 1}}, wait_for_metadata=True)
        produce(kafka.bootstrap, topic, messages)
        baseline = asyncio.run(raw_consume(kafka.bootstrap, topic, n, validate=False))
        decoded = asyncio.run(raw_consume(kafka.bootstrap, topic, n, validate=True))
        engine = engine_rate(messages)
        quix = quix_rate(kafka.bootstrap, topic, n)
        ers = ers_rate(kafka.bootstrap, n, messages, args.workers, args.partitions)
    table = Table(title=f"{n:,} readings, {args.partitions} partitions, one broker, this machine "
                        f"({os.cpu_count()} cores)")
    table.add_column("stage")
    table.add_column("readings/s", justify="right")
    table.add_column("vs raw aiokafka", justify="right")
    table.add_column("vs Quix Streams", justify="right")
    rows = [("raw aiokafka getmany + json.loads", baseline), ("+ pydantic StationReport", decoded),
            ("contingency.evaluate alone (in process)", engine),
            ("Quix Streams peer (bench/quix_peer.py)", quix),
            (f"ers worker x{args.workers} (Faust, tables, detections)", ers)]
    for name, rate in rows:
        if rate is None:
            table.add_row(name, "not installed (make bench-quix)", "", "")
            continue
        table.add_row(name, f"{rate:,.0f}", f"{rate / baseline:.3f}", f"{rate / quix:.3f}" if quix else "")
    console.print(table)


if __name__ == "__main__":
    main()
