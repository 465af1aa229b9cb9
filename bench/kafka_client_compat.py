"""Which Apache Kafka broker versions do our Python clients work with?

For each version, starts an ephemeral broker with deploy.local.kafka and checks:
  admin   kafka-python KafkaAdminClient.create_topics
  aiokafka  AIOKafkaProducer send + AIOKafkaConsumer in a group (Join/SyncGroup,
            OffsetCommit, then OffsetFetch from a fresh consumer)
  kafka-python  KafkaProducer + KafkaConsumer in a group, commit, committed()
  faust   a real `faust worker` subprocess: creates its internal topic (Faust's
          own CreateTopics path), joins its group, consumes, commits

Usage: python bench/kafka_client_compat.py [VERSION ...]   (run from the repo root)
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deploy.local.kafka import LocalKafka  # noqa: E402

DEFAULT_VERSIONS = ("4.0.2", "4.1.2", "4.2.2", "4.3.1", "4.4.0")
MESSAGES = 10
TIMEOUT = 45.0
CHECKS = ("admin", "aiokafka", "kafka-python", "faust")

log = logging.getLogger("ers.kafka.compat")


@dataclass
class VersionResult:
    version: str
    ready_seconds: float | None = None
    checks: dict[str, str] = field(default_factory=dict)


# -- checks -----------------------------------------------------------------


def check_admin(bootstrap: str) -> str:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            {
                "compat.aiokafka": {"num_partitions": 2, "replication_factor": 1},
                "compat.kafka-python": {"num_partitions": 2, "replication_factor": 1},
            }
        )
        missing = {"compat.aiokafka", "compat.kafka-python"} - set(admin.list_topics())
        if missing:
            raise AssertionError(f"topics missing after create: {missing}")
    finally:
        admin.close()
    return "ok"


async def aiokafka_round_trip(bootstrap: str) -> str:
    topic, group = "compat.aiokafka", "compat-aiokafka"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for index in range(MESSAGES):
            await producer.send_and_wait(topic, f"m{index}".encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group,
        enable_auto_commit=False, auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        received = 0
        deadline = time.monotonic() + TIMEOUT
        while received < MESSAGES and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            received += sum(len(records) for records in batches.values())
        if received < MESSAGES:
            raise AssertionError(f"consumed {received}/{MESSAGES}")
        await consumer.commit()
    finally:
        await consumer.stop()

    # A fresh member of the group reads the committed offsets back (OffsetFetch).
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        committed = [await reader.committed(TopicPartition(topic, p)) or 0 for p in (0, 1)]
    finally:
        await reader.stop()
    if sum(committed) != MESSAGES:
        raise AssertionError(f"committed offsets {committed}, expected total {MESSAGES}")
    return "ok"


def check_aiokafka(bootstrap: str) -> str:
    return asyncio.run(aiokafka_round_trip(bootstrap))


def check_kafka_python(bootstrap: str) -> str:
    topic, group = "compat.kafka-python", "compat-kafka-python"
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for index in range(MESSAGES):
            producer.send(topic, f"m{index}".encode())
        producer.flush(timeout=TIMEOUT)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group,
        enable_auto_commit=False, auto_offset_reset="earliest",
    )
    try:
        received = 0
        deadline = time.monotonic() + TIMEOUT
        while received < MESSAGES and time.monotonic() < deadline:
            received += sum(len(records) for records in consumer.poll(timeout_ms=1000).values())
        if received < MESSAGES:
            raise AssertionError(f"consumed {received}/{MESSAGES}")
        consumer.commit()
        committed = [consumer.committed(KpTopicPartition(topic, p)) or 0 for p in (0, 1)]
    finally:
        consumer.close()
    if sum(committed) != MESSAGES:
        raise AssertionError(f"committed offsets {committed}, expected total {MESSAGES}")
    return "ok"


FAUST_APP = textwrap.dedent(
    """
    import os
    import faust

    app = faust.App(
        "compat-faust",
        broker="kafka://" + os.environ["COMPAT_BOOTSTRAP"],
        store="memory://",
        web_enabled=False,
        topic_partitions=1,
        datadir=os.environ["COMPAT_DATADIR"],
        broker_commit_every=1,
    )
    topic = app.topic("compat.faust", value_serializer="raw")

    @app.agent(topic)
    async def record(stream):
        async for value in stream:
            with open(os.environ["COMPAT_OUT"], "ab") as out:
                out.write(value + b"\\n")
    """
)


def check_faust(bootstrap: str) -> str:
    # Faust only creates its internal topics; source topics are ours to create,
    # as in the app (created late, the group would be assigned nothing).
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({"compat.faust": {"num_partitions": 1, "replication_factor": 1}})
    finally:
        admin.close()
    with tempfile.TemporaryDirectory(prefix="ers-compat-faust-") as work:
        work_dir = Path(work)
        (work_dir / "compat_app.py").write_text(FAUST_APP, encoding="utf-8")
        out_file, worker_log = work_dir / "out.txt", work_dir / "worker.log"
        env = {
            **os.environ,
            "COMPAT_BOOTSTRAP": bootstrap,
            "COMPAT_DATADIR": str(work_dir / "faust-data"),
            "COMPAT_OUT": str(out_file),
        }
        with worker_log.open("wb") as log_out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "compat_app", "worker", "-l", "info", "--without-web"],
                cwd=work_dir, env=env, stdout=log_out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            return faust_round_trip(bootstrap, worker, out_file, worker_log)
        finally:
            stop_process(worker)


def faust_round_trip(bootstrap: str, worker: subprocess.Popen[bytes], out_file: Path, worker_log: Path) -> str:
    wait_for(lambda: "compat-faust-__assignor-__leader" in list_topics(bootstrap),
             worker, worker_log, "faust to create its internal topic")
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for index in range(MESSAGES):
            producer.send("compat.faust", f"f{index}".encode())
        producer.flush(timeout=TIMEOUT)
    finally:
        producer.close()
    wait_for(lambda: out_file.exists() and len(out_file.read_bytes().splitlines()) >= MESSAGES,
             worker, worker_log, "faust agent to consume")
    wait_for(lambda: committed_offset(bootstrap, "compat-faust", "compat.faust") >= MESSAGES,
             worker, worker_log, "faust to commit")
    # GroupCoordinatorNotAvailable is expected once, while __consumer_offsets is created.
    errors = [
        line for line in worker_log.read_text(errors="replace").splitlines()
        if "ERROR" in line and "GroupCoordinatorNotAvailable" not in line
    ]
    return "ok" if not errors else f"ok, but logged: {errors[0][:120]}"


def list_topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


def committed_offset(bootstrap: str, group: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(KpTopicPartition(topic, 0)) or 0
    finally:
        consumer.close()


def wait_for(condition: Callable[[], bool], worker: subprocess.Popen[bytes], worker_log: Path, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise AssertionError(f"faust worker exited waiting for {what}: {tail(worker_log)}")
        if condition():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}: {tail(worker_log)}")


def tail(path: Path, lines: int = 5) -> str:
    return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# -- driver -----------------------------------------------------------------

CHECK_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "admin": check_admin,
    "aiokafka": check_aiokafka,
    "kafka-python": check_kafka_python,
    "faust": check_faust,
}


def run_check(name: str, bootstrap: str) -> str:
    started = time.monotonic()
    try:
        outcome = CHECK_FUNCTIONS[name](bootstrap)
    except Exception as error:  # noqa: BLE001 - the report is the point
        log.debug("%s failed:\n%s", name, traceback.format_exc())
        outcome = f"FAIL {type(error).__name__}: {str(error)[:200]}"
    log.info("%s: %s (%.1f s)", name, outcome, time.monotonic() - started)
    return outcome


def probe(version: str) -> VersionResult:
    result = VersionResult(version)
    kafka = LocalKafka(ephemeral=True, version=version)
    try:
        kafka.ensure_jars()
        started = time.monotonic()
        kafka.start()
        result.ready_seconds = time.monotonic() - started
        for name in CHECKS:
            result.checks[name] = run_check(name, kafka.bootstrap)
    except Exception as error:  # noqa: BLE001
        result.checks = {name: f"FAIL broker: {str(error)[:200]}" for name in CHECKS}
    finally:
        kafka.stop()
    return result


def table(results: list[VersionResult]) -> str:
    header = "| Kafka | ready (s) | " + " | ".join(CHECKS) + " |"
    rule = "|---" * (len(CHECKS) + 2) + "|"
    rows = [
        f"| {r.version} | {r.ready_seconds:.1f} | " if r.ready_seconds is not None else f"| {r.version} | - | "
        for r in results
    ]
    rows = [row + " | ".join(r.checks.get(name, "-") for name in CHECKS) + " |" for row, r in zip(rows, results)]
    return "\n".join([header, rule, *rows])


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    results = []
    for version in argv or DEFAULT_VERSIONS:
        log.info("=== Kafka %s ===", version)
        results.append(probe(version))
    print(table(results))
    return 0 if all(o == "ok" for r in results for o in r.checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
