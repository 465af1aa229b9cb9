"""`ers drill run`: replay a drill log through a worker of its own, on a virtual clock, and report.

Isolation: the drill's worker has its own topic prefix (`drill.<id>.`), consumer group, SQLite database (the
ledger starts as a copy of production's, which is only read) and, unless `--live-roster`, its own local Twilio
sandbox (and, with ERS_SMS_PROVIDER=aliyun, its own Aliyun sandbox: drill SMS go out as the registered templates,
as production's would); the paging domain sends drill incidents to the roster's drill phones with 【演练】.

Determinism: the worker runs with `clock = record` (streams.clocks): agents take the time from each record's
Kafka timestamp, which the runner sets on the log's time axis. After every step the runner waits until the
worker has committed everything on its topics and the sandbox has made its status callbacks, so each step
meets the state the previous ones left, whatever the speed.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from contingency import Plan
from contingency.drill_log import DrillLog
from contingency.drill_report import DrillReport, build_report
from contingency.drill_steps import Step, drill_steps, log_stations, step_events
from contingency.hj212 import station_links
from contingency.loader import load_standards
from contingency.problems import PlanError
from contingency.roster import Roster
from contingency.sms_templates import load_templates
from handlers.database import make_engine, migrate
from handlers.drill_files import DrillWebhook, write_drill_webhook
from handlers.drill_outputs import DrillOutputs
from handlers.hj212.packet import PacketError
from handlers.hj212.replay import PacketReplay
from handlers.inventory_store import InventoryStore, copy_ledger
from handlers.kafka_admin import broker_reachable, topics_with_prefix
from handlers.kafka_progress import GroupProgress
from deploy.local.kafka import free_port
from deploy.local.aliyun_api import LocalAliyunSms, fake_access_key
from deploy.local.twilio_api import SANDBOX_FROM, LocalTwilioApi, fake_account_sid, fake_auth_token
from handlers.aliyun_push import REPORT_PATH, SMS_UP_PATH, VOICE_REPORT_PATH
from deploy.local.worker_process import WorkerProcess
from schemas import Notification, StationPacket, StationReport, encode
from streams.config import Settings
from schemas.topics import HJ212_RAW, TopicNames

QUIET_TIMEOUT = 120.0  # seconds one step may take before the run is declared stuck
WORKER_STOP_SECONDS = 15  # then SIGKILL


class DrillError(RuntimeError):
    pass


@dataclass(frozen=True)
class DrillOptions:
    speed: float | None  # None: as fast as the pipeline goes
    tick: dt.timedelta
    live_roster: bool = False

    @property
    def speed_label(self) -> str:
        return "max" if self.speed is None else f"{self.speed:g}x"


@dataclass(frozen=True)
class DrillResult:
    report: DrillReport
    workdir: Path


def _database_exists(url: str) -> bool:
    """False for an SQLite file that is not there (reading it would create it); other databases are assumed to be."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return parsed.get_backend_name() != "sqlite"
    return Path(parsed.database).exists()


def drill_topics(drill_id: str, partitions: int) -> TopicNames:
    """A drill's own topics: `drill.<id>.` and the registry's suffixes, keeping any record time."""
    return TopicNames(prefix=f"drill.{drill_id}.", partitions=partitions, any_time=True)


def new_drill_id(log_name: str, now: dt.datetime) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(log_name).stem).strip("-")[:40] or "drill"
    return f"{stem}-{now:%Y%m%d-%H%M%S}"


# (step just done, number of steps done, notifications that step produced)
Progress = Callable[[Step, int, list[Notification]], None]


def read_packets(log: DrillLog, plan: Plan) -> dict[int, StationReport]:
    """The reading each hj212-raw line makes through the gateway's parser, by line; DrillError naming every line
    that would not parse (before anything is started)."""
    factors = load_standards().hj212
    replay = PacketReplay(station_links(plan, factors), factors)
    readings: dict[int, StationReport] = {}
    problems: list[str] = []
    for entry in log.entries:
        if entry.topic != HJ212_RAW.suffix or not isinstance(entry.event, StationPacket):
            continue
        try:
            reading = replay.read(entry.event)
        except PacketError as exc:
            problems.append(f"{log.name}:{entry.line}: hj212-raw packet from MN {entry.event.mn}: {exc}")
            continue
        if reading is not None:
            readings[entry.line] = reading
    if problems:
        raise DrillError("\n".join(problems))
    return readings


@contextlib.contextmanager
def _ctrl_c() -> Iterator[threading.Event]:
    """Ctrl-C as a flag the run checks between steps, rather than a KeyboardInterrupt: raised in the middle of the
    Kafka client's calls on this thread, the interrupt could be swallowed there (kafka-python's coordinator catches
    BaseException around its requests) and the drill then ran to its end. Outside the main thread: no flag."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.set())
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


class DrillRunner:
    """One run of one log. `run()` returns the result; KeyboardInterrupt ends it early with a partial report."""

    def __init__(self, settings: Settings, plan: Plan, roster: Roster, log: DrillLog, digest: str, drill_id: str,
                 options: DrillOptions) -> None:
        if not log.entries:
            raise DrillError(f"{log.name}: the drill log has no events")
        self.settings, self.plan, self.roster, self.log = settings, plan, roster, log
        self.digest, self.drill_id, self.options = digest, drill_id, options
        self.bootstrap = settings.client_bootstrap
        self.topics = drill_topics(drill_id, settings.partitions)
        self.workdir = (settings.data_dir / "drills" / drill_id).resolve()
        self.steps = list(drill_steps(log, options.tick))
        self.packet_readings = read_packets(log, plan)
        self.stations = log_stations(log, self.packet_readings)
        self._sandbox: LocalTwilioApi | None = None
        self._aliyun: LocalAliyunSms | None = None   # ERS_SMS_PROVIDER=aliyun: the drill's own Aliyun sandbox
        self._worker: WorkerProcess | None = None
        self.ledger_copied = 0
        self.replay_seconds = 0.0  # the steps alone, without starting and stopping the worker

    # --- setup ----------------------------------------------------------------------------------------------

    def _drill_database(self) -> str:
        url = f"sqlite:///{self.workdir / 'ers.db'}"
        migrate(url)
        drill_ledger = InventoryStore(make_engine(url))
        self.ledger_copied = 0
        if _database_exists(self.settings.database_url):
            try:
                self.ledger_copied = copy_ledger(InventoryStore(make_engine(self.settings.database_url)), drill_ledger,
                                                 self.plan, dt.datetime.now(dt.timezone.utc))
            except SQLAlchemyError as exc:  # e.g. a production database never migrated: start empty
                raise DrillError(f"cannot read the production ledger at {self.settings.database_url}: {exc}") from exc
        else:
            drill_ledger.sync_catalogue(self.plan)
        return url

    def _sms_env(self, public_url: str) -> dict[str, str]:
        if self.options.live_roster:
            s = self.settings
            if not s.sms_configured:
                raise DrillError("--live-roster needs a Twilio account: set ERS_TWILIO_ACCOUNT_SID, "
                                 "ERS_TWILIO_AUTH_TOKEN and ERS_TWILIO_FROM")
            env = {"ERS_TWILIO_ACCOUNT_SID": s.twilio_account_sid or "", "ERS_TWILIO_AUTH_TOKEN": s.twilio_auth_token
                   or "", "ERS_TWILIO_FROM": s.twilio_from or "", "ERS_DRILL_LIVE_ROSTER": "true"}
            if s.twilio_api_base:
                env["ERS_TWILIO_API_BASE"] = s.twilio_api_base
            return env
        self._sandbox = LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(),
                                       callback_delay=0.0).start()
        env = {"ERS_TWILIO_ACCOUNT_SID": self._sandbox.account_sid, "ERS_TWILIO_AUTH_TOKEN": self._sandbox.auth_token,
               "ERS_TWILIO_FROM": SANDBOX_FROM, "ERS_TWILIO_API_BASE": self._sandbox.url,
               "ERS_DRILL_LIVE_ROSTER": "false"}
        if self.settings.sms_provider == "aliyun":  # drill SMS as the deployment sends them: registered templates
            env.update(self._aliyun_sandbox_env(public_url))
        return env

    def _aliyun_sandbox_env(self, public_url: str) -> dict[str, str]:
        try:
            templates = load_templates(self.settings.templates_path)
        except PlanError as exc:
            raise DrillError(f"SMS templates ({self.settings.templates_path}) cannot be used:\n{exc}") from exc
        key, secret = fake_access_key()
        token = secrets.token_urlsafe(24)
        voice = templates.voice
        self._aliyun = LocalAliyunSms(
            access_key_id=key, access_key_secret=secret, sign_names={templates.sign_name},
            templates={t.code: t.text for t in templates.templates.values()}, report_delay=0.0,
            report_url=f"{public_url}{REPORT_PATH}/{token}", up_url=f"{public_url}{SMS_UP_PATH}/{token}",
            voice_templates={t.code: t.text for t in voice.templates.values()} if voice else None,
            show_numbers={voice.show_number} if voice else None,
            voice_url=f"{public_url}{VOICE_REPORT_PATH}/{token}").start()
        return {"ERS_SMS_PROVIDER": "aliyun", "ERS_ALIYUN_ACCESS_KEY_ID": key, "ERS_ALIYUN_ACCESS_KEY_SECRET": secret,
                "ERS_ALIYUN_ENDPOINT": self._aliyun.endpoint, "ERS_ALIYUN_PUSH_TOKEN": token,
                "ERS_SMS_TEMPLATES": str(self.settings.templates_path.resolve())}

    def _start_worker(self, database_url: str) -> WorkerProcess:
        web_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ERS_")}
        env.update({
            "ERS_BROKER": self.bootstrap,
            "ERS_TOPIC_PREFIX": self.topics.prefix,
            "ERS_APP_ID": f"ers-drill-{self.drill_id}",
            "ERS_PARTITIONS": str(self.settings.partitions),
            "ERS_CLOCK": "record",
            "ERS_PLAN": str(self.settings.plan.resolve()),
            "ERS_ROSTER": str(self.settings.roster.resolve()),
            "ERS_ROADS": str(self.settings.roads.resolve()),
            "ERS_DATA_DIR": str(self.workdir / "var"),
            "ERS_DATABASE_URL": database_url,
            "ERS_WEB_PORT": str(web_port),
            "ERS_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "ERS_LANGUAGE": self.settings.language,
            "ERS_LOG_LEVEL": self.settings.log_level,
            **self._sms_env(f"http://127.0.0.1:{web_port}"),
        })
        self._worker = WorkerProcess(env, self.workdir, own_session=True)
        self._worker.start()
        if self._sandbox is not None:  # lets `ers sms reply --drill ID` answer drill SMS by hand
            write_drill_webhook(self.workdir, DrillWebhook(url=env["ERS_PUBLIC_URL"],
                                                           account_sid=self._sandbox.account_sid,
                                                           auth_token=self._sandbox.auth_token, to=SANDBOX_FROM,
                                                           bootstrap=self.bootstrap))
        return self._worker

    # --- the run --------------------------------------------------------------------------------------------

    def preflight(self) -> None:
        """DrillError unless a broker answers and this drill id is new."""
        if not broker_reachable(self.bootstrap):
            raise DrillError(f"no Kafka broker at {self.bootstrap}: start the local one with `ers kafka start` "
                             "(or run `ers up`), or set ERS_BROKER")
        used = topics_with_prefix(self.bootstrap, self.topics.prefix)
        if used or self.workdir.exists():
            # a drill id names topics, a consumer group and a database: reusing one would mix two runs
            raise DrillError(f"drill id {self.drill_id!r} was used before ({used[0] if used else self.workdir}); "
                             "give another --drill-id")

    def run(self, progress: Progress = lambda step, done, notes: None) -> DrillResult:
        started = dt.datetime.now(dt.timezone.utc)
        self.preflight()
        self.workdir.mkdir(parents=True)
        skipped: list[tuple[int, str]] = []  # (line, reason)
        outputs: DrillOutputs | None = None
        partial = False
        producer = group = None
        try:
            worker = self._start_worker(self._drill_database())
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=0,
                                     client_id="ers-drill-runner")
            group = GroupProgress(self.bootstrap, f"ers-drill-{self.drill_id}", self.topics.consumed())
            outputs = DrillOutputs(self.bootstrap, self.topics)
            wall_zero, log_zero = time.monotonic(), self.log.entries[0].at
            with _ctrl_c() as interrupted:
                for done, step in enumerate(self.steps, 1):
                    if self.options.speed is not None:
                        due = wall_zero + (step.at - log_zero).total_seconds() / self.options.speed
                        interrupted.wait(max(0.0, due - time.monotonic()))
                    if interrupted.is_set():
                        break
                    try:
                        outgoing = step_events(step, self.drill_id, self.digest, self.stations, outputs.first_codes,
                                               self.packet_readings)
                    except KeyError as exc:
                        skipped.append((step.entry.line if step.entry else 0,
                                        f"no incident at {exc.args[0]} yet for @first:{exc.args[0]}"))
                        progress(step, done, [])
                        continue
                    for out in outgoing:
                        producer.send(self.topics.of(out.topic), key=out.key.encode("utf-8"),
                                      value=encode(out.event), timestamp_ms=round(out.at.timestamp() * 1000))
                    producer.flush(timeout=30)
                    self._wait_quiet(group, worker, QUIET_TIMEOUT, interrupted)
                    seen = len(outputs.notifications)
                    outputs.poll()
                    progress(step, done, outputs.notifications[seen:])
                if interrupted.is_set():
                    partial = True
                    try:  # what the steps sent so far settles, briefly
                        self._wait_quiet(group, worker, 5.0)
                    except DrillError:
                        pass
            outputs.poll()
            self.replay_seconds = time.monotonic() - wall_zero
        finally:
            if producer is not None:
                producer.close(timeout=10)
            if group is not None:
                group.close()
            (self.workdir / DrillWebhook.FILE).unlink(missing_ok=True)
            if self._worker is not None:
                # The drill's own worker, on its own topics: it loses nothing if killed, and an operator who
                # pressed Ctrl-C waits for no slow shutdown (once, on a loaded CI machine, over a minute).
                self._worker.kill(signal.SIGTERM, timeout=WORKER_STOP_SECONDS)
            for sandbox in (self._sandbox, self._aliyun):
                if sandbox is not None:
                    sandbox.stop()
        assert outputs is not None
        report = build_report(
            self.plan, self.drill_id, self.log.entries[0].at, None, outputs.incident_events,
            outputs.notifications, outputs.statuses, speed=self.options.speed_label, started_wall=started,
            finished_wall=dt.datetime.now(dt.timezone.utc), partial=partial, opened_at=outputs.opened_at,
            skipped=skipped)
        outputs.close()
        return DrillResult(report, self.workdir)

    def _settled(self) -> tuple[int | None, ...] | None:
        """What the sandboxes have settled; None while either has a message on its way."""
        counts = tuple(sandbox.settled() for sandbox in (self._sandbox, self._aliyun) if sandbox is not None)
        return None if None in counts else counts

    def _wait_quiet(self, group: GroupProgress, worker: WorkerProcess, timeout: float,
                    interrupted: threading.Event | None = None) -> None:
        """Until the worker has committed everything on its topics and the sandbox made every status callback,
        with no message created at the sandbox meanwhile (or until Ctrl-C)."""
        deadline = time.monotonic() + timeout
        while interrupted is None or not interrupted.is_set():
            before = self._settled()
            if before is not None and group.behind() == 0:
                if self._settled() == before:
                    return
            if time.monotonic() > deadline:
                worker.check_alive()
                raise DrillError(f"the drill worker did not go quiet within {timeout:g} s "
                                 f"(log: {worker.log_path})")
            time.sleep(0.003)
