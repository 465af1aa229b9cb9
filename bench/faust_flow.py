"""How fast can a Faust agent that does nothing take records, with Faust's flow control as shipped and as ERS sets it?

Found while profiling the worker (issue 14): ERS's worker ran no faster than an empty Faust agent. Faust pauses an
agent's partitions when its queue is 80 % full and resumes them at 40 %; meanwhile its fetcher waited up to a second
for the other partitions (or slept a second), and a fetch handing over more than the queue had room for delivered
the rest a task per record. This bench measures, in one run on one ephemeral broker and the same readings:
  baseline   raw aiokafka: getmany + json.loads of every record
  faust      an empty agent (streams.batches.event_batches) with Faust's defaults (queue 4,096, whole fetches)
  ers        the same agent with ERS's flow settings (streams.app.STREAM_BUFFER, FETCH_RECORDS) and its Faust
             corrections (streams.faust_fixes, streams.faust_eager)
Each agent runs in its own process; its rate is taken from its first record to its last.
Usage (repo root): python bench/faust_flow.py [N]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def agent(bootstrap: str, topic: str, n: int, ers: bool) -> None:
    """The empty agent (run in a child process): prints its rate and exits."""
    import faust

    from streams.batches import event_batches

    settings = {}
    if ers:
        from streams import app as ers_app, faust_eager, faust_fixes

        faust_fixes.install()
        faust_eager.install()
        settings = {"stream_buffer_maxsize": ers_app.STREAM_BUFFER,
                    "broker_max_poll_records": ers_app.FETCH_RECORDS}
    app = faust.App(f"flow-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}", store="memory://",
                    web_enabled=False, consumer_auto_offset_reset="earliest", topic_allow_declare=False, **settings)
    seen = {"n": 0, "first": 0.0}

    @app.agent(app.topic(topic, key_serializer="raw", value_serializer="raw"), concurrency=1)
    async def empty(stream: faust.StreamT) -> None:
        async for batch in event_batches(stream, 500, 0.005):
            if not seen["n"]:
                seen["first"] = time.perf_counter()
            seen["n"] += len(batch)
            if seen["n"] >= n:
                print(f"RATE {n / (time.perf_counter() - seen['first'])}", flush=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


def agent_rate(bootstrap: str, topic: str, n: int, ers: bool) -> float:
    done = subprocess.run([sys.executable, __file__, "--agent", bootstrap, topic, str(n), "ers" if ers else "faust"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    found = re.search(r"RATE ([0-9.]+)", done.stdout + done.stderr)  # Faust's worker logs what its agents print
    if found:
        return float(found.group(1))
    raise RuntimeError(f"the {'ers' if ers else 'faust'} agent printed no rate: {done.stderr[-2000:]}")


def main() -> None:
    if sys.argv[1:2] == ["--agent"]:
        bootstrap, topic, n, kind = sys.argv[2:6]
        agent(bootstrap, topic, int(n), kind == "ers")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="readings (default 100,000)")
    n = parser.parse_args().n

    from deploy.local.kafka import LocalKafka
    from pipeline_throughput import produce, raw_consume, readings

    with LocalKafka(ephemeral=True) as kafka:
        topic = f"flow-{uuid.uuid4().hex[:6]}"
        KafkaAdminClient(bootstrap_servers=kafka.bootstrap).create_topics(
            {topic: {"num_partitions": 4, "replication_factor": 1}}, wait_for_metadata=True)
        produce(kafka.bootstrap, topic, readings(n))
        baseline = asyncio.run(raw_consume(kafka.bootstrap, topic, n, validate=False))
        rows = [("raw aiokafka getmany + json.loads", baseline),
                ("empty Faust agent, Faust's flow defaults", agent_rate(kafka.bootstrap, topic, n, ers=False)),
                ("empty Faust agent, ERS's flow settings and fixes", agent_rate(kafka.bootstrap, topic, n, ers=True))]
    table = Table(title=f"{n:,} readings, 4 partitions, one broker, this machine ({os.cpu_count()} cores)")
    for column, justify in (("stage", "left"), ("records/s", "right"), ("vs raw aiokafka", "right")):
        table.add_column(column, justify=justify)
    for name, rate in rows:
        table.add_row(name, f"{rate:,.0f}", f"{rate / baseline:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
