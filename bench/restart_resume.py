"""An experiment: how soon after a SIGKILL does a restarted worker process readings again?

A feeder sends a reading every `--every` seconds with a wrong Kafka key; the rules agent answers each with one
record (the reading re-keyed to its station), so every output maps to an input by its event id. The worker is
killed with SIGKILL `--kills` times and restarted at once, as a supervisor would, under two memberships:

  dynamic  ERS_GROUP_INSTANCE=none: a new member each start; the group waits for the dead one's session to
           expire (broker_session_timeout, 10 s) before it hands the partitions over.
  static   the default: the worker's stable group.instance.id (KIP-345) replaces the dead member at once.

Printed per membership: seconds from the restart's spawn (right after the killed process is gone) to Faust's
"Ready" and to the first output (the output record's CreateTime, stamped by the worker), and inputs / outputs /
lost / doubled over the whole run (nothing may be lost; a record handled after the last commit before a kill is
re-keyed again after the restart, which the rules agent then dedupes by event id), and false rebalances: partition
assignments beyond one a start (a busy member taken for dead). `--every 0.002` loads the worker with about 500
readings/s meanwhile.

    .venv/bin/python bench/restart_resume.py [--kills 3] [--every 0.1] [--broker host:port]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from deploy.local.kafka import LocalKafka  # noqa: E402
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token  # noqa: E402
from tests.integration.harness import WorkerProcess  # noqa: E402

STATION = "yirshi_wwtp_online"
console = Console()


class Feeder(threading.Thread):
    def __init__(self, broker: str, topic: str, every: float) -> None:
        super().__init__(daemon=True)
        self.producer = KafkaProducer(bootstrap_servers=broker, acks="all")
        self.topic, self.every = topic, every
        self.sent: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            event_id = str(uuid.uuid4())
            value = {"event_id": event_id, "station_id": STATION, "observed_at": dt.datetime.now(dt.timezone.utc)
                     .isoformat(), "measurements": [{"parameter": "cod", "value": 20.0, "unit": "mg/L"}]}
            self.producer.send(self.topic, json.dumps(value).encode(), key=b"probe").get(timeout=30)
            self.sent[event_id] = time.time()
            time.sleep(self.every)
        self.producer.flush()


class Outputs(threading.Thread):
    """Re-keyed readings, by event id: the times each was made."""

    def __init__(self, broker: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
        partitions = None
        while not partitions:
            partitions = self.consumer.partitions_for_topic(topic)
            time.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in partitions]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.seen: dict[str, list[float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for batch in self.consumer.poll(timeout_ms=50).values():
                for record in batch:
                    if record.key == STATION.encode():  # when the worker made it (CreateTime), not when seen here
                        self.seen.setdefault(json.loads(record.value)["event_id"], []).append(record.timestamp / 1000)

    def first_after(self, moment: float) -> float | None:
        times = [t for ts in self.seen.values() for t in ts if t > moment]
        return min(times) if times else None


def run_membership(broker: str, twilio: LocalTwilioApi, workdir: Path, membership: str, kills: int,
                   every: float) -> dict[str, object]:
    env = {"ERS_GROUP_INSTANCE": "none"} if membership == "dynamic" else {}
    worker = WorkerProcess(broker, workdir, twilio, env=env).start(timeout=180)
    outputs = Outputs(broker, worker.topic("readings"))
    outputs.start()
    feeder = Feeder(broker, worker.topic("readings"), every)
    feeder.start()
    to_ready, to_output = [], []
    try:
        for _ in range(kills):
            time.sleep(6)
            worker.kill()  # returns once the process is gone: the restart is spawned at once
            spawned = time.time()
            worker.start(timeout=180)
            ready = time.time()
            while (first := outputs.first_after(spawned)) is None:
                time.sleep(0.02)
            to_ready.append(ready - spawned)
            to_output.append(first - spawned)
        time.sleep(4)
        feeder.stop.set()
        feeder.join()
        deadline = time.time() + 60
        while time.time() < deadline and not set(feeder.sent) <= set(outputs.seen):
            time.sleep(0.2)
    finally:
        outputs.stop.set()
        worker.stop()
    lost = set(feeder.sent) - set(outputs.seen)
    doubled = sum(1 for ts in outputs.seen.values() if len(ts) > 1)
    # Each start assigns the partitions once; any further assignment is a rebalance nobody asked for (a member
    # thought dead while it was busy).
    assignments = worker.log_path.read_text(encoding="utf-8", errors="replace").count("Executing _on_partitions_assigned")
    return {"to_ready": to_ready, "to_output": to_output, "inputs": len(feeder.sent), "outputs": len(outputs.seen),
            "lost": len(lost), "doubled": doubled, "false rebalances": assignments - (kills + 1)}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--every", type=float, default=0.1, help="seconds between readings")
    parser.add_argument("--broker", help="an existing broker; default: an ephemeral local one")
    parser.add_argument("--memberships", default="dynamic,static",
                        help="which to run, comma-separated (default dynamic,static)")
    args = parser.parse_args()
    memberships = [m.strip() for m in args.memberships.split(",") if m.strip()]
    if not memberships or set(memberships) - {"dynamic", "static"}:
        parser.error(f"--memberships: expected dynamic, static or both, comma-separated (got {args.memberships!r})")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ers-resume-")))
        if args.broker:
            broker = args.broker
        else:
            kafka = stack.enter_context(LocalKafka(data_dir=tmp / "kafka"))
            broker = kafka.bootstrap
        twilio = stack.enter_context(LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()))
        results = {m: run_membership(broker, twilio, tmp / m, m, args.kills, args.every)
                   for m in memberships}
    table = Table(title=f"restart after SIGKILL, {args.kills} kills each, a reading every {args.every:g} s; "
                        "seconds: median (min–max)")
    table.add_column("measure")
    for membership in results:
        table.add_column(membership, justify="right")
    for key, label in (("to_ready", "restart spawned -> Faust Ready"),
                       ("to_output", "restart spawned -> first output")):
        table.add_row(label, *(spread(r[key]) for r in results.values()))  # type: ignore[arg-type]
    for key in ("inputs", "outputs", "lost", "doubled", "false rebalances"):
        table.add_row(key, *(str(r[key]) for r in results.values()))
    console.print(table)


if __name__ == "__main__":
    main()
