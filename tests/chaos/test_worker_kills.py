"""Workers killed with SIGKILL while readings stream in (issue 13 items 7 and 9): nothing lost, nothing doubled.

The same seeded stream (tests/chaos/stream.py) goes through a reference worker that nobody kills and through the
workers under test; every id ERS writes is derived from its inputs, so the incident events and notifications of
both runs are the same sets, whatever the kills did. Counted:

- incident events: distinct event ids against the reference run's (lost: missing; doubled: an id the reference
  does not have, e.g. a second incident for one event). A record written again after a kill with the same id is
  not a double: consumers deduplicate by id;
- notifications: the same, by notification id;
- SMS: every notification of the run is exactly one SMS at the provider (tests/chaos/accounting.py).

One worker: `kills` random SIGKILLs, each restarted at once as a supervisor would (readings keep coming while it is
down). Three workers in one group: every other kill restarts at once (a static member takes its partitions back
without a rebalance), the others hold the desk's holder down past the session timeout, so the group rebalances
and the desk moves to another worker (and rebalances again when it returns); after every restart a signed SMS
status query to a random live worker is answered from the read model. Short: 600 readings, 3 and 4 kills. Full:
3,000 readings, 10 kills each.

Under load (issue 14): the whole backlog written at once (6,000 readings; full: 20,000), the worker killed at random
moments while readings are left, 3 kills (full: 8)."""
from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kafka import KafkaProducer

from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from handlers.kafka_progress import GroupProgress
from schemas.topics import DETECTIONS, NOTIFICATIONS, READINGS, TopicNames
from tests.chaos import accounting
from tests.chaos.conftest import Figures, scaled
from tests.chaos.stream import Reading, readings
from tests.e2e.test_sms_alerting import SANDBOX_NUMBER, on_duty_phone
from tests.integration.harness import DEFAULT_ROSTER, TopicReader, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
COUNT = int(scaled(600, 3000))
PACE = 0.05  # seconds between readings while workers are killed: the stream outlasts the kills
SEED = 20261206
SESSION_SECONDS = 10  # the worker's broker_session_timeout (streams/app.py)


@pytest.fixture(scope="module")
def stream() -> list[Reading]:
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    return readings(COUNT, SEED, start, dt.timedelta(seconds=300 / COUNT))


@pytest.fixture(scope="module")
def roster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every message its own SMS at once (no bundling window, the highest hourly cap), so which SMS go out does not depend on
    when the desk handles what: the runs are comparable message by message."""
    text = re.sub(r"bundle_seconds: \d+", "bundle_seconds: 0", DEFAULT_ROSTER.read_text())
    text = re.sub(r"cap_per_hour: \d+", "cap_per_hour: 200", text)
    path = tmp_path_factory.mktemp("roster") / "arxan-roster-unbundled.yaml"
    path.write_text(text)
    return path


@dataclass
class Run:
    events: dict[str, dict] = field(default_factory=dict)         # incident event id -> event
    records: int = 0                                               # incident records, ids repeated or not
    notifications: dict[str, dict] = field(default_factory=dict)  # notification id -> notification
    pages: accounting.Count | None = None
    restarts: list[float] = field(default_factory=list)           # seconds from the kill to Ready
    notes: list[str] = field(default_factory=list)
    detections: dict[str, dict] = field(default_factory=dict)     # detection id -> detection (the rules stage's)


def new_sms() -> LocalTwilioApi:
    return LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05)


def feed(broker: str, topic: str, stream: list[Reading], pace: float, at: dict[int, threading.Event]) -> None:
    """Send the stream; `at[n]` is set once reading n is sent (the kills wait for their moment on it)."""
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5)
    import json

    for n, reading in enumerate(stream):
        producer.send(topic, key=reading.key.encode(), value=json.dumps(reading.value).encode())
        if n in at:
            producer.flush()
            at[n].set()
        if pace:
            time.sleep(pace)
    producer.flush()
    producer.close()


def settle(broker: str, workers: list[WorkerProcess], sms: LocalTwilioApi, run: Run, timeout: float = 300) -> Run:
    """Wait until the group has committed every reading, detection and notification, then read what came out."""
    names = TopicNames(workers[0].prefix, 4)
    progress = GroupProgress(broker, workers[0].env["ERS_APP_ID"], [names.of(t) for t in (READINGS, DETECTIONS,
                                                                                        NOTIFICATIONS)])
    incidents, notes = TopicReader(broker, workers[0].topic("incidents")), TopicReader(broker, names.of(NOTIFICATIONS))
    delivery = TopicReader(broker, workers[0].topic("delivery"))
    try:
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 3:
            assert time.monotonic() < deadline, f"the workers did not settle within {timeout}s"
            for w in workers:
                w.check_alive()
            quiet = quiet + 1 if progress.behind() == 0 else 0
            time.sleep(1.0)
        records = incidents.settle(2.0)
        run.records = len(records)
        run.events = {r["event_id"]: r for r in records}
        run.pages = accounting.final_pages(notes, delivery, sms)
        run.notifications = {n["notification_id"]: n for n in notes.records}
        return run
    finally:
        progress.close()
        for reader in (incidents, notes, delivery):
            reader.close()


def detections(broker: str, worker: WorkerProcess) -> dict[str, dict]:
    reader = TopicReader(broker, TopicNames(worker.prefix, 4).of(DETECTIONS))
    try:
        return {d["event_id"]: d for d in reader.settle(3.0)}
    finally:
        reader.close()


def reference_run(broker: str, stream: list[Reading], roster: Path, workdir: Path) -> Run:
    """The stream through one worker that nobody kills, as fast as it goes (its detections too)."""
    with new_sms() as sms:
        worker = WorkerProcess(broker, workdir, sms, roster=roster).start()
        try:
            feed(broker, worker.topic("readings"), stream, 0, {})
            run = settle(broker, [worker], sms, Run())
            run.detections = detections(broker, worker)
            return run
        finally:
            worker.stop()


@pytest.fixture(scope="module")
def reference(broker: str, stream: list[Reading], roster: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Run:
    return reference_run(broker, stream, roster, tmp_path_factory.mktemp("reference"))


def compare(name: str, reference: Run, run: Run, sent: int) -> list[Figures]:
    events = accounting.count(list(reference.events), list(run.events))
    notes = accounting.count(list(reference.notifications), list(run.notifications))
    assert run.pages is not None
    restarts = (f"kill -> Ready {min(run.restarts):.1f}-{max(run.restarts):.1f} s "
                f"(median {sorted(run.restarts)[len(run.restarts) // 2]:.1f})" if run.restarts else "")
    return [Figures(name, "incident events", sent, events.expected, events.observed, events.lost, events.doubled,
                    None, [f"{run.records} incident records for {len(run.events)} ids (a record written again after "
                           f"a kill has the same id)", restarts, *run.notes,
                           *described(events.examples, reference.events, run.events)]),
            Figures(name, "notifications", sent, notes.expected, notes.observed, notes.lost, notes.doubled),
            Figures(name, "SMS", len(run.notifications), run.pages.expected, run.pages.observed, run.pages.lost,
                    run.pages.doubled)]


def described(examples: tuple, reference: dict[str, dict], run: dict[str, dict]) -> list[str]:
    """What a lost or doubled incident event was (a failure's first clue: which transition, which incident)."""
    lines = []
    for how, event_id in examples:
        e = (reference if how == "lost" else run).get(event_id, {})
        lines.append(f"{how}: {e.get('type')} {e.get('incident_id')} at {e.get('source_id')} "
                     f"({e.get('occurred_at')}) {e.get('reason', '')} id {event_id}")
    return lines


def assert_exact(results: list[Figures], reference: Run) -> None:
    assert reference.events and reference.notifications, "the stream opens incidents and pages people"
    for f in results:
        assert (f.lost, f.doubled) == (0, 0), f


def kill_and_restart(worker: WorkerProcess, run: Run, down: float = 0.0) -> None:
    killed = time.monotonic()
    worker.kill()
    if down:
        time.sleep(down)
        worker.start(timeout=180)
        return
    worker.start(timeout=180)
    run.restarts.append(time.monotonic() - killed)


DESK_LINE = re.compile(r"\] INFO ers\.incidents: incident\.\w+ \S+ at")


def desk_holder(workers: list[WorkerProcess]) -> WorkerProcess | None:
    """The worker whose desk wrote the latest incident event since its start."""
    stamped = []
    for w in workers:
        lines = [line for line in w.log_since_start().splitlines() if DESK_LINE.search(line)]
        if lines:
            stamped.append((lines[-1][1:24], w))  # "[2026-12-06 18:41:45,234] ..."
    return max(stamped, key=lambda pair: pair[0])[1] if stamped else None


def test_sigkills_of_one_worker_lose_and_double_nothing(broker: str, stream: list[Reading], roster: Path,
                                                       reference: Run, figures: list[Figures],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    kills = int(scaled(3, 10))
    rng = random.Random(SEED + 1)
    moments = sorted(rng.sample(range(COUNT // 10, COUNT * 9 // 10), kills))
    with new_sms() as sms:
        worker = WorkerProcess(broker, tmp_path_factory.mktemp("killed"), sms, roster=roster).start()
        run = Run()
        try:
            at = {n: threading.Event() for n in moments}
            feeder = threading.Thread(target=feed, args=(broker, worker.topic("readings"), stream, PACE, at))
            feeder.start()
            for n in moments:
                assert at[n].wait(timeout=COUNT * PACE + 120)
                kill_and_restart(worker, run)
            feeder.join()
            settle(broker, [worker], sms, run)
        finally:
            worker.stop()
    results = compare(f"{kills} SIGKILLs, one worker", reference, run, COUNT)
    figures.extend(results)
    assert_exact(results, reference)


def test_sigkills_among_three_workers_lose_and_double_nothing_and_the_desk_and_webhooks_go_on(
        broker: str, stream: list[Reading], roster: Path, reference: Run, figures: list[Figures],
        tmp_path_factory: pytest.TempPathFactory) -> None:
    kills = int(scaled(4, 10))
    rng = random.Random(SEED + 2)
    moments = sorted(rng.sample(range(COUNT // 10, COUNT * 9 // 10), kills))
    shared = tmp_path_factory.mktemp("shared")
    officer = on_duty_phone("duty_officer")
    with new_sms() as sms:
        first = WorkerProcess(broker, tmp_path_factory.mktemp("w0"), sms, roster=roster,
                              env={"ERS_DATABASE_URL": f"sqlite:///{shared / 'ers.db'}"})
        workers = [first] + [WorkerProcess(broker, tmp_path_factory.mktemp(f"w{i}"), sms, prefix=first.prefix,
                                           roster=roster, env={"ERS_DATABASE_URL": f"sqlite:///{shared / 'ers.db'}",
                                                               "ERS_APP_ID": first.env["ERS_APP_ID"]})
                             for i in (1, 2)]
        run, answered, rebalanced = Run(), 0, 0
        try:
            for w in workers:
                w.start()
            at = {n: threading.Event() for n in moments}
            feeder = threading.Thread(target=feed, args=(broker, first.topic("readings"), stream, PACE, at))
            feeder.start()
            for k, n in enumerate(moments):
                assert at[n].wait(timeout=COUNT * PACE + 120)
                if k % 2 == 0:
                    # Restarted at once, the static member takes its own partitions back: no rebalance.
                    kill_and_restart(rng.choice(workers), run)
                else:
                    # Down past the session timeout: the group rebalances without it, and again when it is back.
                    # The desk's holder is the victim, so the desk moves to another worker and back.
                    holder = desk_holder(workers) or rng.choice(workers)
                    kill_and_restart(holder, run, down=SESSION_SECONDS + 2)
                    rebalanced += 1
                # Webhooks: any live worker answers a status query from the read model.
                status, body = sms.post_inbound(rng.choice(workers).public_url + "/twilio/sms", from_=officer,
                                                to=SANDBOX_NUMBER, body="状态")
                assert status == 200 and "<Message>" in body and ("未解除" in body or "open" in body.lower()), body
                answered += 1
            feeder.join()
            settle(broker, workers, sms, run)
            desks = [w for w in workers if DESK_LINE.search(w.log_path.read_text(encoding="utf-8", errors="replace"))]
            run.notes.append(f"{rebalanced} kills held down past the session timeout (rebalances, the desk's holder "
                             f"killed); {answered} status queries answered after the restarts; {len(desks)} of 3 "
                             f"workers ran the desk at some point")
            assert len(desks) >= 2, "the desk moved to another worker when its holder was down"
        finally:
            for w in workers:
                w.stop()
    results = compare(f"{kills} SIGKILLs among 3 workers", reference, run, COUNT)
    figures.extend(results)
    assert_exact(results, reference)


# --- under load (issue 14): killed while it works through a backlog, batches and pages in flight -----------------

LOAD_COUNT = int(scaled(6000, 20000))


@pytest.fixture(scope="module")
def backlog() -> list[Reading]:
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    return readings(LOAD_COUNT, SEED + 10, start, dt.timedelta(seconds=300 / LOAD_COUNT))


@pytest.fixture(scope="module")
def backlog_reference(broker: str, backlog: list[Reading], roster: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Run:
    return reference_run(broker, backlog, roster, tmp_path_factory.mktemp("backlog-reference"))


def test_sigkills_while_the_worker_works_through_a_backlog_lose_and_double_nothing(
        broker: str, backlog: list[Reading], roster: Path, backlog_reference: Run, figures: list[Figures],
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The whole backlog is written at once, and the worker is killed at random moments while it has readings left:
    in the middle of batches of up to 500 readings, of the desk's batches, of pages being sent. The detections are
    compared too: before the rules stage stored the offsets its states reflect, a restart read again thousands of
    readings its states already held, took them for late readings, and fired rules again (in 5 of 6 runs)."""
    kills = int(scaled(3, 8))
    rng = random.Random(SEED + 3)
    with new_sms() as sms:
        worker = WorkerProcess(broker, tmp_path_factory.mktemp("backlog-killed"), sms, roster=roster).start()
        names = TopicNames(worker.prefix, 4)
        progress = GroupProgress(broker, worker.env["ERS_APP_ID"], [names.of(READINGS)])
        run, busy_kills = Run(), 0
        try:
            feed(broker, worker.topic("readings"), backlog, 0, {})
            for _ in range(kills):
                time.sleep(rng.uniform(0.1, 1.0))
                if progress.behind() == 0:
                    break
                kill_and_restart(worker, run)
                busy_kills += 1
            settle(broker, [worker], sms, run)
            run.detections = detections(broker, worker)
        finally:
            progress.close()
            worker.stop()
    run.notes.append(f"{busy_kills} of {kills} kills landed while readings were left to handle")
    results = compare(f"{busy_kills} SIGKILLs during a {LOAD_COUNT:,}-reading backlog", backlog_reference, run,
                      LOAD_COUNT)
    found = accounting.count(list(backlog_reference.detections), list(run.detections))
    results.append(Figures(f"{busy_kills} SIGKILLs during a {LOAD_COUNT:,}-reading backlog", "detections", LOAD_COUNT,
                           found.expected, found.observed, found.lost, found.doubled))
    figures.extend(results)
    assert busy_kills >= 2, "the backlog lasts long enough for the worker to be killed while busy"
    assert_exact(results, backlog_reference)
