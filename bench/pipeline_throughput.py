"""How fast does the ERS rules stage consume readings, against raw aiokafka on the same broker?

One ephemeral broker; N readings of the Arxan stations (within limits, with a spike every 100th so
rules fire and clear, incidents open and SMS go to the local Twilio sandbox) are written to a fresh
topic set. Then, measured in the same run:
  baseline  raw aiokafka: getmany + json.loads of every message (no ERS work)
  decode    the same, plus pydantic validation into StationReport (our contract)
  engine    in-process contingency.evaluate over the decoded reports (the pure domain alone)
  ers       a real `ers worker` process from Ready until its group has committed every reading
Ratios are printed against the baseline. Usage (repo root): python bench/pipeline_throughput.py [N]
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sys
import tempfile
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


def readings(n: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(7)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=n)
    out = []
    for i in range(n):
        station = rng.choice(list(STATIONS))
        spike = i % SPIKE_EVERY == SPIKE_EVERY - 1
        measurements = [{"parameter": p, "value": peak if spike else round(rng.uniform(lo, hi), 3), "unit": u}
                        for p, u, lo, hi, peak in STATIONS[station]]
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


def ers_rate(bootstrap: str, n: int, messages: list[tuple[bytes, bytes]]) -> float:
    from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token

    twilio = LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()).start()
    worker = WorkerProcess(bootstrap, Path(tempfile.mkdtemp(prefix="ers-bench-")), twilio,
                           env={"ERS_TICK_SECONDS": "60"})
    worker.start()  # creates the topics; nothing to read yet
    worker.stop()
    produce(bootstrap, worker.topic("readings"), messages)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    group = worker.env["ERS_APP_ID"]
    worker.start()
    started = time.perf_counter()
    while True:
        offsets = admin.list_group_offsets({group: None})[group]
        done = sum(o.offset for tp, o in offsets.items() if tp.topic == worker.topic("readings"))
        if done >= n:
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    worker.stop()
    admin.close()
    twilio.stop()
    return n / elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    console = Console()
    messages = readings(n)
    with LocalKafka(ephemeral=True) as kafka:
        topic = f"bench-{uuid.uuid4().hex[:6]}"
        KafkaAdminClient(bootstrap_servers=kafka.bootstrap).create_topics(
            {topic: {"num_partitions": 4, "replication_factor": 1}}, wait_for_metadata=True)
        produce(kafka.bootstrap, topic, messages)
        baseline = asyncio.run(raw_consume(kafka.bootstrap, topic, n, validate=False))
        decoded = asyncio.run(raw_consume(kafka.bootstrap, topic, n, validate=True))
        engine = engine_rate(messages)
        ers = ers_rate(kafka.bootstrap, n, messages)
    table = Table(title=f"{n} readings, 4 partitions, one broker, this machine")
    table.add_column("stage")
    table.add_column("readings/s", justify="right")
    table.add_column("vs raw aiokafka", justify="right")
    for name, rate in [("raw aiokafka getmany + json.loads", baseline), ("+ pydantic StationReport", decoded),
                       ("contingency.evaluate alone (in process)", engine),
                       ("ers worker (Faust, tables, detections)", ers)]:
        table.add_row(name, f"{rate:,.0f}", f"{rate / baseline:.3f}")
    console.print(table)


if __name__ == "__main__":
    main()
