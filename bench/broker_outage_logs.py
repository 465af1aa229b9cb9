"""An experiment: what the worker's log says while the broker is away, and whether it resumes afterwards.

An ephemeral broker and a real worker; a reading every second (sent by a producer that waits for the broker);
the broker is stopped for `--seconds` and started again on the same data. Printed: log lines by level before,
during and after the outage, the most frequent WARNING/ERROR lines of the outage (numbers blanked), and the
seconds from the broker's return to the worker's next output. With ERS_LOG_REPEAT_SECONDS (default 60) a line
that repeats is written once per interval with a count; `--repeat-seconds 0.001` shows the flood without it.

    .venv/bin/python bench/broker_outage_logs.py [--seconds 68] [--repeat-seconds 60]
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaProducer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from deploy.local.kafka import LocalKafka, free_port  # noqa: E402
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token  # noqa: E402
from tests.integration.harness import TopicReader, WorkerProcess  # noqa: E402

LINE = re.compile(r"^\[(?P<at>[\d-]+ [\d:,]+)\] (?P<level>[A-Z]+) (?P<text>.*)$")
console = Console()


def feed(broker: str, topic: str, stop: threading.Event) -> None:
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", retries=1_000_000, request_timeout_ms=600_000,
                             delivery_timeout_ms=900_000, reconnect_backoff_max_ms=1000)
    while not stop.is_set():
        value = {"event_id": str(uuid.uuid4()), "station_id": "yirshi_wwtp_online",
                 "observed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                 "measurements": [{"parameter": "cod", "value": 20.0, "unit": "mg/L"}]}
        producer.send(topic, json.dumps(value).encode(), key=b"probe")  # wrong key: one re-keyed output each
        time.sleep(1)
    producer.flush(timeout=60)
    producer.close()


def parsed(log: str) -> list[tuple[float, str, str]]:
    lines = []
    for raw in log.splitlines():
        found = LINE.match(raw)
        if found:
            at = dt.datetime.strptime(found["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            lines.append((at, found["level"], found["text"]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=68.0, help="how long the broker is away")
    parser.add_argument("--repeat-seconds", type=float, default=60.0, help="ERS_LOG_REPEAT_SECONDS for the worker")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ers-outage-")))
        kafka = LocalKafka(data_dir=tmp / "kafka", port=free_port(), controller_port=free_port())
        kafka.start(timeout=300)
        stack.callback(kafka.stop)
        twilio = stack.enter_context(LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()))
        worker = WorkerProcess(kafka.bootstrap, tmp / "worker", twilio,
                               env={"ERS_LOG_REPEAT_SECONDS": str(args.repeat_seconds)}).start(timeout=180)
        stack.callback(worker.stop)
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(kafka.bootstrap, worker.topic("readings"), stop), daemon=True)
        feeder.start()
        time.sleep(10)
        down = time.time()
        kafka.stop()
        time.sleep(args.seconds)
        kafka.start(timeout=300)
        up = time.time()
        resumed = None
        reader = TopicReader(kafka.bootstrap, worker.topic("readings"))
        deadline = time.time() + 120
        while time.time() < deadline and resumed is None:
            records = reader.poll()
            since_up = collections.Counter(r["event_id"] for r in records if r.get("observed_at") and
                                           dt.datetime.fromisoformat(r["observed_at"]).timestamp() > up)
            if any(n >= 2 for n in since_up.values()):  # the feeder's record and the worker's re-keyed copy
                resumed = time.time()
        reader.close()
        time.sleep(5)
        stop.set()
        lines = parsed(worker.log_since_start())
    phases = {"before": (0, down), "outage": (down, up), "after": (up, float("inf"))}
    counts = {name: collections.Counter(level for at, level, _ in lines if lo <= at < hi)
              for name, (lo, hi) in phases.items()}
    table = Table(title=f"worker log, broker away {args.seconds:g} s, ERS_LOG_REPEAT_SECONDS={args.repeat_seconds:g}")
    table.add_column("level")
    for name in phases:
        table.add_column(name, justify="right")
    for level in ("INFO", "WARNING", "ERROR", "CRITICAL"):
        table.add_row(level, *(str(counts[name][level]) for name in phases))
    table.add_row("broker back -> processing again (s)", "", "",
                  f"{resumed - up:.1f}" if resumed else "not within 120 s")
    console.print(table)
    loud = collections.Counter(re.sub(r"\d+", "#", text)[:140] for at, level, text in lines
                               if down <= at < up and level in ("WARNING", "ERROR"))
    for text, count in loud.most_common(8):
        console.print(f"{count:5d}  {text}")


if __name__ == "__main__":
    main()
