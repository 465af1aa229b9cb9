"""How fast a drill replays at `--speed max`, against the cost of its synchronisation measured in the same run.

A drill step is: send the step's records, then wait until the drill worker has committed everything on its topics
(so the next step meets the state this one left). The baseline is that wait with nothing else in it: send one record
to a topic, let a plain kafka-python consumer in a thread commit it, and poll the group's committed offsets with the
same `GroupProgress` the runner uses, on the same broker. The ratio says how much of a drill step is ERS (the
worker's agents, the hops detection -> incident -> SMS -> receipt) rather than the quiet-wait itself.

    .venv/bin/python bench/drill_replay.py [--log drills/tailings-seepage.jsonl] [--baseline-steps 300]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaConsumer, KafkaProducer  # noqa: E402

from contingency import load_plan  # noqa: E402
from contingency.drill_log import parse_drill_log, read_lines  # noqa: E402
from contingency.drill_steps import log_digest  # noqa: E402
from contingency.roster import load_roster  # noqa: E402
from handlers.kafka_admin import ensure_topics  # noqa: E402
from handlers.kafka_progress import GroupProgress  # noqa: E402
from deploy.local.kafka import LocalKafka  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.services.drill_run import DrillOptions, DrillRunner  # noqa: E402
from schemas.topics import TopicSpec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def baseline_steps_per_second(bootstrap: str, steps: int) -> float:
    topic, group = "bench.quiet", "bench-quiet"
    ensure_topics(bootstrap, [TopicSpec(topic, 1)])
    stop = threading.Event()

    def consume() -> None:
        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                 auto_offset_reset="earliest", fetch_max_wait_ms=10)
        while not stop.is_set():
            if consumer.poll(timeout_ms=10):
                consumer.commit()
        consumer.close()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    producer.send(topic, b"warm-up")
    producer.flush()
    progress = GroupProgress(bootstrap, group, [topic])
    while progress.behind() != 0:
        time.sleep(0.003)
    started = time.perf_counter()
    for _ in range(steps):
        producer.send(topic, b"step")
        producer.flush()
        while progress.behind() != 0:
            time.sleep(0.003)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(timeout=5)
    progress.close()
    producer.close()
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, default=REPO / "drills" / "tailings-seepage.jsonl")
    parser.add_argument("--baseline-steps", type=int, default=300)
    args = parser.parse_args()
    plan = load_plan(REPO / "plans" / "arxan.yaml")
    roster = load_roster(REPO / "plans" / "arxan-roster.yaml", plan)
    lines = read_lines(args.log)
    log = parse_drill_log(lines, str(args.log), plan)
    with LocalKafka(ephemeral=True) as kafka, tempfile.TemporaryDirectory() as tmp:
        bootstrap = kafka.bootstrap
        base = baseline_steps_per_second(bootstrap, args.baseline_steps)
        settings = Settings(broker=bootstrap, data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/production.db",
                            plan=REPO / "plans" / "arxan.yaml", roster=REPO / "plans" / "arxan-roster.yaml",
                            roads=REPO / "plans" / "arxan-roads.geojson")
        runner = DrillRunner(settings, plan, roster, log, log_digest(lines), "bench",
                             DrillOptions(speed=None, tick=dt.timedelta(minutes=1)))
        started = time.perf_counter()
        report = runner.run().report
        total = time.perf_counter() - started
    virtual_minutes = (log.entries[-1].at - log.entries[0].at).total_seconds() / 60
    replay = runner.replay_seconds
    drill = len(runner.steps) / replay
    print(f"log {args.log.name}: {len(log.entries)} events, {len(runner.steps)} steps, "
          f"{virtual_minutes:.0f} min of log time, {report.summary.incidents} incident(s), "
          f"{report.summary.notifications_sent} SMS")
    print(f"baseline (send 1 record, wait for a plain consumer's commit): {base:8.1f} steps/s  1.000")
    print(f"ers drill run --speed max (replay incl. worker start {total:.1f} s): "
          f"{drill:8.1f} steps/s  {drill / base:.3f}")
    print(f"log time per wall second: {virtual_minutes / replay:.1f} min/s (speed ~{virtual_minutes * 60 / replay:.0f}x)")


if __name__ == "__main__":
    main()
