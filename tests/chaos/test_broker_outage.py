"""The Kafka broker stopped mid-stream (issue 13 item 9): the test's own broker (fixed ports, data on disk) is
stopped while a worker runs, and started again on the same data at the same address. While it is away the worker
stays up (no restart), /health answers 503 "broker unreachable", and its log stays quiet (the repeated-error limiter
of streams/logs.py says a repeating error once per interval). Once it is back: the incidents opened before the
outage are not opened again, the readings sent after it open theirs, every page goes out exactly once.

Short: 15 s away. Full (ERS_CHAOS=full): 68 s, as the issue asks."""
from __future__ import annotations

import collections
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.broker_outage_logs import parsed
from deploy.local.kafka import LocalKafka, LocalKafkaError
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from tests.chaos import accounting
from tests.chaos.conftest import Figures, scaled
from tests.e2e.test_sms_alerting import fast_roster, reading  # noqa: F401
from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
OUTAGE_SECONDS = scaled(15, 68)
# Readings over limits of plans/arxan.yaml at four sources none of which folds into another; two before the outage,
# two after it. The plan's own tier waits (5 minutes and more) are kept: no escalation within the experiment.
BEFORE = [("yirshi_wwtp_online", "cod", 80.0, "mg/L", "yirshi_wwtp_outfall"),
          ("city_air_auto", "no2", 1500.0, "ug/m3", "arxan_city_air")]
AFTER = [("city_source_auto", "ammonia_nitrogen", 1.6, "mg/L", "arxan_city_drinking_source"),
         ("tailings_example_online", "seepage_flow", 9.0, "L/s", "tailings_example")]
MAX_ERROR_LINES = 50      # the issue asks for quiet logs; 12 ERROR lines were seen in 68 s (bench/broker_outage_logs)
MAX_WARNING_LINES = 100
# A supervisor's probe needs its answer within seconds; the database check is bounded by streams.health.PROBE_SECONDS.
HEALTH_ANSWER_SECONDS = 10.0


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """Not the shared broker: this one is stopped. Fixed ports (chosen once) and a data directory that outlives a
    stop, so the broker comes back at the same address with its topics, offsets and the worker's group."""
    data_dir = tmp_path_factory.mktemp("kafka")
    broker = LocalKafka(data_dir=data_dir, port=0, controller_port=0)
    try:
        broker.start(timeout=300)
    except LocalKafkaError as exc:
        pytest.skip(f"needs a local Kafka broker (Java and the Maven jars): {exc}")
    yield broker
    broker.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def sms() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


@pytest.fixture(scope="module")
def worker(kafka: LocalKafka, sms: LocalTwilioApi, fast_roster: Path,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(kafka.bootstrap, tmp_path_factory.mktemp("worker"), sms, roster=fast_roster).start(
        timeout=180)
    yield process
    process.stop()


def health(worker: WorkerProcess) -> tuple[int, dict, float]:
    """(HTTP status, body, seconds the answer took)."""
    began = time.monotonic()
    answer = requests.get(worker.public_url + "/health", timeout=60)
    return answer.status_code, answer.json(), time.monotonic() - began


@dataclass(frozen=True)
class Answer:
    began: float  # monotonic
    ended: float
    code: int | None  # None: no answer within the client's timeout
    status: str | None
    error: str


class HealthProbe(threading.Thread):
    """Asks /health every 2 s (or as soon as the last answer came, when it took longer) until stopped, so that a
    slow answer does not lengthen the outage."""

    def __init__(self, worker: WorkerProcess) -> None:
        super().__init__(daemon=True)
        self.url = worker.public_url + "/health"
        self.answers: list[Answer] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                answer = requests.get(self.url, timeout=60)
                code, said = answer.status_code, answer.json()
            except requests.RequestException as exc:
                code, said = None, {"error": f"{type(exc).__name__}: {exc}"}
            ended = time.monotonic()
            self.answers.append(Answer(began, ended, code, said.get("status"), str(said.get("error"))))
            self.stopping.wait(max(0.0, 2.0 - (ended - began)))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=90)  # the longest call: the client's timeout (60 s)


def produce(bootstrap: str, worker: WorkerProcess, triggers: list[tuple]) -> None:
    for station, parameter, value, unit, _ in triggers:
        send(bootstrap, worker.topic("readings"), reading(station, parameter, value, unit), key=station)


def opened(records: list[dict]) -> list[dict]:
    return [r for r in records if r["type"] == "incident.opened"]


def wait_settled(notifications: TopicReader, delivery: TopicReader, sms: LocalTwilioApi, worker: WorkerProcess,
                 timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not accounting.settled(notifications.poll(), delivery.poll(), sms.messages):
        assert time.monotonic() < deadline, f"pages not all sent within {timeout:g} s"
        worker.check_alive()
        time.sleep(0.3)


def test_a_broker_outage_loses_and_doubles_nothing_and_the_worker_waits_quietly(
        kafka: LocalKafka, worker: WorkerProcess, sms: LocalTwilioApi, figures: list[Figures]) -> None:
    bootstrap = kafka.bootstrap
    assert worker.process is not None
    pid = worker.process.pid

    # Before: two incidents open and their pages go out.
    produce(bootstrap, worker, BEFORE)
    incidents = TopicReader(bootstrap, worker.topic("incidents"))
    notifications = TopicReader(bootstrap, worker.topic("notifications"))
    delivery = TopicReader(bootstrap, worker.topic("delivery"))
    incidents.wait_for(lambda rs: {r["source_id"] for r in opened(rs)} >= {s for *_, s in BEFORE}, timeout=60)
    wait_settled(notifications, delivery, sms, worker, timeout=30)
    pages_before = len([m for m in sms.messages if m.direction == "outbound-api"])
    for reader in (incidents, notifications, delivery):
        reader.close()  # new readers after the outage read every record from the beginning again
    time.sleep(2)  # the last commits and status callbacks of the pages

    # The outage: the broker stopped (SIGTERM, a clean shutdown) and kept away.
    down_wall = time.time()
    kafka.stop()
    down_at = time.monotonic()
    probe = HealthProbe(worker)
    probe.start()
    try:
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            worker.check_alive()
            time.sleep(0.5)
        worker.check_alive()
        restart_at = time.monotonic()
        kafka.start(timeout=180)
        up_wall, up_at = time.time(), time.monotonic()
    finally:
        probe.stopping.set()  # a call still open ends by itself; joined below, not waited for here
    outage_lines = [(level, text) for at, level, text in parsed(worker.log_since_start())
                    if down_wall <= at < up_wall]

    # After: two more incidents. Recovery: from the broker's return to the worker's first output after it.
    produce(bootstrap, worker, AFTER)
    incidents = TopicReader(bootstrap, worker.topic("incidents"))
    notifications = TopicReader(bootstrap, worker.topic("notifications"))
    delivery = TopicReader(bootstrap, worker.topic("delivery"))
    try:
        incidents.wait_for(lambda rs: bool({r["source_id"] for r in opened(rs)} & {s for *_, s in AFTER}),
                           timeout=120)
        recovery = time.monotonic() - up_at
        incidents.wait_for(lambda rs: {r["source_id"] for r in opened(rs)} >= {s for *_, s in BEFORE + AFTER},
                           timeout=60)
        wait_settled(notifications, delivery, sms, worker, timeout=60)
        all_out = time.monotonic() - up_at

        time.sleep(3)  # anything sent twice would arrive now
        page_count = accounting.final_pages(notifications, delivery, sms)
        records = incidents.settle(2.0)
        code_after, said_after = None, {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the group's coordinator may still be loading right after a restart
            code_after, said_after, _ = health(worker)
            if code_after == 200:
                break
            time.sleep(1)
    finally:
        for reader in (incidents, notifications, delivery):
            reader.close()
        probe.stop()
    # Answers given while the broker was away; calls still open when it was started again, for how long by then.
    away = [a for a in probe.answers if a.ended <= restart_at]
    late = [a for a in probe.answers if a.ended > restart_at and a.began < restart_at]
    open_at_restart = [restart_at - a.began for a in late]

    # Incident events: once per event id on the topic; and no incident opened twice for one source and rule.
    distinct = {r["event_id"]: r for r in records}
    opened_per_rule = collections.Counter((r["source_id"], r["rule_id"]) for r in opened(list(distinct.values())))
    incident_count = accounting.count([s for *_, s in BEFORE + AFTER],
                                      [source for (source, _), n in opened_per_rule.items() for _ in range(n)])
    levels = collections.Counter(level for level, _ in outage_lines)
    loud = collections.Counter(re.sub(r"\d+", "#", text)[:100] for level, text in outage_lines
                               if level in ("ERROR", "WARNING", "CRITICAL"))
    took = sorted([a.ended - a.began for a in away] + open_at_restart)
    statuses = collections.Counter(f"{a.code} {a.status!r}" for a in away)
    name = f"broker outage {OUTAGE_SECONDS:g} s"
    notes = [f"worker log during the outage: {levels['ERROR']} ERROR, {levels['WARNING']} WARNING, "
             f"{levels['CRITICAL']} CRITICAL, {levels['INFO']} INFO lines",
             *(f"  {n:4d} x {text}" for text, n in loud.most_common(3)),
             f"/health while away: {len(away)} answers ({', '.join(f'{k} x{n}' for k, n in statuses.items())}), "
             f"each in {min(a.ended - a.began for a in away) if away else 0:.1f}-"
             f"{max(a.ended - a.began for a in away) if away else 0:.1f} s; {len(open_at_restart)} still unanswered "
             f"when the broker was started again" + "".join(
                 f" ({restart_at - a.began:.1f} s in; answered {a.code} {a.status!r} after {a.ended - a.began:.1f} s)"
                 for a in late),
             f"/health's first error: {away[0].error[:120] if away else '-'}; worker pid {pid} alive throughout",
             f"{pages_before} SMS before the outage; broker back -> every page sent: {all_out:.1f} s"]
    figures.append(Figures(name, "incidents opened", len(BEFORE) + len(AFTER), incident_count.expected,
                           incident_count.observed, incident_count.lost, incident_count.doubled, recovery,
                           [f"{len(records)} incident records on the topic, {len(distinct)} distinct event ids"]))
    figures.append(Figures(name, "pages (SMS)", len(BEFORE) + len(AFTER), page_count.expected, page_count.observed,
                           page_count.lost, page_count.doubled, recovery, notes))

    assert worker.process.pid == pid and worker.process.poll() is None, "the worker was not restarted"
    assert incident_count.lost == 0 and incident_count.doubled == 0, (incident_count, opened_per_rule)
    assert page_count.lost == 0 and page_count.doubled == 0, page_count
    assert page_count.expected >= len(BEFORE) + len(AFTER), page_count
    assert levels["CRITICAL"] == 0, [t for lv, t in outage_lines if lv == "CRITICAL"]
    assert levels["ERROR"] < MAX_ERROR_LINES, loud.most_common(10)
    assert levels["WARNING"] < MAX_WARNING_LINES, loud.most_common(10)
    assert code_after == 200 and said_after["status"] == "ok", said_after
    assert away, "/health was asked and answered during the outage"
    assert all(a.code == 503 and a.status == "broker unreachable" for a in away), away
    assert took[-1] <= HEALTH_ANSWER_SECONDS, \
        f"/health took {took[-1]:.1f} s to answer during the broker outage: a liveness probe would time out"
